"""The engine's conversion takes two roads to a cohort's Kaplan-Meier share; both give the hand-worked numbers.

A cohort nobody in which is censored by the horizon gets the plain share
converted by then (the product telescopes); one with members censored earlier
goes through its distinct times. Here source A is the first kind, source B
the second, on a seven-lead table worked by hand.
"""

from __future__ import annotations

import pandas as pd
import pytest
from engine_cases import leads_only_engine

AS_OF = pd.Timestamp("2025-06-01", tz="UTC")


def _connected(tmp_path):
    day = pd.Timedelta(days=1)
    start, late = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-05-01", tz="UTC")
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(1, 8)],
            "source": ["A", "A", "A", "A", "B", "B", "B"],
            # A: MQL after 1, 2 and 10 days, L4 never (followed 151 days); B: L5 after 1 day, L7 after 3,
            # L6 entered half a day before as_of and is censored there
            "created_at": [start] * 4 + [late, AS_OF - day / 2, late],
            "mql_at": [start + day, start + 2 * day, start + 10 * day, pd.NaT, late + day, pd.NaT, late + 3 * day],
            "opportunity_id": pd.Series([None] * 7, dtype="string"),
        }
    )
    return leads_only_engine(tmp_path, leads, as_of=AS_OF)


def test_clean_and_censored_cohorts_by_hand(tmp_path):
    table = _connected(tmp_path).conversion(from_stage="lead", to_stage="mql", by="source")
    # horizon: the 75th percentile of the times to MQL 1, 1, 2, 3, 10 days is 3 days
    assert table["horizon_days"].tolist() == [3.0, 3.0]
    assert table[["source", "entered", "converted"]].to_dict("records") == [
        {"source": "A", "entered": 4, "converted": 3},
        {"source": "B", "entered": 3, "converted": 2},
    ]
    # A: at day 1, 1 of 4 at risk converts, at day 2, 1 of 3: 1 - 3/4 * 2/3 = 0.5, the plain 2 of 4 by day 3
    # B: L6 censored at half a day; day 1: 1 of 2 at risk, day 3: 1 of 1: 1 - 1/2 * 0 = 1 (the plain share, 2/3)
    assert table["cumulative_rate"].tolist() == pytest.approx([0.5, 1.0], abs=1e-12)


def test_entrants_in_the_dates_asked_for_by_hand(tmp_path):
    # from March on only B's leads entered: L5 (MQL after 1 day), L7 (after 3), L6 (half a day before as_of)
    engine = _connected(tmp_path)
    row = engine.conversion(from_stage="lead", to_stage="mql", start="2025-03-01").iloc[0]
    assert (row["entered"], row["converted"]) == (3, 2)
    assert row["horizon_days"] == 2.5  # the 75th percentile of 1 and 3 days: 1 + 0.75 * 2
    # L6 censored at half a day; day 1: 1 of 2 at risk converts; L7's 3 days lie past the horizon
    assert row["cumulative_rate"] == pytest.approx(0.5, abs=1e-12)
    # the latest entrant (L6, half a day before as_of) is followed 0.5 of the 2.5 days: not final
    assert not row["mature"]
    before = engine.conversion(from_stage="lead", to_stage="mql", end="2025-03-01").iloc[0]
    assert before[["entered", "converted", "horizon_days"]].tolist() == [4, 3, 6.0]  # of 1, 2 and 10 days
    assert before["mature"]
