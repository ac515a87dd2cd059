"""Speed and memory of funnelkit against DuckDB, on a generated export.

    python benchmarks/run.py --leads 1000000
    python benchmarks/run.py --leads 10000000 --skip-report

Generates a Salesforce report export with the sample generator (cached under
``benchmarks/.cache``), then runs every step in a fresh Python process so that
peak memory (max RSS) is the step's own: first load from CSV, cached
(Parquet) load, the funnel view, each metric, the full metric set of the
funnel review, the same headline numbers in DuckDB SQL straight from the
CSVs, and ``funnelkit report`` of the funnel review on the export and on its
canonical tables written as Parquet and read in place (no load). The cached
load and both end-to-end steps run ``--repeat`` times (3) and report the
median, so that one noisy run does not decide the ratio. It checks that
funnelkit and DuckDB agree, prints one table with the ratio funnelkit /
DuckDB, and writes it as JSON to ``benchmarks/results/``.
Timings are never asserted in tests; this script is where they live.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results"


# ---------------------------------------------------------------- steps --
# Each step runs in its own interpreter: ``python run.py --step NAME --folder F``.


def _step_generate(folder: Path, leads: int, seed: int) -> dict:
    from funnelkit.sample import write_sample

    write_sample(leads, folder, format="salesforce", seed=seed)
    return {}


def _load(folder: Path, cache: bool, cache_dir: Path):
    import funnelkit as fk

    return fk.load(folder, cache=cache, cache_dir=cache_dir)


def _step_load_csv(folder: Path, cache_dir: Path) -> dict:
    data = _load(folder, cache=True, cache_dir=cache_dir)  # parses and fills the cache
    return {"rows": int(data.summary.table["rows_read"].sum()), "memory_tables": _table_bytes(data)}


def _step_load_cached(folder: Path, cache_dir: Path) -> dict:
    data = _load(folder, cache=True, cache_dir=cache_dir)
    return {"rows": int(data.summary.table["rows_read"].sum())}


def _table_bytes(data) -> int:
    frames = (data.leads, data.opportunities, data.history)
    return int(sum(f.memory_usage(deep=True).sum() for f in frames))


def _step_funnelkit_metrics(folder: Path, cache_dir: Path) -> dict:
    import headline

    data = _load(folder, cache=True, cache_dir=cache_dir)
    started = time.perf_counter()
    funnel = data.funnel
    timings = {"funnel view": time.perf_counter() - started}
    numbers, metric_timings = headline.funnelkit_headline(data)
    timings.update(metric_timings)
    timings.update(headline.metric_suite(data))
    return {"timings": timings, "numbers": numbers, "rows": len(funnel)}


def _step_report(folder: Path, cache_dir: Path) -> dict:
    """``funnelkit report`` of the funnel review, end to end (kernel, every section, HTML)."""
    from funnelkit.report import render_report

    with tempfile.TemporaryDirectory() as out:
        env_cache = os.environ.get("FUNNELKIT_CACHE")
        os.environ["FUNNELKIT_CACHE"] = str(cache_dir / "report")  # a first, uncached load
        try:
            render_report(HERE.parent / "notebooks" / "funnel_review.ipynb", data=folder, out=out, progress=False)
        finally:
            if env_cache is None:
                os.environ.pop("FUNNELKIT_CACHE", None)
            else:
                os.environ["FUNNELKIT_CACHE"] = env_cache
    return {}


def _step_write_tables(folder: Path, cache_dir: Path) -> dict:
    """The export's canonical tables as Parquet, for the report on tables read in place (not timed)."""
    from funnelkit.engine.parquet import write_tables

    write_tables(_load(folder, cache=True, cache_dir=cache_dir), cache_dir / "tables")
    return {}


def _step_report_tables(folder: Path, cache_dir: Path) -> dict:
    """``funnelkit report`` of the funnel review on those tables, read in place by the engine (no load)."""
    from funnelkit.report import render_report

    with tempfile.TemporaryDirectory() as out:
        render_report(HERE.parent / "notebooks" / "funnel_review.ipynb", data=cache_dir / "tables", out=out,
                      progress=False)  # fmt: skip
    return {}


def _step_funnelkit_end_to_end(folder: Path, cache_dir: Path) -> dict:
    """First load from CSV (cache off) plus every headline metric: the peer's whole job."""
    import headline

    data = _load(folder, cache=False, cache_dir=cache_dir)
    numbers, _ = headline.funnelkit_headline(data)
    return {"numbers": numbers}


def _step_duckdb(folder: Path, cache_dir: Path) -> dict:
    import duckdb_peer  # imports DuckDB and pandas only, not funnelkit

    return {"numbers": duckdb_peer.duckdb_headline(folder)}


STEPS = {
    "load_csv": _step_load_csv,
    "load_cached": _step_load_cached,
    "funnelkit_metrics": _step_funnelkit_metrics,
    "funnelkit_end_to_end": _step_funnelkit_end_to_end,
    "duckdb_end_to_end": _step_duckdb,
    "report": _step_report,
    "write_tables": _step_write_tables,
    "report_tables": _step_report_tables,
}

#: the steps of `funnelkit report`, left out with --skip-report
REPORT_STEPS = ("report", "write_tables", "report_tables")


REPEATED = {"load_cached", "funnelkit_end_to_end", "duckdb_end_to_end"}


def _median_run(runs: list[dict]) -> dict:
    """The run with the median time (its numbers), with the largest peak memory of all runs."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    chosen["runs"] = len(runs)
    return chosen


def _run_step(name: str, folder: Path, cache_dir: Path) -> dict:
    """Run one step in a fresh interpreter; wall time and peak RSS are measured here."""
    command = [
        sys.executable,
        __file__,
        "--step",
        name,
        "--folder",
        str(folder),
        "--cache-dir",
        str(cache_dir),
    ]
    env = {**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = seconds
    # ru_maxrss of children is the largest child so far; steps run largest-last is not
    # guaranteed, so each step also reports its own peak from inside.
    result.setdefault("peak_rss_mb", max(after.ru_maxrss, before.ru_maxrss) / 1024)
    return result


def _child(name: str, folder: Path, cache_dir: Path) -> None:
    result = STEPS[name](folder, cache_dir)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result, default=float))


# ---------------------------------------------------------------- driver --


def ensure_export(leads: int, seed: int) -> Path:
    folder = CACHE / f"salesforce-{leads}-seed{seed}"
    if not (folder / "opportunities.csv").exists():
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        _step_generate(folder, leads, seed)
        print(f"generated {leads:,} leads in {time.perf_counter() - started:.1f}s -> {folder}")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="JSON result file")
    parser.add_argument("--skip-report", action="store_true", help="do not time `funnelkit report`")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the cached load and of both end-to-end steps (median reported)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.step:
        _child(args.step, args.folder, args.cache_dir)
        return 0

    folder = ensure_export(args.leads, args.seed)
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    with tempfile.TemporaryDirectory(prefix="funnelkit-bench-cache-") as cache_dir:
        cache = Path(cache_dir)
        steps = [name for name in STEPS if not (name in REPORT_STEPS and args.skip_report)]
        results = {}
        for name in steps:
            # the loads and the two end-to-end runs (the ratio) take the median of --repeat runs
            repeat = args.repeat if name in REPEATED else 1
            results[name] = _median_run([_run_step(name, folder, cache) for _ in range(repeat)])

    import headline

    agree = headline.compare(results["funnelkit_end_to_end"]["numbers"], results["duckdb_end_to_end"]["numbers"])
    rows = _table_rows(results)
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "leads": args.leads,
        "export_mb": round(size_mb, 1),
        "rows": rows,
        "numbers_agree": agree,
        "repeat": args.repeat,
        "memory_tables_mb": round(results["load_csv"]["memory_tables"] / 2**20, 1),
    }
    _print(report)
    RESULTS.mkdir(exist_ok=True)
    out = args.out or RESULTS / f"bench-{args.leads}.json"
    out.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwritten to {out}")
    return 0 if agree["all"] else 1


def _row(step: str, result: dict | None = None, *, duck: float | None = None, **extra) -> dict:
    seconds = result["seconds"] if result else extra.pop("seconds", None)
    return {
        "step": step,
        "seconds": seconds,
        "peak_rss_mb": result["peak_rss_mb"] if result else None,
        "ratio_vs_duckdb": seconds / duck if duck and seconds is not None else None,
        **extra,
    }


def _table_rows(results: dict) -> list[dict]:
    duck = results["duckdb_end_to_end"]["seconds"]
    rows = [
        _row("first load from CSV", results["load_csv"]),
        _row("cached (Parquet) load", results["load_cached"]),
    ]
    for name, seconds in results["funnelkit_metrics"]["timings"].items():
        rows.append(_row(f"  {name} (in process)", seconds=seconds))
    rows.append(_row("headline metrics from CSV: funnelkit", results["funnelkit_end_to_end"], duck=duck))
    rows.append(_row("headline metrics from CSV: DuckDB", results["duckdb_end_to_end"], duck=duck))
    speedup = results["load_csv"]["seconds"] / results["load_cached"]["seconds"]
    rows.append(_row("cached load speed-up", value=speedup))
    if "report" in results:
        rows.append(_row("funnelkit report funnel_review (end to end)", results["report"]))
        rows.append(_row("  the same on the tables read in place (no load)", results["report_tables"]))
    return rows


def _print(report: dict) -> None:
    print(f"\nfunnelkit benchmark: {report['leads']:,} leads, export {report['export_mb']} MB, "
          f"{report['machine']['cpus']} CPUs, Python {report['machine']['python']}")  # fmt: skip
    print(f"(cached load and both end-to-end rows: median of {report['repeat']} runs)")
    print(f"{'step':<44}{'seconds':>10}{'peak RSS MB':>14}{'x DuckDB':>10}")
    for row in report["rows"]:
        seconds = "" if row.get("seconds") is None else f"{row['seconds']:.2f}"
        rss = "" if row.get("peak_rss_mb") is None else f"{row['peak_rss_mb']:.0f}"
        ratio = row.get("ratio_vs_duckdb")
        ratio = f"{ratio:.2f}" if ratio is not None else (f"{row['value']:.1f}x" if "value" in row else "")
        print(f"{row['step']:<44}{seconds:>10}{rss:>14}{ratio:>10}")
    print(f"loaded tables in memory: {report['memory_tables_mb']} MB")
    print(f"funnelkit and DuckDB agree: {report['numbers_agree']}")


if __name__ == "__main__":
    sys.exit(main())
