"""What changed and why: the change in won revenue split into volume x conversion x win rate x deal size.

Hand table (one currency, USD), periods 2025 Q1 and 2025 Q2:

    period  leads  opportunities  won (amounts)      revenue  avg deal
    Q1      10     4              2 (100, 300)       400      200
    Q2      20     5              1 (600)            600      600

volume 10 -> 20, conversion 4/10 = 0.4 -> 5/20 = 0.25, win rate 2/4 = 0.5 -> 1/5 = 0.2, deal size 200 -> 600;
10 x 0.4 x 0.5 x 200 = 400 and 20 x 0.25 x 0.2 x 600 = 600: a change of +200.
"""

from __future__ import annotations

from itertools import permutations
from math import prod

import pandas as pd
import pytest
from metrics_fixtures import _column, empty_events, t

import funnelkit as fk
from funnelkit import schema as s


def two_quarters() -> fk.Dataset:
    created = ["2025-01-10"] * 10 + ["2025-04-10"] * 20
    opp_of = {0: "O1", 1: "O2", 2: "O3", 3: "O4", 10: "O5", 11: "O6", 12: "O7", 13: "O8", 14: "O9"}
    ids = [opp_of.get(i) for i in range(30)]
    converted = [("2025-01-20" if i < 10 else "2025-04-20") if ids[i] else None for i in range(30)]
    leads = pd.DataFrame(
        {
            s.LEAD_ID: [f"L{i}" for i in range(30)],
            s.CREATED_AT: _column(created),
            s.SOURCE: ["Web"] * 30,
            s.OWNER: ["ann"] * 30,
            s.CONVERTED_AT: _column(converted),
            s.OPPORTUNITY_ID: ids,
        }
    )
    # O1, O2 won in Q1 (100, 300); O3 lost; O4 open; O5 won in Q2 (600); O6, O7 lost; O8, O9 open
    outcome = {
        "O1": ("won", "2025-02-20", 100.0),
        "O2": ("won", "2025-03-01", 300.0),
        "O3": ("lost", "2025-03-05", 50.0),
        "O4": ("opportunity", None, 70.0),
        "O5": ("won", "2025-05-20", 600.0),
        "O6": ("lost", "2025-05-01", 1.0),
        "O7": ("lost", "2025-06-01", 1.0),
        "O8": ("opportunity", None, 9.0),
        "O9": ("opportunity", None, 9.0),
    }
    opp_ids = list(outcome)
    lead_of = {v: f"L{k}" for k, v in opp_of.items()}
    opps = pd.DataFrame(
        {
            s.OPPORTUNITY_ID: opp_ids,
            s.LEAD_ID: [lead_of[o] for o in opp_ids],
            s.CREATED_AT: _column([converted[int(lead_of[o][1:])] for o in opp_ids]),
            s.CLOSED_AT: _column([outcome[o][1] for o in opp_ids]),
            s.STAGE: [outcome[o][0] for o in opp_ids],
            s.STAGE_LABEL: [outcome[o][0] for o in opp_ids],
            s.IS_CLOSED: [outcome[o][1] is not None for o in opp_ids],
            s.IS_WON: [outcome[o][0] == "won" for o in opp_ids],
            s.AMOUNT: [outcome[o][2] for o in opp_ids],
            s.CURRENCY: ["USD"] * len(opp_ids),
            s.SOURCE: ["Web"] * len(opp_ids),
            s.OWNER: ["ann"] * len(opp_ids),
            s.LOST_REASON: [None] * len(opp_ids),
        }
    )
    return fk.Dataset(leads, opps, empty_events(), as_of=t("2025-06-30"))


def shapley_by_orders(before: list[float], after: list[float]) -> list[float]:
    """Independent check: each factor's effect averaged over the 24 orders in which the four can change."""
    n, out = len(before), [0.0] * len(before)
    orders = list(permutations(range(n)))
    for order in orders:
        values = list(before)
        for i in order:
            old = prod(values)
            values[i] = after[i]
            out[i] += (prod(values) - old) / len(orders)
    return out


def test_the_four_factors_and_their_contributions_add_up_to_the_change():
    table = fk.revenue_change(two_quarters(), period="Q").set_index("factor")
    assert table.loc["volume", ["previous_value", "current_value"]].tolist() == [10, 20]
    assert table.loc["conversion", ["previous_value", "current_value"]].tolist() == [0.4, 0.25]
    assert table.loc["win_rate", ["previous_value", "current_value"]].tolist() == [0.5, 0.2]
    assert table.loc["deal_size", ["previous_value", "current_value"]].tolist() == [200.0, 600.0]
    assert table.loc["total", ["previous_value", "current_value", "change"]].tolist() == [400.0, 600.0, 200.0]
    assert table.loc["win_rate", "change"] == pytest.approx(-0.3)  # -30 points
    assert (table["previous_period"].unique().tolist(), table["current_period"].unique().tolist()) == (
        ["2025 Q1"],
        ["2025 Q2"],
    )
    expected = shapley_by_orders([10, 0.4, 0.5, 200], [20, 0.25, 0.2, 600])
    parts = table.loc[["volume", "conversion", "win_rate", "deal_size"], "contribution"].tolist()
    assert parts == pytest.approx(expected)
    assert sum(parts) == pytest.approx(200.0)
    assert parts[2] < 0 < parts[3]  # the win rate fell, deals grew


def test_a_period_without_won_deals_still_splits_exactly():
    data = two_quarters()
    opps = data.opportunities.copy()
    opps.loc[opps[s.OPPORTUNITY_ID] == "O5", [s.STAGE, s.IS_WON]] = ["lost", False]  # Q2: no won deal, revenue 0
    table = fk.revenue_change(fk.Dataset(data.leads, opps, data.events, as_of=data.as_of)).set_index("factor")
    assert table.loc["total", "change"] == -400.0
    assert table.loc["deal_size", "contribution"] == 0.0  # no won deal in Q2: the deal size has nothing to move
    assert table.loc[["volume", "conversion", "win_rate", "deal_size"], "contribution"].sum() == pytest.approx(-400.0)


def test_the_review_says_which_rates_moved_in_points():
    result = fk.review(two_quarters(), period="Q", by=None)
    said = " ".join(result.findings)
    assert "Won revenue went from 400 USD in 2025 Q1 to 600 USD in 2025 Q2 (+200 USD)" in said
    assert "won deals per opportunity 50.0% to 20.0% (-30.0 points)" in said


def test_more_won_than_created_is_said_to_be_a_ratio_of_counts_not_a_win_rate(tmp_path):
    # Q1: 4 opportunities created, 1 won; Q2: 1 created, 3 won (two deals of Q1 closing): 3 won per opportunity
    (tmp_path / "deals.csv").write_text(
        "id,stage,created,closed,amount\n"
        "O1,Won,2025-01-05,2025-04-10,100\n"
        "O2,Won,2025-01-06,2025-04-11,100\n"
        "O3,Won,2025-01-07,2025-02-01,100\n"
        "O4,Open,2025-01-08,,100\n"
        "O5,Won,2025-04-02,2025-05-01,100\n"
    )
    mapping = {
        "tables": {
            "opportunities": {
                "columns": {"opportunity_id": "id", "stage_label": "stage", "created_at": "created",
                            "closed_at": "closed", "amount": "amount"},
                "currency": "USD",
            }
        },
        "stages": {"names": ["opportunity", "won"], "opportunity": "opportunity",
                   "labels": {"Open": "opportunity", "Won": "won"}},
    }  # fmt: skip
    data = fk.load(tmp_path / "deals.csv", mapping=mapping, date_order="ymd", tz="UTC", cache=False)
    table = fk.revenue_change(data, current="2025 Q2", previous="2025 Q1")
    win = table.set_index("factor").loc["win_rate"]
    assert (win["previous_value"], win["current_value"]) == (0.25, 3.0)
    assert "in 2025 Q2 more deals were won than opportunities were created" in win["note"]
