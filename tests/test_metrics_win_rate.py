"""Win rate, narrow and broad, against hand-worked numbers and a simulation with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from metrics_fixtures import closed_deals, tiny

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
