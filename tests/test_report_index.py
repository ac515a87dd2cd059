"""The runs' index.html, unfinished runs, page titles and alt text, on hand-made run folders (no kernel)."""

from __future__ import annotations

import base64
import fcntl
import json
import re

import matplotlib
import matplotlib.pyplot as plt
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import ROOT
from funnelkit.report import _index, _runner, export_html, write_index

matplotlib.use("Agg")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def make_run(out, report, run_id, *, files=(), **manifest):
    """A run folder as the runner leaves it: ``run.json`` (unless ``manifest`` is None) and ``files``."""
    run_dir = out / report / run_id
    run_dir.mkdir(parents=True)
    for name in files:
        (run_dir / name).write_text("x")
    if manifest.get("status") != "absent":
        (run_dir / "run.json").write_text(json.dumps({"run_id": run_id, "report": report, **manifest}))
    return run_dir


def rows_of(page: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1])


def test_index_lists_every_run_newest_first_with_links_and_escaped_text(tmp_path):
    out = tmp_path / "reports"
    data = "/srv/exports/maven_crm"
    make_run(
        out, "funnel_review--sample", "20251101T080000Z-aaaaaa", files=["funnel_review.html", "funnel_review.ipynb"],
        status="succeeded", started_at="2025-11-01T08:00:00+00:00", seconds=12.34, html="funnel_review.html",
        executed_notebook="funnel_review.ipynb", title="Funnel review \u2014 sample \u2014 2025-11-01",
        data="/srv/data/sample", data_files=[{"path": "/srv/data/sample/leads.csv"},
                                             {"path": "/srv/data/sample/opportunities.csv"}],
        parameters_given={"data_path": "/srv/data/sample", "by": "owner", "period": "Q"},
        rows={"read": 6531}, as_of="2025-10-31 17:00:00+00:00",
    )  # fmt: skip
    make_run(
        out, "funnel_review--maven_crm", "20251102T080000Z-bbbbbb", files=["funnel_review.ipynb"],
        status="failed", started_at="2025-11-02T08:00:00+00:00", seconds=75, executed_notebook="funnel_review.ipynb",
        reason="funnel_review.ipynb: code cell 2 failed: ParameterError: by='<script>alert(1)</script>'",
        data=data, data_files=[{"path": f"{data}/sales_pipeline.csv"}], parameters_given={"label": "<b>x</b>"},
    )  # fmt: skip
    make_run(
        out, "funnel_review--maven_crm", "20251103T080000Z-cccccc", status="killed",
        started_at="2025-11-03T08:00:00+00:00", data=f"{data}/sales_pipeline.csv",
        data_files=[{"path": f"{data}/sales_pipeline.csv"}],
    )  # fmt: skip
    (out / "funnel_review--sample" / "latest.html").write_text("<html></html>")

    page = write_index(out).read_text()
    rows = rows_of(page)
    assert len(rows) == 3
    killed, failed, succeeded = rows  # newest first
    assert killed.startswith("<td>funnel_review--maven_crm</td><td>sales_pipeline.csv</td>")
    assert "fk-status-failed'>failed (killed)</span>" in killed
    assert "<a href='funnel_review--maven_crm/20251103T080000Z-cccccc/run.json'>run.json</a>" in killed
    assert "report</a>" not in killed and "notebook</a>" not in killed  # no links to files that are not there

    assert "maven_crm/<br><span class='fk-files'>sales_pipeline.csv</span>" in failed
    assert "by=&#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;" in failed and "<script>" not in page
    assert "<td>label=&lt;b&gt;x&lt;/b&gt;</td>" in failed
    assert "<td class='fk-num'>1 min 15 s</td>" in failed
    assert "<td>2025-11-02 08:00:00</td>" in failed

    assert succeeded.startswith(
        "<td>funnel_review--sample<br><span class='fk-files'>Funnel review \u2014 sample \u2014 2025-11-01</span></td>"
        "<td>sample/<br><span class='fk-files'>leads.csv, opportunities.csv</span>"
        "<br><span class='fk-files'>6,531 rows read; as of 2025-10-31</span></td>"
        "<td>by=owner, period=Q</td>"
    )
    assert "<td class='fk-num'>12.3 s</td>" in succeeded
    run_path = "funnel_review--sample/20251101T080000Z-aaaaaa"
    assert re.findall(r"<a href='([^']+)'>", succeeded) == [
        f"{run_path}/funnel_review.html", f"{run_path}/funnel_review.ipynb", f"{run_path}/run.json"
    ]  # fmt: skip
    assert (
        "<h2>Latest reports</h2><ul><li><a href='funnel_review--sample/latest.html'>funnel_review--sample</a>" in page
    )
    css = (ROOT / "funnelkit" / "templates" / "funnelkit_report" / "report.css").read_text()
    assert f"<style>{css}</style>" in page and "<body class='fk-index'><main class='jp-RenderedHTMLCommon'>" in page


def test_a_run_without_a_final_run_json_is_running_while_locked_and_interrupted_after(tmp_path):
    out = tmp_path / "reports"
    report = out / "sla_scorecard--sample"
    # SIGKILL: run.json says running, facts.json never folded in; a run from before run.json was written early
    killed = make_run(out, report.name, "20251101T080000Z-aaaaaa", files=["facts.json", "sla_scorecard.ipynb"],
                      status="running", started_at="2025-11-01T08:00:00+00:00")  # fmt: skip
    older = make_run(out, report.name, "20251001T080000Z-bbbbbb", files=["facts.json"], status="absent")
    (report / "not-a-run").mkdir()  # other folders are not runs

    with (report / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a run of the report is in progress
        rows = rows_of(write_index(out).read_text())
        assert ["fk-status-running'>running</span>" in row for row in rows] == [True, True]
    rows = rows_of(write_index(out).read_text())  # the lock is free: whoever held it is gone
    assert len(rows) == 2 and all("fk-status-failed'>failed (interrupted)</span>" in row for row in rows)
    assert killed.name in rows[0]
    assert "<td>2025-10-01 08:00:00</td>" in rows[1]  # no run.json: the start is read from the run id

    (killed / "facts.json").write_text(json.dumps({"as_of": "2025-11-01", "rows": {"read": 9}}))
    closed = _index.close_interrupted_runs(report, mode=0o644)
    assert closed == [older, killed]
    manifest = json.loads((killed / "run.json").read_text())
    assert (manifest["status"], manifest["exit_code"], manifest["rows"]) == ("interrupted", 1, {"read": 9})
    assert manifest["reason"] == _index.INTERRUPTED_REASON
    assert not (killed / "facts.json").exists() and not (older / "facts.json").exists()
    assert json.loads((older / "run.json").read_text())["run_id"] == older.name
    assert _index.close_interrupted_runs(report, mode=0o644) == []  # final now: left alone


def report_notebook():
    """An executed notebook: a title, two sections, charts with and without a recorded title."""
    png = new_output("display_data", data={"image/png": PNG})
    titled = new_output("display_data", data={"image/png": PNG}, metadata={"image/png": {"alt": "Win rate\nby <q>"}})
    jpeg = new_output("display_data", data={"image/jpeg": PNG})
    return new_notebook(
        cells=[
            new_markdown_cell("# Funnel *review*\n\nText."),
            new_code_cell("x = 1", outputs=[png]),
            new_markdown_cell("## Win rate\n\nMore text."),
            new_code_cell("plot()", outputs=[titled, png, jpeg]),
        ]
    )


def test_page_title_and_alt_text_on_every_image(tmp_path):
    path = tmp_path / "executed.ipynb"
    path.write_text(json.dumps(report_notebook()))
    page = export_html(path, title="Funnel review \u2014 sample \u2014 2025-11-29")
    assert "<title>Funnel review \u2014 sample \u2014 2025-11-29</title>" in page
    images = re.findall(r"<img\b[^>]*>", page)
    assert [re.search(r'\salt="([^"]*)"', tag).group(1) for tag in images] == [
        "Chart 1 of Funnel review", "Win rate by &lt;q&gt;", "Chart 2 of Win rate", "Chart 3 of Win rate"
    ]  # fmt: skip
    assert "<title>Funnel review</title>" in export_html(path)  # without a title: the first heading


def test_an_image_without_alt_text_gets_one():
    tag = '<img src="data:image/png;base64,AAAA">'
    assert _runner._final_guard(tag) == '<img alt="image" src="data:image/png;base64,AAAA">'
    assert _runner._final_guard('<img alt="Win rate" src="data:image/png;base64,AAAA">').count("alt=") == 1


def test_figure_title_is_the_suptitle_or_the_axes_titles():
    figure, (left, right) = plt.subplots(1, 2)
    assert _runner.figure_title(figure) == ""
    left.set_title("Lead \u2192 MQL")
    right.set_title("MQL \u2192 SQL")
    assert _runner.figure_title(figure) == "Lead \u2192 MQL; MQL \u2192 SQL"
    figure.suptitle("Conversion\nby quarter")
    assert _runner.figure_title(figure) == "Conversion by quarter"
    plt.close(figure)
