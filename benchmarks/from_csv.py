"""Load + headline metrics from the CSV export, seconds of work: funnelkit against DuckDB SQL (the engine
issue's first target, measured as it defines it).

    python benchmarks/from_csv.py                          # 1M leads, 3 rounds
    python benchmarks/from_csv.py --leads 10000000 --repeat 1

Both contenders start from the same Salesforce report export (``run.py``'s, cached under
``benchmarks/.cache``) and end with the four headline tables:

- funnelkit: ``fk.load(folder, cache=False)`` (read, type, quarantine checks: no cache), then
  conversion by source and quarter, win rate by source and quarter, lead value by source and
  time to close by source (``engine.py``'s headline) on the default engine;
- the peer: ``duckdb_peer.peer_metrics``: DuckDB's CSV reader and four plain queries (simpler
  metrics, no checks: a floor, not a like-for-like rival).

Imports and start-up are excluded: in one process each contender first runs once, untimed, on a
2,000-lead export of the same kind (imports, the first use of DuckDB and Ibis), then ``--repeat``
rounds alternate between the two and the table shows the median of each. Peak memory: one fresh
process per contender, after the same warm-up, sampling the resident memory of the process and its
children every 20 ms while it works (pages of a memory-mapped export count, as in ``run.py``).
funnelkit's headline numbers (``headline.funnelkit_headline``, from the same loaded dataset) are
checked equal to the peer's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WARM_UP_LEADS = 2_000


def funnelkit_from_csv(folder: Path):
    """The loaded dataset and funnelkit's four headline tables, from the export with no cache."""
    import engine

    import funnelkit as fk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample warnings of the warm-up's tiny groups
        data = fk.load(folder, cache=False)
        tables = {label: getattr(fk, metric)(data, **options) for label, (metric, options) in engine.HEADLINE.items()}
    return data, tables


def peer_from_csv(folder: Path):
    import duckdb_peer

    return duckdb_peer.peer_metrics(folder)


CONTENDERS = {"funnelkit": funnelkit_from_csv, "DuckDB SQL peer": peer_from_csv}


def _warmed_up(seed: int) -> None:
    import run

    small = run.ensure_export(WARM_UP_LEADS, seed)
    for work in CONTENDERS.values():
        work(small)


def peak_of(name: str, folder: Path, seed: int) -> tuple[int, int]:
    """In this (fresh) process: resident memory once warmed up, and the peak while ``name`` works."""
    import engine

    _warmed_up(seed)
    ready = engine._tree_rss(os.getpid())
    with engine.PeakMemory() as memory:
        CONTENDERS[name](folder)
    return ready, memory.peak


def _peak_in_child(name: str, folder: Path, seed: int) -> tuple[int, int]:
    command = [sys.executable, __file__, "--peak-of", name, "--folder", str(folder), "--seed", str(seed)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return tuple(json.loads(out.strip().splitlines()[-1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds (median reported)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs (one process each)")
    parser.add_argument("--peak-of", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak_of:
        print(json.dumps(peak_of(args.peak_of, args.folder, args.seed)))
        return 0

    import duckdb_peer
    import engine
    import headline
    import run

    folder = run.ensure_export(args.leads, args.seed)
    _warmed_up(args.seed)
    seconds = {name: [] for name in CONTENDERS}
    results = {}
    for _ in range(args.repeat):
        for name, work in CONTENDERS.items():  # alternating: a slow moment hits both alike
            took, results[name] = engine._timed(lambda work=work: work(folder))
            seconds[name].append(took)
    data, _ = results["funnelkit"]
    ours, theirs = headline.funnelkit_headline(data)[0], duckdb_peer.headline_numbers(results["DuckDB SQL peer"])
    agree = headline.compare(ours, theirs)

    size = sum(p.stat().st_size for p in folder.glob("*.csv")) / 1e6
    print(f"\nload + headline metrics from the CSV export: {args.leads:,} leads ({size:,.0f} MB of CSV)")
    print(f"seconds of work, median of {args.repeat} alternating rounds (imports and start-up excluded)\n")
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    peer = medians["DuckDB SQL peer"]
    print(f"{'':<28}{'seconds':>10}{'ratio':>8}{'runs':>30}")
    for name, median in medians.items():
        runs = ", ".join(f"{t:.2f}" for t in seconds[name])
        print(f"{name:<28}{median:>10.2f}{median / peer:>7.1f}x{runs:>30}")
    if not args.no_memory:
        peaks = {name: _peak_in_child(name, folder, args.seed) for name in CONTENDERS}
        print(f"\n{'':<28}{'ready MB':>10}{'peak MB':>10}{'ratio':>8}")
        for name, (ready, peak) in peaks.items():
            print(f"{name:<28}{ready / 1e6:>10.0f}{peak / 1e6:>10.0f}{peak / peaks['DuckDB SQL peer'][1]:>7.1f}x")
        print("(resident memory of the process and its children, one fresh process each)")
    print(f"\nheadline numbers agree: {agree}")
    return 0 if agree["all"] else 1


if __name__ == "__main__":
    sys.exit(main())
