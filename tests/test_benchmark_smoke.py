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
