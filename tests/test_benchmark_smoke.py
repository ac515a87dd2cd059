"""A small run of the benchmark script, so it cannot rot (timings are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def test_benchmark_runs_and_agrees_with_duckdb(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--leads", "5000", "--repeat", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["numbers_agree"]["all"] is True
    steps = {row["step"] for row in report["rows"]}
    assert {
        "first load from CSV",
        "cached (Parquet) load",
        "headline metrics from CSV: DuckDB",
    } <= steps
    assert "funnelkit benchmark: 5,000 leads" in done.stdout
    assert report["repeat"] == 2
    by_step = {row["step"]: row for row in report["rows"]}
    assert by_step["headline metrics from CSV: DuckDB"]["ratio_vs_duckdb"] == 1.0


def test_from_csv_benchmark_runs_and_agrees_with_duckdb():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "from_csv.py"), "--leads", "5000", "--repeat", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "load + headline metrics from the CSV export: 5,000 leads" in done.stdout
    assert "median of 2 alternating rounds (imports and start-up excluded)" in done.stdout
    peer = [line for line in lines if line.startswith("DuckDB SQL peer")]
    assert len(peer) == 2 and peer[0].split()[4] == "1.0x" and peer[1].split()[-1] == "1.0x"  # time, memory
    assert len(next(line for line in lines if line.startswith("funnelkit")).split(",")) == 2  # both rounds shown
    assert lines[-1].endswith("'all': True}")
