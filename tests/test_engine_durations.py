"""Durations on DuckDB are pandas' to the bit, also between sub-second times.

pandas takes the whole microseconds between two times and divides
(``total_seconds() / 86400``). Subtracting two fractional ``epoch`` values
instead rounds each first (about 0.2 microseconds at today's dates), so a
duration could differ from pandas' in its last digits; these pairs are ones
where it did.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from funnelkit.engine._common import calling_ibis, fetch
from funnelkit.engine.periods import days_between, days_until, seconds_between, span_to_sort
from funnelkit.metrics._common import days_between as pandas_days_between

#: microseconds since 1970 where rounding each time first changes the duration (found by search)
PAIRS_US = [
    (1700636961687321, 1700663940358698),
    (1700040973523936, 1700042626287489),
    (1700813270239200, 1700904545796927),
    (1700606635775767, 1700679585431865),
]


@pytest.fixture(scope="module")
def stamps():
    rng = np.random.default_rng(3)
    start = np.array([a for a, _ in PAIRS_US] + list(1_700_000_000_000_000 + rng.integers(0, 10**13, 500)))
    end = np.array([b for _, b in PAIRS_US] + list(start[len(PAIRS_US) :] + rng.integers(-(10**11), 10**12, 500)))
    frame = pd.DataFrame({
        "earlier": pd.to_datetime(start, unit="us", utc=True),
        "later": pd.to_datetime(end, unit="us", utc=True),
    })  # fmt: skip
    backend = ibis.duckdb.connect()
    backend.raw_sql("SET TimeZone = 'UTC'")
    with calling_ibis():
        return frame, backend.create_table("stamps", frame)


def test_the_pairs_differ_when_each_time_is_rounded_first():
    for earlier, later in PAIRS_US:
        assert (later / 1e6 - earlier / 1e6) / 86400 != (later - earlier) / 1e6 / 86400


def test_days_between_on_duckdb_equal_pandas_bit_for_bit(stamps):
    frame, table = stamps
    got = fetch(table.select(days=days_between(table["later"], table["earlier"])))["days"]
    expected = pandas_days_between(frame["later"], frame["earlier"])
    assert got.tolist() == expected.tolist()
    assert got.iloc[0] == 0.3122531409375  # (1700663940358698 - 1700636961687321) us / 1e6 / 86400


def test_seconds_between_on_duckdb_equal_pandas_total_seconds(stamps):
    frame, table = stamps
    got = fetch(table.select(span=seconds_between(table["later"], table["earlier"])))["span"]
    pandas_spans = (frame["later"] - frame["earlier"]).dt.total_seconds()
    assert got.tolist() == pandas_spans.tolist()
    assert got.iloc[1] == 1652.763553  # 1700042626287489 - 1700040973523936 us, divided by a million


def test_days_until_as_of_on_duckdb_equal_pandas(stamps):
    frame, table = stamps
    as_of = pd.Timestamp("2026-01-01 08:30:00.123456", tz="UTC")
    got = fetch(table.select(days=days_until(as_of, table["earlier"])))["days"]
    pandas_days = (as_of - frame["earlier"]).dt.total_seconds() / 86400.0
    assert got.tolist() == pandas_days.tolist()


def test_a_percentile_of_spans_sorted_in_microseconds_is_pandas_percentile_of_days(stamps):
    frame, table = stamps
    span, to_days = span_to_sort(table["later"], table["earlier"])
    days = pandas_days_between(frame["later"], frame["earlier"])
    for q in (0.75, 0.5):
        got = to_days(float(fetch(table.aggregate(q=span.quantile(q)))["q"].iloc[0]))
        assert got == pytest.approx(days.quantile(q), rel=1e-12)
    # 5 spans: the 75th percentile is the 4th time itself, to the bit
    five = table.filter(table["earlier"].isin(frame["earlier"].iloc[:5].tolist()))
    five_span, _ = span_to_sort(five["later"], five["earlier"])
    got = to_days(float(fetch(five.aggregate(q=five_span.quantile(0.75)))["q"].iloc[0]))
    assert got == days.iloc[:5].quantile(0.75) == sorted(days.iloc[:5])[3]
