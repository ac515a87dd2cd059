"""Win rate, time to close, lead value, velocity and the plan, against hand-worked numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from metrics_fixtures import deals, tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def test_win_rate_overall_and_by_quarter_of_close(data):
    overall = fk.win_rate(data).iloc[0]
    assert (overall["won"], overall["lost"], overall["closed"]) == (2, 1, 3)
    assert overall["rate"] == pytest.approx(2 / 3)
    by_q = fk.win_rate(data, period="Q").set_index("period")
    assert by_q[["won", "closed"]].to_dict("index") == {
        "2025 Q1": {"won": 1, "closed": 2},
        "2025 Q2": {"won": 1, "closed": 1},
    }


def test_broad_win_rate_counts_stalled_deals_as_lost(data):
    # O3 has been open 81 days at as_of
    assert fk.win_rate(data, stall_days=60).iloc[0]["broad_rate"] == pytest.approx(2 / 4)
    assert fk.win_rate(data, stall_days=90).iloc[0]["broad_rate"] == pytest.approx(2 / 3)


def test_win_rate_by_source(data):
    table = fk.win_rate(data, by="source").set_index("source")
    assert table[["won", "lost"]].to_dict("index") == {
        "A": {"won": 1, "lost": 0},
        "B": {"won": 1, "lost": 1},
    }


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
    curve = fk.km_curve(data)
    assert curve["survival"].iloc[-1] == pytest.approx(0.25)


def test_time_to_close_from_lead_creation(data):
    row = fk.time_to_close(data, start="lead").iloc[0]
    # from lead creation: L1 40 days, L4 22, L6 34; L5 open for 89 days
    assert row["closed_median"] == 34.0


def test_stage_durations(data):
    table = fk.stage_durations(data).set_index("stage")
    # lead -> mql: 1, 2, 1, 1, 1 days (every MQL has its own date)
    assert table.loc["lead", "median"] == 1.0
    # mql -> sql, own dates only (L5 skipped its SQL date): 4, 4, 2 days
    assert (table.loc["mql", "n"], table.loc["mql", "median"]) == (3, 4.0)


def test_lead_value_by_source(data):
    table = fk.lead_value(data, matured_only=False).set_index("source")
    assert table.loc["A", ["leads", "mqls", "won", "won_revenue"]].tolist() == [3, 2, 1, 1000.0]
    assert table.loc["A", "revenue_per_lead"] == pytest.approx(1000 / 3)
    assert table.loc["A", "revenue_per_mql"] == pytest.approx(500.0)
    assert table.loc["B", "revenue_per_lead"] == pytest.approx(2000 / 3)
    assert table["currency"].unique().tolist() == ["USD"]


def test_lead_value_with_spend(data):
    spend = pd.DataFrame({"source": ["A", "B"], "period": ["2025 Q1", "2025 Q1"], "spend": [300.0, 4000.0]})
    table = fk.lead_value(data, matured_only=False, spend=spend).set_index("source")
    assert table.loc["A", "cost_per_lead"] == pytest.approx(100.0)
    assert table.loc["A", "roi"] == pytest.approx((1000 - 300) / 300)
    assert table.loc["B", "cost_per_won"] == pytest.approx(4000.0)


def test_lead_value_keeps_only_matured_leads(data):
    # lead -> won: 40 and 34 days; 75th percentile 38.5: leads created by 22 May count
    table = fk.lead_value(data)
    assert table["leads"].sum() == 6
    cut = fk.lead_value(data.with_as_of("2025-05-01"), maturity_days=30)
    assert cut["leads"].sum() == 6 - 2  # L5 and L6 (April) are too young


def test_velocity(data):
    table = fk.velocity(data, period="Q").set_index("period")
    q1 = table.loc["2025 Q1"]
    # Q1 opportunities O1 (won, 1000, 30 days) and O2 (lost, 10 days)
    assert (q1["opportunities"], q1["won"], q1["cycle_days"]) == (2, 1, 20.0)
    assert q1["velocity_per_day"] == pytest.approx(2 * 0.5 * 1000 / 20)


def test_plan_reproduces_the_known_example():
    table = fk.plan(quota=500_000, deal_size=2_000, win_rate=0.23, sql_to_opportunity=0.82, mql_to_sql=0.34)
    assert table.set_index("stage")["needed"].to_dict() == {
        "won": 250,
        "opportunity": 1087,
        "sql": 1326,
        "mql": 3900,
    }
    mql = table.set_index("stage").loc["mql"]
    assert mql["value_per_unit"] == pytest.approx(500_000 / 3900)
    with_leads = fk.plan(
        quota=500_000,
        deal_size=2_000,
        win_rate=0.23,
        sql_to_opportunity=0.82,
        mql_to_sql=0.34,
        lead_to_mql=0.5,
    )
    assert with_leads.set_index("stage").loc["lead", "needed"] == 7800


def test_plan_measures_missing_rates_from_data(data):
    table = fk.plan(quota=10_000, data=data).set_index("stage")
    # deal size 1,500 (mean of 1,000 and 2,000) -> 7 deals; win rate 2/3 -> 11 opportunities;
    # sql->opportunity 4/4 -> 11; mql->sql 4/5 -> 14; lead->mql 5/6 -> 17
    assert table["needed"].to_dict() == {
        "won": 7,
        "opportunity": 11,
        "sql": 11,
        "mql": 14,
        "lead": 17,
    }
    assert set(table["rate_basis"].dropna()) == {"measured"}
    # lead time: median days from MQL to won over L1 (39) and L6 (33)
    assert table.loc["mql", "lead_time_days"] == 36.0
    assert math.isclose(table.loc["won", "value_per_unit"], 10_000 / 7)


def test_plan_rejects_impossible_rates():
    with pytest.raises(fk.ParameterError, match="win_rate must be in"):
        fk.plan(quota=1000, deal_size=10, win_rate=1.5, sql_to_opportunity=0.5, mql_to_sql=0.5)
    with pytest.raises(fk.ParameterError, match="deal_size is required"):
        fk.plan(quota=1000, win_rate=0.5, sql_to_opportunity=0.5, mql_to_sql=0.5)


def test_plan_per_source_follows_the_current_mix(data):
    table = fk.plan(quota=3_000, data=data, by="source").set_index(["source", "stage"])
    # won revenue: A 1,000, B 2,000 -> quotas 1,000 and 2,000
    assert table.loc[("A", "won"), "quota"] == pytest.approx(1_000)
    # A: deal 1,000 -> 1 deal; win 1/1 -> 1 opp; sql->opp 1/1 -> 1; mql->sql 1/2 -> 2; lead->mql 2/3 -> 3
    assert [table.loc[("A", s), "needed"] for s in ("won", "opportunity", "sql", "mql", "lead")] == [1, 1, 1, 2, 3]
    # B: deal 2,000 -> 1 deal; win 1/2 -> 2 opps; sql->opp 3/3 -> 2; mql->sql 3/3 -> 2; lead->mql 3/3 -> 2
    assert [table.loc[("B", s), "needed"] for s in ("won", "opportunity", "sql", "mql", "lead")] == [1, 2, 2, 2, 2]
