"""The report runner on small fixture notebooks: success, every failure mode, parameters, locking."""

from __future__ import annotations

import fcntl
import json
import shutil
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


def run(name, data_file, out, **options):
    return render_report(NOTEBOOKS / f"{name}.ipynb", data=data_file, out=out, progress=False, **options)


def test_success_publishes_html_manifest_and_index(data_file, tmp_path):
    out = tmp_path / "reports"
    result = run("ok", data_file, out, parameters={"n": "5", "label": "hello", "flag": "yes", "ratio": "0.25"})
    html = result.html_path.read_text()
    assert "n=5 label=hello flag=True ratio=0.25 types=int,bool" in html
    assert "data_path" not in html  # code and the injected parameters are not shown
    assert (out / "ok" / "latest.html").read_text() == html
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["exit_code"] == 0
    assert manifest["parameters"]["n"] == 5 and manifest["parameters"]["flag"] is True
    assert manifest["data_files"][0]["sha256"] == __import__("hashlib").sha256(data_file.read_bytes()).hexdigest()
    assert all(cell["status"] == "completed" for cell in manifest["cells"])
    assert result.run_dir.name in (out / "index.html").read_text()
    for marker in ('src="http', "src='http", 'href="http'):
        assert marker not in html  # nothing fetched from another host


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
    assert "cell 2 failed with ValueError" in message
    assert "jane@example.com" not in message  # raw values stay out of the message
    assert (out / "ok" / "latest.html").read_text() == good.html_path.read_text()
    failed = max((p for p in (out / "ok").iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    assert (failed / "ok.ipynb").exists() and not (failed / "ok.html").exists()
    manifest = json.loads((failed / "run.json").read_text())
    assert (manifest["status"], manifest["exit_code"]) == ("failed", 1)
    assert "failed" in (out / "index.html").read_text()


def test_notebook_that_exits_early_is_not_published(data_file, tmp_path):
    with pytest.raises(fk.ReportError, match="did not complete"):
        run("exits", data_file, tmp_path / "r")
    assert not (tmp_path / "r" / "exits" / "latest.html").exists()


def test_cell_timeout(data_file, tmp_path):
    with pytest.raises(fk.ReportError, match=r"cell 1 ran longer than 3 s"):
        run("slow", data_file, tmp_path / "r", timeout=3)
    (manifest,) = (tmp_path / "r" / "slow").glob("*/run.json")
    cells = json.loads(manifest.read_text())["cells"]
    assert [(c["cell"], c["status"]) for c in cells] == [
        (0, "completed"), ("injected-parameters", "completed"), (1, "timed out"), (2, "not run")
    ]  # fmt: skip


def test_dead_kernel(data_file, tmp_path):
    with pytest.raises(fk.ReportError, match="kernel died|failed"):
        run("dies", data_file, tmp_path / "r")
    assert not (tmp_path / "r" / "dies" / "latest.html").exists()


def test_missing_data_and_unwritable_output(data_file, tmp_path):
    with pytest.raises(fk.ReportError, match="does not exist"):
        run("ok", tmp_path / "nowhere.csv", tmp_path / "r")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(fk.ReportError, match="cannot write to the reports folder"):
        run("ok", data_file, blocker / "reports")


def test_a_second_run_of_the_same_report_fails_clearly(data_file, tmp_path):
    folder = tmp_path / "r" / "ok"
    folder.mkdir(parents=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(fk.ReportError, match="another run of the ok report is in progress"):
            run("ok", data_file, tmp_path / "r")
    assert run("ok", data_file, tmp_path / "r").html_path.exists()  # free again afterwards


def test_cli_exit_codes(data_file, tmp_path, capsys):
    code = main(["report", str(NOTEBOOKS / "fails.ipynb"), "--data", str(data_file), "--out", str(tmp_path / "r")])
    assert code == 1
    err = capsys.readouterr().err
    assert "cell 2 failed with ValueError" in err and "Traceback" not in err
    assert main(["report", str(NOTEBOOKS / "ok.ipynb"), "--data", str(data_file), "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.strip().endswith("ok.html")


def test_relative_output_folder(data_file, tmp_path, monkeypatch):
    # `make report` passes --out reports: relative to the caller, while the kernel runs elsewhere
    monkeypatch.chdir(tmp_path)
    notebook = ROOT / "notebooks" / "funnel_review.ipynb"
    result = render_report(notebook, data=ROOT / "data" / "sample", out="reports", progress=False)
    assert result.html_path.is_absolute() and result.html_path.exists()
    assert (tmp_path / "reports" / "funnel_review" / "latest.html").exists()
    assert result.manifest["rows"]["read"] == 6531  # the notebook reached the runner's facts file


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
