"""Win rate, narrow and broad, against hand-worked numbers and a simulation with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_fixtures import closed_deals, deals, random_funnel, tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def test_win_rate_overall_and_by_quarter_of_close(data):
    with pytest.warns(fk.SmallSampleWarning, match="3 observation"):
        overall = fk.win_rate(data).iloc[0]
    assert (overall["won"], overall["lost"], overall["closed"]) == (2, 1, 3)
    assert overall["rate"] == pytest.approx(2 / 3)
    by_q = fk.win_rate(data, period="Q").set_index("period")
    assert by_q[["won", "closed"]].to_dict("index") == {
        "2025 Q1": {"won": 1, "closed": 2},
        "2025 Q2": {"won": 1, "closed": 1},
    }
    # Wilson 95% for 1 of 2, by hand: centre (0.5 + 1.92/2) / (1 + 3.84/2) = 0.5; half-width 0.4055
    assert (round(by_q.loc["2025 Q1", "ci_low"], 4), round(by_q.loc["2025 Q1", "ci_high"], 4)) == (0.0945, 0.9055)


@pytest.mark.filterwarnings("ignore::funnelkit.SmallSampleWarning")
def test_broad_win_rate_counts_stalled_deals_as_lost(data):
    # O3 has been open 81 days at as_of
    assert fk.win_rate(data, stall_days=60).iloc[0]["broad_rate"] == pytest.approx(2 / 4)
    assert fk.win_rate(data, stall_days=90).iloc[0]["broad_rate"] == pytest.approx(2 / 3)


def test_win_rate_by_source(data):
    table = fk.win_rate(data, by="source").set_index("source")
    assert table[["won", "lost"]].to_dict("index") == {"A": {"won": 1, "lost": 0}, "B": {"won": 1, "lost": 1}}
    assert table["small_sample"].all()


@pytest.mark.filterwarnings("ignore::funnelkit.SmallSampleWarning")
def test_date_range_keeps_deals_closed_in_it(data):
    row = fk.win_rate(data, start="2025-02-12", end="2025-06-01").iloc[0]
    assert (row["won"], row["lost"]) == (2, 0)  # O1 (14 Feb) and O4 (9 May); O2 closed 11 Feb


def test_wilson_interval_covers_the_true_win_rate_about_95_percent_of_the_time():
    # 200 owners, each an independent draw of 2,000 closed deals won with probability 0.3
    table = fk.win_rate(closed_deals(200, 2_000, 0.3, seed=4), by="owner")
    assert len(table) == 200 and (table["closed"] == 2_000).all()
    coverage = np.mean((table["ci_low"] <= 0.3) & (table["ci_high"] >= 0.3))
    assert 0.90 <= coverage <= 0.99


def _one_closed_without_a_date() -> fk.Dataset:
    """Two deals closed in 2025 Q1 (one of them has lost its close date), two still open since Q1."""
    data = deals(["2025-01-01", "2025-02-01", "2025-02-01", "2025-03-01"], ["2025-03-01", "2025-03-02", None, None],
                 as_of="2025-07-15")  # fmt: skip
    opportunities = data.opportunities.copy()
    opportunities.loc[0, "closed_at"] = pd.NaT
    opportunities.loc[[1, 3], "source"] = "B"
    return fk.Dataset(data.leads, opportunities, data.events, stages=data.stages, as_of=data.as_of)


@pytest.mark.parametrize(
    "make",
    [
        tiny,
        lambda: random_funnel(2000, seed=3),
        # 2025 Q3 holds the two stalled deals and no close: a row without a rate
        lambda: deals(
            ["2025-01-01", "2025-02-01", "2025-02-01", "2025-03-01"],
            ["2025-03-01", None, "2025-02-15", None],
            as_of="2025-07-15",
        ),
        _one_closed_without_a_date,
        # no open deal has a created date: stalled deals not measurable
        lambda: deals([None, None, None], ["2025-03-01", None, None], as_of="2025-07-15"),
    ],
    ids=["tiny", "random", "stalled-only period", "undated close", "not measurable"],
)
def test_the_total_of_the_groups_is_the_win_rate_without_by(make):
    from funnelkit.metrics.win_rate import total_over_groups

    data = make()
    for by in ("source", "owner"):
        by_group = fk.win_rate(data, by=by, period="Q", stall_days=90)
        total = fk.win_rate(data, period="Q", stall_days=90)
        pd.testing.assert_frame_equal(total_over_groups(by_group), total)
        assert total_over_groups(by_group).attrs == total.attrs


def test_the_total_of_the_groups_by_hand():
    from funnelkit.metrics.win_rate import total_over_groups

    total = total_over_groups(fk.win_rate(_one_closed_without_a_date(), by="source", period="Q", stall_days=90))
    assert total["period"].tolist()[:2] == ["2025 Q1", "2025 Q3"] and pd.isna(total["period"].iloc[2])
    assert total[["won", "closed"]].to_numpy().tolist() == [[1, 1], [0, 0], [1, 1]]
    assert total["stalled"].tolist() == [0, 2, 0]  # open since 2025-02-01 and 2025-03-01: over 90 days at as_of
    assert np.isnan(total.loc[1, "rate"]) and total.loc[1, "broad_rate"] == 0.0
    assert total.loc[2, "note"] == "1 closed deal with no close date, in no period (the row without a period)"
