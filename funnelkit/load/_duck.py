"""Typing export text in DuckDB (embedded): twins of the loader's date, number and flag parsers, in SQL.

Python decides what a column is and how it is written (the file's date order, the
formats to try); the twins do the work on the cells in DuckDB. Each
array is registered with DuckDB without a copy (Arrow's memory is read in place) and
the typed result comes back as Arrow. The quarantine rule stays the loader's own:
a cell that is not empty and has no typed value fails, with the same reason and detail.

Why the loader does not use them (yet)
--------------------------------------
``benchmarks/duck_typing.py`` checks every CSV under ``tests/data`` and the generated
1M-lead export cell for cell: the twins give the Arrow parsers' results on every cell
(dates in each date order, numbers, flags). It also times them at 1M rows (2-core machine,
busy with other work, median of 3): DuckDB is slower for every date column (0.43 s vs
0.27 s for a column of distinct timestamps, 0.13 s vs 0.04 s for a date-only column, where
the loader parses a few hundred distinct values), and level with Arrow for numbers and
flags read over distinct values (0.04-0.06 s each; a query's start-up is a good part of
that). Reading the file as text in DuckDB (``read_csv(all_varchar=true)`` to Arrow) takes
3.3 s where the loader's Arrow reader takes 2.3 s. So the loader keeps Arrow for reading
and typing, and :data:`funnelkit.load._parse.DATES_IN_DUCKDB` stays off; the twins remain
so that the comparison can be run again on a new DuckDB or a new export.

A connection per thread: the loader types columns in a thread pool, and one DuckDB
connection runs one query at a time.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._arrow import arrow

_local = threading.local()

#: A year below 100 comes from a two-digit year read by ``%Y`` ("02/23/26" as the year 26): refused,
#: so that the ``%y`` format tried next reads it, as in :func:`funnelkit.load._parse._strptime`.
_YEAR_100 = "TIMESTAMP '0100-01-01'"


def connection():
    """This thread's in-memory DuckDB connection (opened on first use; DuckDB is imported then)."""
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = duckdb.connect(":memory:")
        _local.con = con
    return con


def _select(expression: str, cells: pa.Array, *, where: str = "") -> pa.Array:
    """``expression`` over the column ``v`` holding ``cells``, one result per cell, in order."""
    con = connection()
    con.register("fk_cells", pa.table({"v": cells}))  # zero-copy: DuckDB scans the Arrow buffers
    try:
        # a plain projection keeps the input's order (DuckDB preserves insertion order by default)
        result = con.execute(
            f"SELECT {expression} AS r FROM (SELECT {where or 'v'} AS v FROM fk_cells)"
        ).to_arrow_table()
    finally:
        con.unregister("fk_cells")
    column = result.column("r")
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def strptime(text: pa.Array, fmt: str) -> pa.Array:
    """Seconds since the epoch of each cell read with ``fmt`` (null where it does not read).

    The twin of :func:`funnelkit.load._parse._strptime`: a two-digit year is refused by ``%Y``
    and a day past the month's end (02/30) is null (``try_strptime`` refuses it).
    """
    # the format is a literal (one of the loader's own), so DuckDB compiles it once per query
    parsed = f"try_strptime(v, {_literal(fmt)})"
    if "%Y" in fmt:
        result = _select(f"CASE WHEN v >= {_YEAR_100} THEN v END", text, where=parsed)
    else:
        result = _select(parsed, text)
    return result.cast(pa.timestamp("s"))


def parse_numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """DuckDB twin of :func:`funnelkit.load._parse.parse_numbers` (for the comparison only)."""
    text = pc.utf8_trim_whitespace(arrow(values))  # Unicode spaces, as the Arrow parser trims them
    expression = (
        "CASE WHEN regexp_full_match(regexp_replace(v, '[,\\s'']', '', 'g'), "
        "'[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?') "
        "THEN CAST(regexp_replace(v, '[,\\s'']', '', 'g') AS DOUBLE) END"
    )
    numbers = _select(expression, text)
    result = pd.Series(numbers.to_numpy(zero_copy_only=False), index=values.index).astype("Float64")
    empty = pc.equal(pc.replace_substring_regex(text, r"[,\s']", ""), "").to_numpy(zero_copy_only=False)
    return result, ~empty & result.isna().to_numpy()


def parse_booleans(values: pd.Series, true: set[str], false: set[str]) -> tuple[pd.Series, np.ndarray]:
    """DuckDB twin of :func:`funnelkit.load._parse.parse_booleans` (for the comparison only)."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(arrow(values)))
    listed = ", ".join(_literal(t) for t in sorted(true)), ", ".join(_literal(f) for f in sorted(false))
    truth = _select(f"CASE WHEN v IN ({listed[0]}) THEN true WHEN v IN ({listed[1]}) THEN false END", text)
    flags = truth.to_numpy(zero_copy_only=False)
    unparsed = pc.is_null(truth).to_numpy(zero_copy_only=False)
    return pd.Series(np.where(unparsed, False, flags).astype(bool), index=values.index), unparsed
