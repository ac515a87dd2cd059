"""The report runner on small fixture notebooks: success, every failure mode, parameters, locking."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import funnelkit as fk
from conftest import ROOT
from funnelkit.cli import main
from funnelkit.report import render_report

NOTEBOOKS = Path(__file__).resolve().parent / "data" / "notebooks"
pytestmark = pytest.mark.slow


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("id,status,add_time\n1,won,2025-01-01\n")
    return path


def run(notebook, data_file, out, **options):
    return render_report(NOTEBOOKS / f"{notebook}.ipynb", data=data_file, out=out, progress=False, **options)


def test_success_publishes_html_manifest_and_index(data_file, tmp_path):
    out = tmp_path / "reports"
    result = run("ok", data_file, out, parameters={"n": "5", "label": "hello", "flag": "yes", "ratio": "0.25"})
    html = result.html_path.read_text()
    assert "n=5 label=hello flag=True ratio=0.25 types=int,bool" in html
    assert "data_path" not in html  # code and the injected parameters are not shown
    assert (out / "ok--export" / "latest.html").read_text() == html
    day = result.manifest["started_at"][:10]
    assert f"<title>Fixture report \u2014 export \u2014 {day}</title>" in html  # the notebook's heading, the data
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["exit_code"] == 0
    files = (manifest["report"], manifest["html"], manifest["executed_notebook"])
    assert files == ("ok--export", "ok.html", "ok.ipynb")
    assert manifest["parameters"]["n"] == 5 and manifest["parameters"]["flag"] is True
    assert manifest["data_files"][0]["sha256"] == __import__("hashlib").sha256(data_file.read_bytes()).hexdigest()
    assert all(cell["status"] == "completed" for cell in manifest["cells"])
    assert result.run_dir.name in (out / "index.html").read_text()
    for marker in ('src="http', "src='http", 'href="http'):
        assert marker not in html  # nothing fetched from another host


def test_each_dataset_keeps_its_own_latest_report_and_the_index_lists_both(data_file, tmp_path):
    out = tmp_path / "reports"
    first = run("ok", data_file, out, parameters={"label": "<b>bold</b>", "n": "7"})
    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "leads.csv").write_text("id,status\n1,open\n")
    (folder / "deals.csv").write_text("id,stage\n9,won\n")
    second = run("ok", folder, out)
    named = run("ok", folder, out, name="weekly")
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/latest.html")) == [
        "ok--crm/latest.html", "ok--export/latest.html", "weekly/latest.html"
    ]  # fmt: skip
    assert (out / "ok--export" / "latest.html").read_text() == first.html_path.read_text()  # not replaced
    assert (out / "ok--crm" / "latest.html").read_text() == second.html_path.read_text()
    assert "<title>Fixture report \u2014 weekly \u2014 " in named.html_path.read_text()

    index = (out / "index.html").read_text()
    rows = re.findall(r"<tr>(.*?)</tr>", index.split("<tbody>")[1])
    assert len(rows) == 3
    assert [re.match(r"<td>([\w.-]+)", row).group(1) for row in rows] == ["weekly", "ok--crm", "ok--export"]
    newest, middle, oldest = rows
    assert "crm/<br><span class='fk-files'>deals.csv, leads.csv</span>" in middle  # the folder and its files
    assert "<td>export.csv" in oldest
    assert "label=&lt;b&gt;bold&lt;/b&gt;, n=7" in oldest and "<b>bold" not in index  # parameters, escaped
    assert "defaults" in middle
    assert "fk-status-succeeded'>succeeded</span>" in newest
    for result, row in ((named, newest), (second, middle), (first, oldest)):
        run_path = result.run_dir.relative_to(out).as_posix()
        links = re.findall(r"<a href='([^']+)'>(\w+(?:\.json)?)</a>", row)
        assert links == [(f"{run_path}/ok.html", "report"), (f"{run_path}/ok.ipynb", "notebook"),
                         (f"{run_path}/run.json", "run.json")]  # fmt: skip
        assert all((out / href).is_file() for href, _ in links)
    assert "<a href='ok--crm/latest.html'>ok--crm</a>" in index
    css = (ROOT / "funnelkit" / "templates" / "funnelkit_report" / "report.css").read_text()
    assert css in index and css in first.html_path.read_text()  # one stylesheet for reports and index


def test_unknown_parameter_is_an_error_before_anything_runs(data_file, tmp_path):
    with pytest.raises(fk.ParameterError, match=r"unknown report parameter\(s\) \['colour'\]"):
        run("ok", data_file, tmp_path / "r", parameters={"colour": "red"})
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("name", "value"), [("n", "abc"), ("n", "1.5"), ("flag", "maybe"), ("ratio", "nan")])
def test_wrong_type_is_an_error_before_anything_runs(data_file, tmp_path, name, value):
    with pytest.raises(fk.ParameterError, match=f"parameter {name} must be"):
        run("ok", data_file, tmp_path / "r", parameters={name: value})


def test_malicious_parameter_value_stays_inert(data_file, tmp_path):
    marker = Path("/tmp") / f"funnelkit-pwned-{uuid.uuid4().hex}"
    payload = f"\"; import os; os.system('touch {marker}') #"
    result = run("ok", data_file, tmp_path / "r", parameters={"label": payload})
    assert not marker.exists()
    assert "import os; os.system(" in result.html_path.read_text()  # shown as text, escaped


def test_failing_cell_keeps_the_last_good_report(data_file, tmp_path):
    out = tmp_path / "reports"
    good = run("ok", data_file, out)
    shutil.copy(NOTEBOOKS / "fails.ipynb", tmp_path / "ok.ipynb")  # same report name, now broken
    with pytest.raises(fk.ReportError) as err:
        render_report(tmp_path / "ok.ipynb", data=data_file, out=out, progress=False)
    message = str(err.value)
    assert message == "ok.ipynb: code cell 3 failed with ValueError"
    assert "jane@example.com" not in message  # raw values stay out of the message
    assert (out / "ok--export" / "latest.html").read_text() == good.html_path.read_text()
    failed = max((p for p in (out / "ok--export").iterdir() if p.is_dir()), key=lambda p: p.name)
    assert (failed / "ok.ipynb").exists() and not (failed / "ok.html").exists()
    manifest = json.loads((failed / "run.json").read_text())
    assert (manifest["status"], manifest["exit_code"], manifest["failed_cell"]) == ("failed", 1, 3)
    assert [(c["cell"], c["status"]) for c in manifest["cells"]] == [
        (1, "completed"), ("injected-parameters", "completed"), (2, "completed"), (3, "failed"), (4, "not run")
    ]  # fmt: skip
    assert (
        "fk-status-failed'>failed</span><br><span class='fk-files'>ok.ipynb: code cell 3 failed with ValueError"
        in (out / "index.html").read_text()
    )


def test_notebook_that_exits_early_is_not_published(data_file, tmp_path):
    with pytest.raises(fk.ReportError, match="did not complete"):
        run("exits", data_file, tmp_path / "r")
    assert not (tmp_path / "r" / "exits--export" / "latest.html").exists()


def cli(*args: str) -> subprocess.Popen:
    """``funnelkit`` in its own process, as cron runs it (stderr is what a cron mail would hold)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "funnelkit.cli", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_cell_timeout_prints_one_line_and_no_kernel_noise(data_file, tmp_path):
    out = tmp_path / "r"
    notebook = str(NOTEBOOKS / "slow.ipynb")
    process = cli("report", notebook, "--data", str(data_file), "--out", str(out), "--timeout", "3")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and stdout == ""
    assert stderr == "funnelkit report: slow.ipynb: code cell 2 ran longer than 3 s and was stopped\n"  # no ZMQ noise
    (manifest,) = (out / "slow--export").glob("*/run.json")
    manifest = json.loads(manifest.read_text())
    assert [(c["cell"], c["status"]) for c in manifest["cells"]] == [
        (1, "completed"), ("injected-parameters", "completed"), (2, "timed out"), (3, "not run")
    ]  # fmt: skip
    assert manifest["failed_cell"] == 2
    assert "Timeout waiting for execute reply" in (out / "slow--export" / manifest["run_id"] / "kernel.log").read_text()


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the kernel a runner started)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _slow_cell_running(executed: Path) -> bool:
    """The saved notebook is whole (papermill has finished writing it) and shows the sleeping cell running.

    Seeing "running" in a file papermill is still writing is not enough: a SIGTERM sent then
    interrupts the write, and the run cannot tell which cell it stopped in.
    """
    try:
        cells = json.loads(executed.read_text())["cells"]
    except (ValueError, KeyError):
        return False
    return any(
        "time.sleep(60)" in "".join(cell["source"]) and cell["metadata"].get("papermill", {}).get("status") == "running"
        for cell in cells
    )


def test_sigterm_records_the_run_as_killed_and_stops_the_kernel(data_file, tmp_path):
    out = tmp_path / "r"
    process = cli("report", str(NOTEBOOKS / "slow.ipynb"), "--data", str(data_file), "--out", str(out))
    executed = None
    for _ in range(600):  # until the slow cell runs (papermill saves the notebook as each cell starts)
        executed = next(iter((out / "slow--export").glob("*/slow.ipynb")), None) if out.exists() else None
        if executed is not None and _slow_cell_running(executed):
            break
        time.sleep(0.1)
    assert executed is not None and process.poll() is None
    kernels = children(process.pid)
    assert kernels  # the kernel runs as the runner's child
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert stderr == "funnelkit report: slow.ipynb: the run was stopped by SIGTERM during code cell 2\n"
    run_dir = executed.parent
    assert sorted(p.name for p in run_dir.iterdir()) == ["kernel.log", "run.json", "slow.ipynb"]  # no facts.json
    manifest = json.loads((run_dir / "run.json").read_text())
    assert (manifest["status"], manifest["exit_code"], manifest["failed_cell"]) == ("killed", 143, 2)
    assert [(c["cell"], c["status"]) for c in manifest["cells"]] == [
        (1, "completed"), ("injected-parameters", "completed"), (2, "killed"), (3, "not run")
    ]  # fmt: skip
    row = next(r for r in (out / "index.html").read_text().split("<tr>") if run_dir.name in r)
    assert "fk-status-failed'>failed (killed)</span>" in row
    assert not [pid for pid in kernels if alive(pid)]  # no kernel left behind


def test_dead_kernel(data_file, tmp_path):
    with pytest.raises(fk.ReportError, match="kernel died|failed"):
        run("dies", data_file, tmp_path / "r")
    assert not (tmp_path / "r" / "dies--export" / "latest.html").exists()


def test_missing_data_and_unwritable_output(data_file, tmp_path):
    with pytest.raises(fk.ReportError, match="does not exist"):
        run("ok", tmp_path / "nowhere.csv", tmp_path / "r")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(fk.ReportError, match="cannot write to the reports folder"):
        run("ok", data_file, blocker / "reports")


def test_a_second_run_of_the_same_report_fails_clearly_and_the_next_closes_an_interrupted_one(data_file, tmp_path):
    folder = tmp_path / "r" / "ok--export"
    folder.mkdir(parents=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(fk.ReportError, match="another run of the ok--export report is in progress"):
            run("ok", data_file, tmp_path / "r")
    # a run killed by SIGKILL: run.json still says running, and its facts were never folded in
    stale = folder / "20250101T000000Z-abcdef"
    stale.mkdir()
    (stale / "run.json").write_text(json.dumps({"run_id": stale.name, "status": "running", "report": "ok--export"}))
    (stale / "facts.json").write_text(json.dumps({"as_of": "2025-01-01", "rows": {"read": 3}}))
    result = run("ok", data_file, tmp_path / "r")  # free again afterwards
    assert result.html_path.exists()
    closed = json.loads((stale / "run.json").read_text())
    assert (closed["status"], closed["exit_code"], closed["rows"]) == ("interrupted", 1, {"read": 3})
    assert not (stale / "facts.json").exists()
    index = (tmp_path / "r" / "index.html").read_text()
    row = next(r for r in index.split("<tr>") if stale.name in r)
    assert "fk-status-failed'>failed (interrupted)</span>" in row


def test_cli_names_a_funnelkit_error_and_its_code_cell(data_file, tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["report", str(NOTEBOOKS / "fails_funnelkit.ipynb"), "--data", str(data_file), "--out", str(out)])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "funnelkit report: fails_funnelkit.ipynb: code cell 3 failed: ParameterError: by='ownr' is not a column; "
        "the leads have source, owner, segment\n"
    )
    (manifest,) = (out / "fails_funnelkit--export").glob("*/run.json")
    manifest = json.loads(manifest.read_text())
    assert manifest["failed_cell"] == 3
    assert next(c for c in manifest["cells"] if c["cell"] == 3)["status"] == "failed"
    assert main(["report", str(NOTEBOOKS / "ok.ipynb"), "--data", str(data_file), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(next((out / "ok--export").glob("*/ok.html")))


def test_relative_output_folder_titles_and_alt_text(data_file, tmp_path, monkeypatch):
    # `make report` passes --out reports: relative to the caller, while the kernel runs elsewhere
    monkeypatch.chdir(tmp_path)
    notebook = ROOT / "notebooks" / "funnel_review.ipynb"
    result = render_report(notebook, data=ROOT / "data" / "sample", out="reports", progress=False)
    assert result.html_path.is_absolute() and result.html_path.exists()
    assert (tmp_path / "reports" / "funnel_review--sample" / "latest.html").exists()
    assert result.manifest["rows"]["read"] == 6531  # the notebook reached the runner's facts file
    page = result.html_path.read_text()
    assert f"<title>Funnel review \u2014 sample \u2014 {result.manifest['started_at'][:10]}</title>" in page
    images = re.findall(r"<img\b[^>]*>", page)
    alts = [re.search(r'\salt="([^"]+)"', tag).group(1) for tag in images]  # every image has one
    assert len(alts) == len(images) == 6
    assert "Win rate by period of close" in alts  # the figure's own title, recorded by the kernel
    assert "Chart 1 of The funnel and where deals are lost" in alts  # a figure without a title: its section


@pytest.mark.parametrize("name", ["funnel_review", "sla_scorecard", "lead_plan"])
def test_papermill_reads_every_parameter_with_its_help(name):
    """papermill's parser skips (with a warning) a parameter line it cannot read, e.g. one
    whose comment holds an '='; every assignment in the parameters cell must come through."""
    import nbformat
    from papermill.translators import PythonTranslator

    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assigned = [line.split("=")[0].strip() for line in cell.source.splitlines() if line and not line.startswith("#")]
    parsed = PythonTranslator.inspect(cell)
    assert [p.name for p in parsed] == assigned
    assert all(p.help for p in parsed)
