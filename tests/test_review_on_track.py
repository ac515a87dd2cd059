"""Are we on track: the on-track summary on funnels small enough to work out by hand.

The six-lead funnel of metrics_fixtures (as of 2025-06-30): won in 2025 Q1 O1 1,000 USD; won in 2025 Q2 O4 2,000
USD; open O3 750 USD at the opportunity stage. Of the closed deals that reached the opportunity stage (O1 won, O2
lost, O4 won) 2 of 3 were won, so the open pipeline weighs 750 x 2/3 = 500 USD.
"""

from __future__ import annotations

import pandas as pd
import pytest
from metrics_fixtures import deals, t, tiny

import funnelkit as fk
from funnelkit.review import on_track


def as_of(data: fk.Dataset, moment: str) -> fk.Dataset:
    return fk.Dataset(data.leads, data.opportunities, data.events, stages=data.stages, as_of=t(moment))


def test_in_progress_with_a_quota_left_to_win_is_weighed_against_the_pipeline():
    result = fk.review(tiny(), period="Q", quota=5000)
    row = result.on_track.iloc[0]
    assert row["period"] == "2025 Q2" and row["status"] == "in progress"
    assert (row["period_start"], row["period_end"]) == (t("2025-04-01"), t("2025-06-30"))
    assert row["days_left"] == 1.0  # as of 2025-06-30 00:00, the period ends 2025-07-01 00:00
    assert row[["won_deals", "won_revenue", "target", "target_basis"]].tolist() == [1, 2000.0, 5000.0, "quota"]
    assert row["attainment"] == pytest.approx(0.4)
    assert row["left_to_win"] == 3000.0
    assert row["open"] == 1 and row["open_value"] == 750.0
    assert row["weighted_pipeline"] == pytest.approx(500.0)
    assert row["coverage"] == pytest.approx(500 / 3000)
    assert row["verdict"] == "behind"  # below 75% coverage
    first = result.on_track_text[0]
    assert first == (
        "<b>2025 Q2</b> (2025-04-01 to 2025-06-30) is in progress as of 2025-06-30, 1 day left: won 2,000 USD "
        "against the 5,000 USD quota (40%), 3,000 USD to go: <b>behind</b>."
    )
    assert "Opportunity: 1 deal, 750 USD, median age 81 days" in result.on_track_text[1]
    assert "worth 500 USD: 17% of the 3,000 USD left to win" in result.on_track_text[2]


@pytest.mark.parametrize(("quota", "coverage", "verdict"), [(2600, 500 / 600, "at risk"), (2500, 1.0, "on track")])
def test_the_verdict_cut_offs(quota, coverage, verdict):
    row = on_track(tiny(), quota=quota).iloc[0]
    assert row["coverage"] == pytest.approx(coverage)
    assert row["verdict"] == verdict


def test_in_progress_without_a_quota_compares_with_the_previous_quarter_when_a_year_earlier_is_not_in_the_data():
    # the data starts 2025-01-05: 2024 Q2 is not covered, so the target is 2025 Q1's 1,000 USD, already won
    row = fk.review(tiny(), period="Q").on_track.iloc[0]
    assert row[["target", "target_basis", "left_to_win", "verdict"]].tolist() == [
        1000.0,
        "the previous quarter (2025 Q1, from 2025-01-05 when the data starts)",
        0.0,
        "on track",
    ]
    assert row["attainment"] == 2.0
    assert row["note"] == "the target is already won"


def test_a_complete_period_never_reads_to_go():
    data = as_of(tiny(), "2025-07-15")  # the review's latest period (2025 Q2) has ended
    result = fk.review(data, period="Q", quota=5000)
    row = result.on_track.iloc[0]
    assert row[["period", "status", "won_revenue", "verdict"]].tolist() == ["2025 Q2", "complete", 2000.0, "behind"]
    assert pd.isna(row["left_to_win"]) and pd.isna(row["coverage"])
    text = " ".join(result.on_track_text)
    assert "to go" not in text and "left to win" not in text
    assert result.on_track_text[0] == (
        "<b>2025 Q2</b> (2025-04-01 to 2025-06-30) is complete: won 2,000 USD against the 5,000 USD quota (40%), "
        "3,000 USD short: <b>behind</b>."
    )
    met = fk.review(data, period="Q").on_track.iloc[0]  # against 2025 Q1: 1,000 USD
    assert met[["target", "verdict"]].tolist() == [1000.0, "on track"]
    assert "1,000 USD above it:" in fk.review(data, period="Q").on_track_text[0]


def test_without_a_quota_the_same_quarter_a_year_earlier_is_the_target_when_the_data_covers_it():
    # every closed deal is won at 100 USD; the data starts 2024-03-01, so 2024 Q2 is covered from its start
    data = deals(
        ["2024-03-01", "2024-03-02", "2024-12-01", "2025-04-01", "2025-05-01"],
        ["2024-04-10", "2024-05-10", "2025-01-10", "2025-04-15", None],
        as_of="2025-06-15",
    )
    row = fk.review(data, period="Q").on_track.iloc[0]
    assert row[["period", "won_revenue", "target", "target_basis"]].tolist() == [
        "2025 Q2",
        100.0,
        200.0,
        "the same quarter a year earlier (2024 Q2)",
    ]
    assert row["left_to_win"] == 100.0
    assert row["weighted_pipeline"] == 100.0  # one open deal of 100 at a stage whose closed deals were all won
    assert row[["coverage", "verdict"]].tolist() == [1.0, "on track"]
    assert row["days_left"] == 16.0


def test_money_is_compared_per_currency_and_a_quota_needs_one():
    data = tiny()
    opps = data.opportunities.copy()
    opps.loc[opps["opportunity_id"] == "O1", "currency"] = "EUR"  # won in Q1; Q2's O4 stays in USD
    mixed = fk.Dataset(data.leads, opps, data.events, stages=data.stages, as_of=data.as_of)
    table = on_track(mixed, quota=5000)
    assert table["currency"].tolist() == ["EUR", "USD"] and table["verdict"].isna().all()
    assert table["note"].str.startswith("won revenue is in 2 currencies (EUR, USD); the quota needs one").all()
    assert table["won_revenue"].tolist() == [0.0, 2000.0]  # never one sum of both
    usd = on_track(mixed, quota=5000, currency="USD")
    assert usd[["currency", "won_revenue", "target"]].values.tolist() == [["USD", 2000.0, 5000.0]]
