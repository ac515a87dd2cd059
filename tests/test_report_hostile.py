"""Hostile text and hostile outputs through charts, tables and the HTML export.

Labels that break charts (``$``, 100 KB, control characters), any script in
charts, kernel noise kept out of the report, files named by outputs never
opened, runner hygiene (file modes, names, run ids, statuses, messages).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import os
import re
import shutil
import signal
import stat
import struct
import warnings
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_notebook, new_output

import funnelkit as fk
from funnelkit import plots, present, safety
from funnelkit.report import _runner, export_html, render_report

NOTEBOOKS = Path(__file__).resolve().parent / "data" / "notebooks"
#: what must never be in a report page: C0 controls but tab/LF/CR, DEL, C1 controls
CONTROL_IN_HTML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
IMG_SRC = re.compile(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", re.IGNORECASE)
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def png_size(data_uri: str) -> tuple[int, int]:
    raw = base64.b64decode(data_uri.split(",", 1)[1])
    return struct.unpack(">II", raw[16:24])


@pytest.fixture
def fresh_charts(monkeypatch):
    """Charts with matplotlib's settings restored afterwards and no notes from other tests."""
    monkeypatch.setattr(safety, "_DISPLAY_NOTES", {})
    monkeypatch.setattr(plots, "_MISSING_GLYPHS", set())
    with matplotlib.rc_context():
        yield
    plt.close("all")


def lead_value_table(labels) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame({"source": labels, "revenue_per_lead": [10.0 * (i + 1) for i in range(n)], "leads": [20] * n})


# ---------------------------------------------------------------- charts --


def test_dollar_signs_in_labels_never_reach_mathtext(fresh_charts):
    labels = ["Partner $_$", "Promo $$", r"$\frac{1}{0}$", "a$b$c$"]
    ax = plots.plot_lead_value(lead_value_table(labels))
    ax.figure.canvas.draw()  # "Partner $_$" as mathtext raises ValueError here
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert shown == [r"Partner \$_\$", r"Promo \$\$", r"\$\frac{1}{0}\$", r"a\$b\$c\$"]  # matplotlib draws \$ as $


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("$\\_^{}ab €\x00\n\r\x1b\x85İş")), max_size=80))
def test_any_label_text_draws(label):
    fig, ax = plt.subplots(figsize=(3, 2))
    try:
        ax.set_title(plots.chart_text(label))
        ax.plot([0, 1], [0, 1], label=plots.chart_text(label, legend=True))
        if plots.chart_text(label):
            ax.legend()
        fig.canvas.draw()
        assert not CONTROL_IN_HTML.search(ax.get_title()) and "\n" not in ax.get_title()
    finally:
        plt.close(fig)


def test_a_100_kb_label_keeps_the_chart_page_sized(fresh_charts):
    long = "Trade show " * 10_000  # 110 KB: today a 1,000,000-pixel-wide image
    ax = plots.plot_lead_value(lead_value_table([long, "Web"]))
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")  # as Jupyter's inline backend does
    width, height = struct.unpack(">II", buffer.getvalue()[16:24])
    assert width < 2000 and height < 1000
    assert sorted(len(t.get_text()) for t in ax.get_yticklabels()) == [3, 60]


def test_chinese_turkish_and_cyrillic_labels_draw_without_missing_glyphs(fresh_charts):
    if not plots.installed_cjk_fonts():
        if os.environ.get("CI"):
            pytest.fail("no CJK font in CI; `make browser` installs Debian's fonts-noto-cjk")
        pytest.skip("no CJK font installed (make browser installs fonts-noto-cjk, as root)")
    labels = ["展会", "付费搜索", "İstanbul Şubesi", "Продажи"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax = plots.plot_lead_value(lead_value_table(labels))
        ax.figure.savefig(io.BytesIO(), format="png")
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(labels)
    assert plt.rcParams["font.family"] == ["DejaVu Sans", *plots.installed_cjk_fonts()]
    assert safety.display_notes() == []


def test_characters_no_installed_font_draws_are_noted_once(fresh_charts, monkeypatch):
    monkeypatch.setattr(plots, "installed_cjk_fonts", lambda: ())  # a machine without CJK fonts
    plots.plot_lead_value(lead_value_table(["展会", "Web"]))
    plots.plot_lead_value(lead_value_table(["展会", "付费"]))
    notes = safety.display_notes()
    assert len(notes) == 1
    assert "'会'" in notes[0] and "'付'" in notes[0] and "'展'" in notes[0] and "'W'" not in notes[0]
    data = SimpleNamespace(
        summary=SimpleNamespace(
            table=pd.DataFrame(
                {
                    "file": ["/srv/x/leads.csv"],
                    "adapter": ["hubspot"],
                    "table": ["leads"],
                    "rows_read": [2],
                    "rows_kept": [2],
                    "rows_quarantined": [0],
                    "footer_lines": [0],
                }
            )
        ),  # fmt: skip
        notes=["2 leads have no source"],
        quarantine=pd.DataFrame({"reason": pd.Series([], dtype="str")}),
    )
    page = present.load_summary_html(data)
    assert page.count("no installed font can draw") == 1 and "2 leads have no source" in page


# ---------------------------------------------------------------- tables --


def test_tables_shorten_labels_and_keep_the_full_value_in_an_escaped_title():
    long = 'Trade show <b>"A&B"</b> ' * 200  # 4,800 characters
    huge = "x" * 200_000
    page = present.table_html(pd.DataFrame({"source": [long, "Nul\x00 & co", huge], "leads": [1200, 3, 4]}))
    spans = re.findall(r'<span title="([^"]*)">([^<]*)</span>', page)
    assert len(spans) == 2
    (title, text), (huge_title, huge_text) = spans
    assert html.unescape(title) == long.strip() and html.unescape(text) == safety.display_label(long)
    assert len(html.unescape(text)) == 59 and len(huge_text) == 60  # cut at 59, trailing space dropped, then …
    assert len(huge_title) == present.TITLE_WIDTH  # bounded even for a 200 KB value
    assert "<b>" not in page and "<td>Nul &amp; co</td>" in page and "<td>1,200</td>" in page
    assert not CONTROL_IN_HTML.search(page)


HOSTILE_TEXT = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from(list("<>&\"'$=\\ aZ展\x00\x07\x1b[\n\r\t\x85\u202e")), max_size=200),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(HOSTILE_TEXT, min_size=1, max_size=4))
def test_any_label_text_stays_short_and_inert_in_tables(labels):
    page = present.table_html(pd.DataFrame({"source": labels, "leads": range(len(labels))}))
    assert not CONTROL_IN_HTML.search(page)
    cells = re.findall(r"<td>(.*?)</td>", page, flags=re.DOTALL)[::2]  # the source column
    assert len(cells) == len(labels)
    for cell, label in zip(cells, labels, strict=True):
        # pandas writes runs of spaces as no-break spaces
        visible = html.unescape(re.sub(r"<span title=\"[^\"]*\">|</span>", "", cell)).replace("\xa0", " ")
        assert "<" not in cell.replace("<span title=", "").replace("</span>", "")  # no markup from the data
        assert visible == safety.display_label(label).replace("\xa0", " ") and len(visible) <= 60


# ---------------------------------------------------------------- export --


WARNING_LINE = "/srv/funnelkit/plots.py:413: UserWarning: Tight layout not applied\n"


def executed_notebook(path: Path, image_path: str) -> Path:
    """An executed notebook as papermill leaves it, with every kind of hostile output."""
    ran = {"papermill": {"start_time": "2025-01-01T00:00:00", "duration": 0.1, "status": "completed"}}
    noisy = new_code_cell("...", metadata=ran, execution_count=1)
    noisy.outputs = [
        new_output("stream", name="stderr", text=WARNING_LINE),
        new_output("error", ename="ValueError", evalue="jane@example.com",
                   traceback=["\x1b[31mTraceback (most recent call last)\x1b[0m", '  File "/srv/funnelkit/x.py"']),
    ]  # fmt: skip
    images = new_code_cell("...", metadata=ran, execution_count=2)
    images.outputs = [
        new_output("display_data", data={"text/markdown": f'<img src="{image_path}"> and ![named]({image_path})'}),
        new_output("display_data", data={"text/html": '<img src="/etc/passwd"><p>kept</p>'}),
        new_output("display_data", data={"image/png": PNG_1PX}),
        new_output("display_data", data={"image/png": PNG_1PX}, metadata={"filenames": {"image/png": "/etc/passwd"}}),
    ]
    printed = new_code_cell("...", metadata=ran, execution_count=3)
    printed.outputs = [new_output("stream", name="stdout", text="done\x00\x07 \x1b[31mred\x85 end\n")]
    nbformat.write(new_notebook(cells=[noisy, images, printed]), path)
    return path


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_export_never_opens_a_path_named_by_an_output(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)  # nbconvert resolved image paths against the working folder
    (os.mkfifo if kind == "fifo" else os.mkdir)(tmp_path / "target")
    notebook = executed_notebook(tmp_path / "run.ipynb", "target")
    with deadline(30):
        page = export_html(notebook)
    sources = IMG_SRC.findall(page)
    assert sources == [f"data:image/png;base64,{PNG_1PX}"] * 2  # the notebook's own images, and only those
    assert len(re.findall(r"<img\b", page)) == 2
    assert "/etc/passwd" not in page and "<p>kept</p>" in page


def test_export_shows_no_kernel_noise_and_no_control_characters(tmp_path):
    page = export_html(executed_notebook(tmp_path / "run.ipynb", "x.png"))
    for text in (
        "Warning",
        "Traceback",
        "/srv/funnelkit",
        "jane@example.com",
        'data-mime-type="application/vnd.jupyter.stderr"',
    ):
        assert text not in page
    assert not CONTROL_IN_HTML.search(page)
    assert re.search(r"done\s*<span class=\"ansi-red-fg\">red end", page)  # stdout is the notebook's own output
    cells = _runner._cell_log(tmp_path / "run.ipynb")
    assert cells[0]["stderr"] == WARNING_LINE
    assert (
        cells[0]["error"]
        == 'ValueError: jane@example.com\nTraceback (most recent call last)\n  File "/srv/funnelkit/x.py"'
    )
    assert [c["status"] for c in cells] == ["failed", "completed", "completed"]
    assert "stderr" not in cells[1] and "error" not in cells[2]


# ---------------------------------------------------------------- runner --


def test_a_run_id_already_taken_is_drawn_again(tmp_path, monkeypatch):
    ids = iter(["20250101T000000Z-aaaaaa", "20250101T000000Z-aaaaaa", "20250101T000000Z-bbbbbb"])
    monkeypatch.setattr(_runner, "_run_id", lambda: next(ids))
    (tmp_path / "20250101T000000Z-aaaaaa").mkdir()
    assert _runner._new_run_dir(tmp_path).name == "20250101T000000Z-bbbbbb"
    monkeypatch.setattr(_runner, "_run_id", lambda: "20250101T000000Z-aaaaaa")
    with pytest.raises(fk.ReportError, match="could not find a free run id"):
        _runner._new_run_dir(tmp_path)


@pytest.mark.parametrize("name", ["...ipynb", "..ipynb"])
def test_a_notebook_name_cannot_point_outside_the_reports_folder(tmp_path, name):
    notebook = tmp_path / "notebooks" / name
    notebook.parent.mkdir()
    shutil.copy(NOTEBOOKS / "ok.ipynb", notebook)
    data = tmp_path / "export.csv"
    data.write_text("id\n1\n")
    with pytest.raises(fk.ReportError, match="cannot name a report folder"):
        render_report(notebook, data=data, out=tmp_path / "deep" / "reports", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv", "notebooks"]


@pytest.mark.slow
def test_hostile_report_shows_only_what_the_notebook_displays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    data = tmp_path / "export.csv"
    data.write_text("id\n1\n")
    out = tmp_path / "reports"
    previous = os.umask(0o022)
    try:
        with deadline(300):
            result = render_report(NOTEBOOKS / "hostile.ipynb", data=data, out=out, parameters={"image_path": "pipe"},
                                   progress=False)  # fmt: skip
    finally:
        os.umask(previous)
    page = result.html_path.read_text(encoding="utf-8")
    for text in ("Warning", "Traceback", "/srv/funnelkit", "/etc/passwd", "kernel noise"):
        assert text not in page
    assert not CONTROL_IN_HTML.search(page)
    sources = IMG_SRC.findall(page)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")  # the chart, and nothing else
    width, height = png_size(sources[0])
    assert width < 2000 and height < 1000  # the 110 KB label is shortened in the chart
    assert "Partner $_$" in page and "展会" in page  # the table; the chart drew (no mathtext error)
    assert re.search(r'<span title="(Trade show ){100}', page)
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert {c["status"] for c in manifest["cells"]} == {"completed"}
    noisy = next(c for c in manifest["cells"] if "stderr" in c)
    assert "Tight layout not applied at /srv/funnelkit/plots.py:413" in noisy["stderr"]
    assert "kernel noise from /srv/funnelkit/app" in noisy["stderr"]
    files = [result.html_path, result.notebook_path, result.run_dir / "run.json",
             out / "hostile--export" / "latest.html", out / "index.html"]  # fmt: skip
    assert [oct(stat.S_IMODE(p.stat().st_mode)) for p in files] == [oct(0o644)] * 5  # one rule: the umask


@pytest.mark.slow
def test_a_funnelkit_error_is_named_and_a_private_run_is_yours_only(tmp_path):
    data = tmp_path / "export.csv"
    data.write_text("id\n1\n")
    out = tmp_path / "reports"
    with pytest.raises(fk.ReportError) as err:
        render_report(NOTEBOOKS / "fails_funnelkit.ipynb", data=data, out=out, private=True, progress=False)
    assert str(err.value) == (
        "fails_funnelkit.ipynb: code cell 3 failed: ParameterError: by='ownr' is not a column; "
        "the leads have source, owner, segment"
    )
    (run_dir,) = [p for p in (out / "fails_funnelkit--export").iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["reason"] == str(err.value)
    assert [(c["cell"], c["status"]) for c in manifest["cells"]] == [
        (1, "completed"), ("injected-parameters", "completed"), (2, "completed"), (3, "failed"), (4, "not run")
    ]  # fmt: skip
    assert manifest["failed_cell"] == 3  # the number the message gives
    assert manifest["cells"][3]["error"].startswith("ParameterError: by='ownr' is not a column")
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (run_dir / "fails_funnelkit.ipynb", run_dir / "run.json",
                                                       out / "index.html")]  # fmt: skip
    assert modes == [0o600] * 3 and stat.S_IMODE(run_dir.stat().st_mode) == 0o700
