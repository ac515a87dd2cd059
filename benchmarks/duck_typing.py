"""Typing and reading export text in DuckDB vs the Arrow loader: same results? faster?

    python benchmarks/duck_typing.py                 # every CSV under tests/data + the 1M export
    python benchmarks/duck_typing.py --skip-large    # tests/data only

For every column of every CSV under ``tests/data`` (and of the generated 1M-lead
export in ``benchmarks/.cache``), dates are parsed in each date order, numbers and
booleans are read, once by the loader's Arrow parsers and once by their DuckDB twins
(``funnelkit/load/_duck.py``), and the results are compared cell for cell (values,
failure masks). On the 1M export each parser is also timed (median of alternating
runs), and reading the CSV as text is timed in Arrow (the loader's reader) and in
DuckDB's ``read_csv(all_varchar=true)``. The loader switches a parser to DuckDB only
where DuckDB gives the same results and is at least as fast; the printed table is
where that decision comes from. Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from funnelkit.errors import FunnelkitError  # noqa: E402
from funnelkit.load import _duck, _parse  # noqa: E402
from funnelkit.load._read import read_table  # noqa: E402

LARGE = HERE / ".cache" / "salesforce-1000000-seed1"


def parse_dates(values: pd.Series, order: str, *, duck: bool):
    _parse.DATES_IN_DUCKDB = duck
    try:
        return _parse.by_distinct(_parse.parse_datetimes, values, order=order, tz="UTC")
    finally:
        _parse.DATES_IN_DUCKDB = False


def same(a, b) -> bool:
    if isinstance(a, pd.Series):
        return a.reset_index(drop=True).equals(b.reset_index(drop=True))
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def differing_cells(values: pd.Series, old, new) -> list[str]:
    """The cells whose dates differ, with both readings (for the report)."""
    a, b = old[0].to_numpy(), new[0].to_numpy()
    diff = ~((a == b) | (pd.isna(a) & pd.isna(b)))
    return [f"{values.iloc[i]!r}: arrow {a[i]} / duckdb {b[i]}" for i in np.flatnonzero(diff)[:3]]


def compare_file(path: Path, stats: dict, diffs: list[str], *, orders=("mdy", "dmy", "ymd")) -> None:
    try:
        frame = read_table(path).frame
    except FunnelkitError:
        stats["unreadable"] += 1
        return
    stats["files"] += 1
    for name in frame.columns:
        values = frame[name]
        stats["columns"] += 1
        for order in orders:
            old, new = parse_dates(values, order, duck=False), parse_dates(values, order, duck=True)
            if all(same(x, y) for x, y in zip(old, new, strict=True)):
                stats["date columns x orders identical"] += 1
            else:
                stats["date columns x orders differing"] += 1
                diffs.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} [{name}] {order}: "
                             + "; ".join(differing_cells(values, old, new)))  # fmt: skip
        pairs = (
            (_parse.parse_numbers(values), _duck.parse_numbers(values), "numbers"),
            (_parse.parse_booleans(values), _duck.parse_booleans(values, _parse._TRUE, _parse._FALSE), "booleans"),
        )
        for old, new, kind in pairs:
            ok = all(same(x, y) for x, y in zip(old, new, strict=True))
            stats[f"{kind} identical" if ok else f"{kind} differing"] += 1
            if not ok:
                diffs.append(f"{path.name} [{name}] {kind}")


def duck_flags(values: pd.Series):
    return _duck.parse_booleans(values, _parse._TRUE, _parse._FALSE)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_large(repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    for file, dates, numbers, flags in (
        ("leads.csv", ["Create Date", "MQL Date", "SQL Date", "First Response Date", "Converted Date",
                       "Disqualified Date"], ["Touches (14 days)", "Employees"], ["Converted"]),
        ("opportunities.csv", ["Created Date", "Close Date"], [], ["Closed", "Won"]),
    ):  # fmt: skip
        frame = read_table(LARGE / file).frame
        for name in dates:
            values = frame[name]
            arrow_s, duck_s = [], []
            for _ in range(repeat):  # alternating, so that a busy moment hits both
                arrow_s.append(timed(lambda v=values: parse_dates(v, "mdy", duck=False), 1))
                duck_s.append(timed(lambda v=values: parse_dates(v, "mdy", duck=True), 1))
            rows.append((f"{file} {name}: dates", statistics.median(arrow_s), statistics.median(duck_s)))
        for name in numbers:
            values = frame[name]
            rows.append((f"{file} {name}: numbers (both over distinct values)",
                         timed(lambda v=values: _parse.by_distinct(_parse.parse_numbers, v), repeat),
                         timed(lambda v=values: _parse.by_distinct(_duck.parse_numbers, v), repeat)))  # fmt: skip
        for name in flags:
            values = frame[name]
            rows.append((f"{file} {name}: booleans (both over distinct values)",
                         timed(lambda v=values: _parse.by_distinct(_parse.parse_booleans, v), repeat),
                         timed(lambda v=values: _parse.by_distinct(duck_flags, v), repeat)))  # fmt: skip
    rows.append(time_reading(repeat))
    return rows


def time_reading(repeat: int) -> tuple[str, float, float]:
    """Reading leads.csv as text: the loader's reader (Arrow) vs DuckDB's read_csv, all columns as text."""
    path = LARGE / "leads.csv"
    header = read_table(path).headers
    columns = "{" + ", ".join(f"'{h}': 'VARCHAR'" for h in header) + "}"
    con = _duck.connection()

    def duck() -> pa.Table:
        # the footer lines are ragged rows to DuckDB: skipped here, which flatters DuckDB
        return con.execute(
            f"SELECT * FROM read_csv('{path}', delim=',', quote='\"', escape='\"', header=true, "
            f"all_varchar=true, columns={columns}, ignore_errors=true)"
        ).to_arrow_table()

    return ("leads.csv: read all 21 columns as text (DuckDB: to Arrow only)",
            timed(lambda: read_table(path), repeat), timed(duck, repeat))  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-identity", action="store_true", help="timings only")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    stats: dict = dict.fromkeys(["files", "unreadable", "columns"], 0)
    stats = {**stats, **{k: 0 for k in ("date columns x orders identical", "date columns x orders differing",
                                        "numbers identical", "numbers differing", "booleans identical",
                                        "booleans differing")}}  # fmt: skip
    diffs: list[str] = []
    for path in sorted((ROOT / "tests" / "data").rglob("*.csv")) if not args.skip_identity else ():
        compare_file(path, stats, diffs)
    if not args.skip_large and not args.skip_identity and LARGE.exists():
        for path in sorted(LARGE.glob("*.csv")):  # the export's dates are month-first
            compare_file(path, stats, diffs, orders=("mdy",))
    if not args.skip_identity:
        print("identity (Arrow parsers vs DuckDB twins, cell for cell):")
        for key, value in stats.items():
            print(f"  {key:34s} {value}")
        for line in diffs:
            print("  differs:", line)
    if not args.skip_large and LARGE.exists():
        print(f"\ntimes at 1M rows, median of {args.repeat} (s):")
        print(f"  {'column: parser':78s} {'Arrow':>7s} {'DuckDB':>7s}")
        for name, arrow_s, duck_s in time_large(args.repeat):
            print(f"  {name:78s} {arrow_s:7.3f} {duck_s:7.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
