"""Scratch files a killed process leaves in the temporary folder are swept by the next funnelkit process.

The engine keeps its funnel view in ``TMPDIR`` (900 MB at ten million leads)
and DuckDB spills there; a process killed by a report's timeout removes
neither. Only this machine's processes that no longer run lose theirs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import funnelkit as fk
from funnelkit import scratch
from funnelkit.engine.parquet import write_tables

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the sweep asks POSIX whether a process runs")

HOST = scratch._host()  # the machine's name, "-" and other signs as "_"


def _ended_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_only_what_ended_processes_of_this_machine_left(tmp_path):
    gone, here = _ended_pid(), os.getpid()
    left = {
        "folder": tmp_path / f"funnelkit-funnel-{HOST}-{gone}-abc",
        "file": tmp_path / f"funnelkit-text-{HOST}-{gone}-xyz.arrow",
        "spill": tmp_path / f"funnelkit-duckdb-{HOST}-{gone}-q1",
    }
    kept = {
        "ours": tmp_path / f"funnelkit-funnel-{HOST}-{here}-def",
        "another machine's": tmp_path / f"funnelkit-funnel-other_host-{gone}-ghi",
        "not funnelkit's": tmp_path / f"report-{HOST}-{gone}-jkl",
    }
    for path in [left["folder"], left["spill"], kept["ours"], kept["another machine's"], kept["not funnelkit's"]]:
        path.mkdir()
    (left["folder"] / "funnel.parquet").write_bytes(b"PAR1")
    left["file"].write_bytes(b"ARROW1")
    removed = scratch.sweep(tmp_path)
    assert sorted(removed) == sorted(path.name for path in left.values())
    assert not any(path.exists() for path in left.values())
    assert all(path.exists() for path in kept.values())


def test_scratch_names_carry_the_machine_and_the_process(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(scratch.tempfile, "tempdir", None)  # read TMPDIR again
    folder = Path(scratch.scratch_folder("funnel"))
    handle, name = scratch.scratch_file("text", ".arrow")
    os.close(handle)
    assert folder.parent == tmp_path
    assert folder.name.startswith(f"funnelkit-funnel-{HOST}-{os.getpid()}-")
    assert Path(name).name.startswith(f"funnelkit-text-{HOST}-{os.getpid()}-") and name.endswith(".arrow")


_KEEP_A_FUNNEL = """
import sys, time
import funnelkit as fk
data = fk.connect(sys.argv[1])
data.funnel_table
print("ready", flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_a_killed_engines_funnel_file_and_spill_folder_go_with_the_next_engine(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = fk.load(Path(__file__).parent / "data" / "salesforce_report", cache=False)
    tables = write_tables(data, tmp_path / "tables")
    scratch_dir = tmp_path / "tmp"
    scratch_dir.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch_dir)}
    killed = subprocess.Popen([sys.executable, "-c", _KEEP_A_FUNNEL, str(tables)], env=env, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert killed.stdout.readline().strip() == "ready"
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    left = sorted(p.name.split("-")[1] for p in scratch_dir.iterdir() if f"-{killed.pid}-" in p.name)
    assert left == ["duckdb", "funnel"]  # what a killed process leaves: nothing removed them
    subprocess.run([sys.executable, "-c", "import sys, funnelkit as fk; fk.connect(sys.argv[1]).funnel_table",
                    str(tables)], env=env, check=True)  # fmt: skip
    assert not [p.name for p in scratch_dir.iterdir() if f"-{killed.pid}-" in p.name]
