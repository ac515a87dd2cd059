"""Work time of the headline metrics: pandas in memory, the engine on DuckDB and on Spark, plain DuckDB SQL.

    python benchmarks/engine.py                   # 1M leads
    python benchmarks/engine.py --leads 200000 --repeat 5 --no-spark

The data is the Salesforce report export ``run.py`` generates (cached under
``benchmarks/.cache``), loaded once by ``fk.load`` and written as canonical
Parquet tables, which the engine and the SQL peer read. Imports, start-up,
loading and connecting are excluded: each contender is ready before the
clock starts. The funnel view is built once per contender and timed apart
(pandas ``data.funnel``; the engine's funnel table, kept in the engine; the
peer's ``funnel`` temp table). Then the contenders run the headline metrics
in turn, ``--repeat`` rounds alternating in one process, and the table shows
the median of each. The engine's results are checked equal to pandas' (to
DuckDB's with ``--no-pandas``, which leaves the in-memory contender out).

Headline metrics: conversion by source and quarter, win rate by source and
quarter, lead value by source, time to close by source (Kaplan-Meier).
Then the whole funnel review (``fk.review``, every section), alternating the
same way, for every contender but Spark.
The SQL peer computes simpler versions of the same (counts, sums, a plain
median) from ``duckdb_peer``'s queries: a floor for what an engine can do.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

HEADLINE = {
    "conversion(by=source, period=Q)": ("conversion", {"by": "source", "period": "Q"}),
    "win_rate(by=source, period=Q)": ("win_rate", {"by": "source", "period": "Q"}),
    "lead_value(by=source)": ("lead_value", {"by": "source"}),
    "time_to_close(by=source)": ("time_to_close", {"by": "source"}),
}


def _load(leads: int, seed: int):
    import run

    import funnelkit as fk

    folder = run.ensure_export(leads, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = fk.load(folder, cache=True, cache_dir=run.CACHE / "funnelkit-cache")
    return data


def _parquet(data, leads: int, seed: int) -> Path:
    from funnelkit.engine.parquet import write_tables

    # written anew each run: the loaded tables change with the loader's code (not timed)
    return write_tables(data, HERE / ".cache" / f"canonical-{leads}-seed{seed}")


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the JVM Spark starts, DuckDB's threads)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


class PeakMemory:
    """Samples the process tree's resident memory every 20 ms while the work runs; ``peak`` in bytes."""

    def __enter__(self):
        import threading

        self.peak, self._stop = _tree_rss(os.getpid()), threading.Event()

        def sample():
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, _tree_rss(os.getpid()))

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss(os.getpid()))


def _timed(call):
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


class Pandas:
    name = "pandas (loaded Dataset)"

    def __init__(self, data):
        self.data = data

    def funnel(self):
        return self.data.funnel

    def metric(self, metric, options):
        import funnelkit as fk

        with _in_process():
            return getattr(fk, metric)(self.data, **options)

    def review(self):
        import funnelkit as fk

        with _in_process():
            return fk.review(self.data)


@contextlib.contextmanager
def _in_process():
    """The in-memory contender's metrics in pandas (a loaded dataset's run on DuckDB by default)."""
    import funnelkit as fk

    fk.set_engine("pandas")
    try:
        yield
    finally:
        fk.set_engine(None)


class Engine:
    def __init__(self, name, connected):
        self.name = name
        self.engine = connected

    def funnel(self):
        return self.engine.funnel_table

    def metric(self, metric, options):
        return getattr(self.engine, metric)(**options)

    def review(self):
        import funnelkit as fk

        return fk.review(self.engine)


class Peer:
    """Plain DuckDB SQL over the same Parquet tables (``duckdb_peer``'s headline queries)."""

    name = "DuckDB SQL peer (simpler metrics)"
    QUERIES = {
        "conversion(by=source, period=Q)": "CONVERSION",
        "win_rate(by=source, period=Q)": "WIN_RATE",
        "lead_value(by=source)": "LEAD_VALUE",
        "time_to_close(by=source)": "TIME_TO_CLOSE",
    }

    def __init__(self, folder: Path):
        import duckdb

        self.con = duckdb.connect()
        for name in ("leads", "opportunities"):
            path = str(folder / f"{name}.parquet").replace("'", "''")
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{path}')")

    def funnel(self):
        import duckdb_peer

        self.con.execute(duckdb_peer.FUNNEL)

    def metric_named(self, label):
        import duckdb_peer

        return self.con.execute(getattr(duckdb_peer, self.QUERIES[label])).df()


def _spark_session():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(f"local[{os.cpu_count()}]")
        .appName("funnelkit-bench")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(2 * (os.cpu_count() or 2)))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "6g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _one_contender(kind: str, folder: Path, as_of: str, leads: int, seed: int):
    """The contender ``kind`` ready to work: loaded, connected, started (not measured)."""
    import funnelkit as fk

    if kind == "pandas":
        return Pandas(_load(leads, seed))
    if kind == "duckdb":
        return Engine("engine on DuckDB", fk.connect(folder, as_of=as_of))
    if kind == "spark":
        tables = {name: str(folder / f"{name}.parquet") for name in ("leads", "opportunities")}
        return Engine("engine on Spark local", fk.connect(_spark_session(), tables=tables, as_of=as_of))
    return Peer(folder)


def peak_of(kind: str, folder: Path, as_of: str, leads: int, seed: int) -> tuple[int, int]:
    """In this (fresh) process: resident memory once ready, and the peak while building the funnel view and
    running the headline metrics once (the process and its children, such as Spark's JVM)."""
    import funnelkit as fk

    contender = _one_contender(kind, folder, as_of, leads, seed)
    ready = _tree_rss(os.getpid())
    with warnings.catch_warnings(), PeakMemory() as memory:
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        contender.funnel()
        for label, (metric, options) in HEADLINE.items():
            if isinstance(contender, Peer):
                contender.metric_named(label)
            else:
                contender.metric(metric, options)
    return ready, memory.peak


def _peak_in_child(kind: str, folder: Path, as_of, leads: int, seed: int) -> tuple[int, int]:
    import json
    import subprocess

    command = [sys.executable, __file__, "--peak-of", kind, "--folder", str(folder), "--as-of", str(as_of)]
    command += ["--leads", str(leads), "--seed", str(seed)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    ready, peak = json.loads(out.strip().splitlines()[-1])
    return ready, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds (median reported)")
    parser.add_argument("--no-spark", action="store_true", help="leave Spark out")
    parser.add_argument("--no-pandas", action="store_true",
                        help="leave the in-memory metrics out (results then checked against DuckDB's)")  # fmt: skip
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs (one process each)")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)  # internal: measure one contender's memory
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.peak_of:
        import json

        print(json.dumps(peak_of(args.peak_of, Path(args.folder), args.as_of, args.leads, args.seed)))
        return 0

    import pandas as pd

    import funnelkit as fk

    data = _load(args.leads, args.seed)
    folder = _parquet(data, args.leads, args.seed)
    contenders = [
        *([] if args.no_pandas else [Pandas(data)]),
        Engine("engine on DuckDB", fk.connect(folder, as_of=data.as_of)),
    ]
    if not args.no_spark:
        spark = _spark_session()
        tables = {name: str(folder / f"{name}.parquet") for name in ("leads", "opportunities")}
        contenders.append(Engine("engine on Spark local", fk.connect(spark, tables=tables, as_of=data.as_of)))
    peer = Peer(folder)

    funnel_seconds = {c.name: _timed(c.funnel)[0] for c in contenders}
    funnel_seconds[peer.name] = _timed(peer.funnel)[0]
    times = {(c.name, label): [] for c in [*contenders, peer] for label in HEADLINE}
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        for _ in range(args.repeat):
            for contender in [*contenders, peer]:  # alternating: a slow moment hits everyone alike
                for label, (metric, options) in HEADLINE.items():
                    if contender is peer:
                        seconds, value = _timed(lambda label=label: peer.metric_named(label))
                    else:
                        seconds, value = _timed(lambda c=contender, m=metric, o=options: c.metric(m, o))
                    times[(contender.name, label)].append(seconds)
                    results[(contender.name, label)] = value

    agree = {}
    for contender in contenders[1:]:
        for label in HEADLINE:
            try:
                pd.testing.assert_frame_equal(
                    results[(contenders[0].name, label)].reset_index(drop=True),
                    results[(contender.name, label)].reset_index(drop=True),
                    rtol=1e-9,
                )
                agree[(contender.name, label)] = True
            except AssertionError:
                agree[(contender.name, label)] = False

    # the whole funnel review, alternating as above (not on Spark: minutes a round)
    reviewed = [c for c in contenders if "Spark" not in c.name]
    review_times = {c.name: [] for c in reviewed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.repeat):
            for contender in reviewed:
                review_times[contender.name].append(_timed(contender.review)[0])

    names = [c.name for c in [*contenders, peer]]
    width = max(len(label) for label in HEADLINE) + 2
    rows = f"{args.leads:,} leads" if args.no_pandas else f"{args.leads:,} leads ({len(data.funnel):,} funnel rows)"
    print(f"\nheadline metrics at {rows}, {os.cpu_count()} CPUs;")
    print(f"seconds of work, median of {args.repeat} alternating rounds (imports, start-up and loading excluded)\n")
    print(f"{'':<{width}}" + "".join(f"{n[:26]:>28}" for n in names))
    print(f"{'funnel view (once)':<{width}}" + "".join(f"{funnel_seconds[n]:>28.3f}" for n in names))
    totals = dict.fromkeys(names, 0.0)
    for label in HEADLINE:
        row = f"{label:<{width}}"
        for n in names:
            median = statistics.median(times[(n, label)])
            totals[n] += median
            row += f"{median:>28.3f}"
        print(row)
    print(f"{'headline metrics, total':<{width}}" + "".join(f"{totals[n]:>28.3f}" for n in names))
    peer_total = totals[peer.name]
    print(f"{'ratio to the SQL peer':<{width}}" + "".join(f"{totals[n] / peer_total:>27.1f}x" for n in names))
    review_row = [f"{statistics.median(review_times[n]):>28.3f}" if n in review_times else f"{'':>28}" for n in names]
    print(f"{'fk.review() (every section)':<{width}}" + "".join(review_row))
    if not args.no_memory:
        kinds = [*([] if args.no_pandas else ["pandas"]), "duckdb", *([] if args.no_spark else ["spark"]), "peer"]
        peaks = {
            n: _peak_in_child(k, folder, data.as_of, args.leads, args.seed) for n, k in zip(names, kinds, strict=True)
        }
        print(f"{'memory once ready (MB)':<{width}}" + "".join(f"{peaks[n][0] / 1e6:>28.0f}" for n in names))
        print(f"{'peak memory at work (MB)':<{width}}" + "".join(f"{peaks[n][1] / 1e6:>28.0f}" for n in names))
        print("(resident memory of the process and its children, Spark's JVM included; one fresh process each)")
    reference = contenders[0].name
    print(f"\nresults equal those of {reference}: {all(agree.values())} {[k for k, v in agree.items() if not v]}")
    return 0 if all(agree.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
