"""Time to close (Kaplan-Meier, open deals censored), the survival curve and time in each stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_fixtures import deals, empty_events, tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def test_one_open_deal_moves_the_kaplan_meier_median():
    closed_only = deals(
        ["2025-01-01"] * 4,
        ["2025-01-11", "2025-01-21", "2025-01-31", "2025-02-10"],
        as_of="2025-03-01",
    )
    assert fk.time_to_close(closed_only).iloc[0]["median"] == 20.0  # 10, 20, 30, 40 days
    # add a deal open for 15 days at as_of: by hand S(10)=4/5, S(20)=4/5*2/3=0.533, S(30)=0.267
    with_open = deals(
        ["2025-01-01"] * 4 + ["2025-02-14"],
        ["2025-01-11", "2025-01-21", "2025-01-31", "2025-02-10", None],
        as_of="2025-03-01",
    )
    row = fk.time_to_close(with_open).iloc[0]
    assert (row["median"], row["q25"], row["q75"]) == (30.0, 20.0, 40.0)
    assert row["closed_median"] == 25.0  # the naive median ignores the open deal
    assert (row["n"], row["n_closed"], row["n_censored"]) == (5, 4, 1)


def test_time_to_close_of_the_tiny_funnel(data):
    row = fk.time_to_close(data).iloc[0]
    # closed: 30, 10, 30 days; O3 censored at 81: S(10)=3/4, S(30)=3/4*1/3=1/4
    assert (row["q25"], row["median"], row["q75"]) == (10.0, 30.0, 30.0)
    assert row["small_sample"]


def test_km_curve_steps_down_at_each_close(data):
    curve = fk.km_curve(data)
    # the curve runs on to the open deal's 81 days of follow-up
    expected = {0.0: 1.0, 10.0: 0.75, 30.0: 0.25, 81.0: 0.25}
    assert dict(zip(curve["days"], curve["survival"].round(4), strict=True)) == expected
    by_source = fk.km_curve(data, by="source")
    assert set(by_source["source"]) == {"A", "B"}
    assert list(by_source.columns) == ["source", "days", "survival", "n"]


def test_time_to_close_from_lead_creation(data):
    row = fk.time_to_close(data, from_stage="lead").iloc[0]
    # from lead creation: L1 40 days, L4 22, L6 34; L5 open for 89 days
    assert row["closed_median"] == 34.0
    assert (row["n"], row["n_censored"]) == (4, 1)


def test_time_to_close_by_source_and_period(data):
    table = fk.time_to_close(data, by="source", period="Q").set_index(["source", "period"])
    assert table["n"].to_dict() == {("A", "2025 Q1"): 1, ("B", "2025 Q1"): 1, ("B", "2025 Q2"): 2}
    # B, 2025 Q2: O4 won after 30 days, O3 open 81 days -> S(30) = 1/2: median 30, q75 unknown
    row = table.loc[("B", "2025 Q2")]
    assert row["median"] == 30.0 and np.isnan(row["q75"])


def test_from_stage_must_be_known(data):
    with pytest.raises(fk.ParameterError, match="from_stage must be one of .*'opportunity', 'lead', 'mql'"):
        fk.time_to_close(data, from_stage="first_touch")


def test_the_old_name_start_still_works_with_a_deprecation_warning(data):
    with pytest.warns(DeprecationWarning, match="start= is now named from_stage="):
        old = fk.time_to_close(data, start="lead")
    pd.testing.assert_frame_equal(old, fk.time_to_close(data, from_stage="lead"))


def test_stage_durations(data):
    table = fk.stage_durations(data).set_index("stage")
    # lead -> mql: 1, 2, 1, 1, 1 days (every MQL has its own date, L5 too though it skipped SQL later)
    assert (table.loc["lead", "n"], table.loc["lead", "median"]) == (5, 1.0)
    # mql -> sql, own dates only (L5 skipped its SQL date): 4, 4, 2 days
    assert (table.loc["mql", "n"], table.loc["mql", "median"]) == (3, 4.0)
    assert (table.loc["mql", "q25"], table.loc["mql", "q75"]) == (3.0, 4.0)
    # sql -> opportunity: L1 5, L4 7, L6 1 days; L5 has no SQL date of its own
    assert (table.loc["sql", "n"], table.loc["sql", "median"]) == (3, 5.0)
    # opportunity -> won: the won deals O1 and O4, 30 days each
    assert (table.loc["opportunity", "n"], table.loc["opportunity", "median"]) == (2, 30.0)
    assert table["backward_moves"].sum() == 0  # no stage history in this export
    by_source = fk.stage_durations(data, by="source").set_index(["source", "stage"])
    assert by_source.loc[("B", "lead"), "n"] == 3


def _one_won_deal() -> pd.DataFrame:
    """Opportunity O1: created 1 January 2025, won 1 February (no lead)."""
    return pd.DataFrame(
        {
            "opportunity_id": ["O1"],
            "lead_id": pd.Series([None], dtype="str"),
            "created_at": pd.Series([pd.Timestamp("2025-01-01", tz="UTC")]),
            "closed_at": pd.Series([pd.Timestamp("2025-02-01", tz="UTC")]),
            "stage": ["won"],
            "stage_label": ["Won"],
            "is_closed": [True],
            "is_won": [True],
            "amount": [1.0],
            "currency": ["USD"],
            "source": ["A"],
            "owner": ["ann"],
            "lost_reason": pd.Series([None], dtype="str"),
        }
    )


def test_backward_moves_come_from_stage_history():
    opps = _one_won_deal()
    at = pd.to_datetime(["2025-01-01", "2025-01-05", "2025-01-09", "2025-01-20", "2025-02-01"], utc=True)
    history = empty_events().reindex(range(5))
    history = history.assign(
        entity_id="O1", entity="opportunity", stage=["proposal", "negotiation", "proposal", "negotiation", "won"],
        stage_label="x", at=at.astype("datetime64[ns, UTC]"), origin="history",
    )  # fmt: skip
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in fk.schema.LEAD_COLUMNS.items()})
    stages = fk.Stages(names=("proposal", "negotiation", "won"), opportunity="proposal")
    data = fk.Dataset(leads, opps, history, stages=stages)
    table = fk.stage_durations(data).set_index("stage")
    assert table.loc["proposal", "backward_moves"] == 1  # negotiation -> proposal on 9 January
    assert table.loc["proposal", "median"] == 4.0  # first entries count: 1 Jan -> 5 Jan


def test_stage_entries_at_the_same_moment_are_no_move_back_whatever_their_file_order():
    opps = _one_won_deal()
    # proposal on 1 January; negotiation written before proposal, both on 5 January: a tie, not a move back
    at = pd.to_datetime(["2025-01-01", "2025-01-05", "2025-01-05", "2025-02-01"], utc=True)
    history = empty_events().reindex(range(4))
    history = history.assign(
        entity_id="O1", entity="opportunity", stage=["proposal", "negotiation", "proposal", "won"],
        stage_label="x", at=at.astype("datetime64[ns, UTC]"), origin="history",
    )  # fmt: skip
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in fk.schema.LEAD_COLUMNS.items()})
    stages = fk.Stages(names=("proposal", "negotiation", "won"), opportunity="proposal")
    table = fk.stage_durations(fk.Dataset(leads, opps, history, stages=stages)).set_index("stage")
    # in funnel order: proposal (1 Jan), proposal, negotiation (5 Jan), won; in file order it would be one move back
    assert table["backward_moves"].to_dict() == {"proposal": 0, "negotiation": 0}
