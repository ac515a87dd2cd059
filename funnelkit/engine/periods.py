"""Periods and durations as engine expressions, labelled exactly as :func:`funnelkit.metrics.period_labels`."""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd
from ibis.common.exceptions import IbisError

from ..dataset import to_utc_timestamp
from ..errors import ParameterError
from ..metrics._common import PERIODS, check_choice

SECONDS_PER_DAY = 86400.0
MICROSECONDS_PER_SECOND = 1_000_000.0


def period_label(stamps: ir.TimestampValue, period: str, *, fiscal_year_start: int = 1) -> ir.StringValue:
    """Label of each timestamp's period: "2025 Q1" (or "FY2026 Q1"), "2025-03", "2025", week "2025-03-03".

    Quarters and years follow the fiscal year, named by the calendar year in
    which it ends, as :func:`funnelkit.metrics.period_labels` names them.
    Timestamps are read in UTC.
    """
    check_choice("period", period, PERIODS)
    if not 1 <= int(fiscal_year_start) <= 12:
        raise ParameterError(f"fiscal_year_start must be a month number 1-12; got {fiscal_year_start!r}")
    stamps = _utc_wall_clock(stamps)
    year, month = stamps.year(), stamps.month()
    if period == "M":
        return year.cast("string").concat("-", month.cast("string").lpad(2, "0"))
    if period == "W":
        return stamps.truncate("W").date().cast("string")  # weeks start on Monday, as ISO weeks do
    fiscal_year = year if fiscal_year_start == 1 else year + (month >= fiscal_year_start).cast("int32")
    prefix = "" if fiscal_year_start == 1 else "FY"
    label = ibis.literal(prefix).concat(fiscal_year.cast("string"))
    if period == "Y":
        return label
    quarter = ((month - fiscal_year_start + 12) % 12) // 3 + 1
    return label.concat(" Q", quarter.cast("string"))


def epoch_seconds(stamps: ir.TimestampValue) -> ir.NumericValue:
    """Seconds since 1970 (UTC), the unit every duration is computed in."""
    if _on_duckdb(stamps):
        return _duckdb_epoch(stamps)
    return stamps.epoch_seconds()


def _microseconds(stamps: ir.TimestampValue) -> ir.IntegerValue | None:
    """Microseconds since 1970, read exactly where the engine stores them so (DuckDB, Spark), else None.

    (Ibis' portable ``epoch_seconds`` is whole seconds on Spark: a duration between two times with
    fractions of a second would be off by up to a second there.)
    """
    engine = _engine_of(stamps)
    if engine == "duckdb":
        return _duckdb_epoch_us(stamps)
    if engine == "pyspark":
        return _spark_unix_micros(stamps)
    return None


# DuckDB: Ibis reads a UTC timestamp's seconds or calendar fields through a cast to a plain timestamp, a time
# zone conversion that costs ten times the arithmetic (0.15 s per column and million rows). The same values
# straight from the stored microseconds (the connection's time zone is UTC: see source.py):
@ibis.udf.scalar.builtin(name="epoch")
def _duckdb_epoch(stamp) -> dt.float64:
    """Seconds since 1970, with their fraction (DuckDB's ``epoch``)."""


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(stamp) -> dt.int64:
    """Microseconds since 1970 (DuckDB's ``epoch_us``)."""


@ibis.udf.scalar.builtin(name="unix_micros")
def _spark_unix_micros(stamp) -> dt.int64:
    """Microseconds since 1970 (Spark's ``unix_micros``)."""


@ibis.udf.scalar.builtin(name="make_timestamp")
def _duckdb_timestamp(microseconds: dt.int64) -> dt.timestamp:
    """The plain timestamp ``microseconds`` after 1970 (DuckDB's ``make_timestamp``)."""


@ibis.udf.scalar.builtin(name="date_diff")
def _duckdb_date_diff(part: str, start: dt.timestamp, end: dt.timestamp) -> dt.int64:
    """How many ``part`` boundaries (months) lie between two plain timestamps (DuckDB's ``date_diff``)."""


_EPOCH_WALL_CLOCK = ibis.literal(pd.Timestamp("1970-01-01").to_pydatetime(), type="timestamp")


def _utc_wall_clock(stamps: ir.TimestampValue) -> ir.TimestampValue:
    """The timestamps as UTC wall-clock times, whose calendar fields DuckDB reads without a time zone."""
    return _duckdb_timestamp(_duckdb_epoch_us(stamps)) if _on_duckdb(stamps) else stamps


def _on_duckdb(stamps: ir.Value) -> bool:
    """Whether the expression's tables live in DuckDB (where the functions above exist)."""
    return _engine_of(stamps) == "duckdb"


def _engine_of(stamps: ir.Value) -> str | None:
    """The name of the backend whose tables a timestamp expression reads, or None."""
    if not stamps.type().is_timestamp():
        return None
    try:
        return stamps._find_backend(use_default=True).name
    except IbisError:  # tables of several backends, or none: the portable expressions
        return None


def seconds_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """Seconds from ``earlier`` to ``later``, fractional.

    On DuckDB and Spark, as pandas' ``total_seconds`` gives them: the whole
    microseconds between the two, divided by a million (exact; on DuckDB also a
    third faster than subtracting two fractional ``epoch`` values, which are
    rounded first).
    """
    later_us, earlier_us = _microseconds(later), _microseconds(earlier)
    if later_us is not None and earlier_us is not None:
        return (later_us - earlier_us).cast("float64") / MICROSECONDS_PER_SECOND
    return (epoch_seconds(later) - epoch_seconds(earlier)).cast("float64")


def span_to_sort(later: ir.TimestampValue, earlier: ir.TimestampValue) -> tuple[ir.NumericValue, Callable]:
    """The time from ``earlier`` to ``later`` in the unit an engine sorts fastest, and what turns a value
    of it (an order statistic such as a quantile) into days exactly as :func:`days_between` computes them.

    On DuckDB and Spark: whole microseconds (integers sort a third faster than fractional days);
    elsewhere days.
    """
    later_us, earlier_us = _microseconds(later), _microseconds(earlier)
    if later_us is not None and earlier_us is not None:
        return later_us - earlier_us, _microseconds_to_days
    return days_between(later, earlier), float


def _microseconds_to_days(microseconds):
    """Days from microseconds (a number or an engine expression), divided as pandas divides them."""
    return microseconds / MICROSECONDS_PER_SECOND / SECONDS_PER_DAY


def days_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """Days from ``earlier`` to ``later`` (fractional; to the second, as CRM exports are)."""
    return seconds_between(later, earlier) / SECONDS_PER_DAY


def days_until(moment: pd.Timestamp, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """Days from ``earlier`` to a fixed moment such as ``as_of``."""
    if moment is None:
        raise ParameterError(
            "these tables hold no timestamp, so there is no as_of to count to; give as_of= to connect()"
        )
    earlier_us = _microseconds(earlier)
    if earlier_us is not None:
        microseconds = ibis.literal(_utc_microseconds(moment), "int64") - earlier_us
        return _microseconds_to_days(microseconds.cast("float64"))
    return (ibis.literal(float(moment.timestamp())) - epoch_seconds(earlier).cast("float64")) / SECONDS_PER_DAY


def _utc_microseconds(moment) -> int:
    """Microseconds since 1970 of a moment (naive values are UTC), rounded down to the microsecond."""
    return (to_utc_timestamp(moment) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)


def timestamp_literal(value, *, rounding: str = "floor") -> ir.TimestampScalar:
    """A UTC timestamp constant (naive values are taken as UTC), to the microsecond the engines keep.

    Stored times are whole microseconds, so ``x <= t`` is ``x <= floor(t)`` and
    ``x < t`` or ``x >= t`` is the same with ``ceil(t)``: pick ``rounding`` to match.
    """
    ts = to_utc_timestamp(value)
    ts = ts.ceil("us") if rounding == "ceil" else ts.floor("us")
    return ibis.literal(ts.to_pydatetime(), type="timestamp('UTC')")


def period_key(stamps: ir.TimestampValue, period: str, *, fiscal_year_start: int = 1) -> ir.Value:
    """A key that two timestamps share exactly when they share a :func:`period_label`: a month count
    (months, quarters, years) or the week's Monday.

    Grouping by it costs a fraction of grouping by the label's text, which is
    built per row; label each group afterwards from any of its timestamps.
    """
    check_choice("period", period, PERIODS)
    stamps = _utc_wall_clock(stamps)
    if period == "W":
        return stamps.truncate("W")
    if _on_duckdb(stamps):
        months = _duckdb_date_diff("month", _EPOCH_WALL_CLOCK, stamps)
    else:
        months = stamps.year().cast("int64") * 12 + stamps.month().cast("int64") - 1
    if period == "M":
        return months
    # counted from the fiscal year's first month, so that a key changes where a fiscal quarter or year does
    return (months - (int(fiscal_year_start) - 1)) // (3 if period == "Q" else 12)
