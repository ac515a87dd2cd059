"""The reverse funnel: the known example from practice, and rates measured from data."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from metrics_fixtures import tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def test_plan_reproduces_the_known_example():
    table = fk.plan(quota=500_000, deal_size=2_000, win_rate=0.23, sql_to_opportunity=0.82, mql_to_sql=0.34)
    assert table.set_index("stage")["needed"].to_dict() == {"won": 250, "opportunity": 1087, "sql": 1326, "mql": 3900}
    mql = table.set_index("stage").loc["mql"]
    assert mql["value_per_unit"] == pytest.approx(500_000 / 3900)
    assert set(table["rate_basis"].dropna()) == {"given"}
    with_leads = fk.plan(
        quota=500_000, deal_size=2_000, win_rate=0.23, sql_to_opportunity=0.82, mql_to_sql=0.34, lead_to_mql=0.5
    )
    assert with_leads.set_index("stage").loc["lead", "needed"] == 7800


def test_plan_measures_missing_rates_from_data(data):
    with pytest.warns(fk.SmallSampleWarning, match="rate_n"):
        table = fk.plan(quota=10_000, data=data).set_index("stage")
    # deal size 1,500 (mean of 1,000 and 2,000) -> 7 deals; win rate 2/3 -> 11 opportunities;
    # sql->opportunity 4/4 -> 11; mql->sql 4/5 -> 14; lead->mql 5/6 -> 17
    assert table["needed"].to_dict() == {"won": 7, "opportunity": 11, "sql": 11, "mql": 14, "lead": 17}
    assert set(table["rate_basis"].dropna()) == {"measured"}
    assert table["rate_n"].dropna().tolist() == [3, 4, 5, 6]  # closed deals, SQLs, MQLs, leads
    # lead time: median days from MQL to won over L1 (39) and L6 (33)
    assert table.loc["mql", "lead_time_days"] == 36.0
    assert math.isclose(table.loc["won", "value_per_unit"], 10_000 / 7)


def test_given_rates_win_over_measured_ones(data):
    with pytest.warns(fk.SmallSampleWarning):
        table = fk.plan(quota=10_000, deal_size=1_000, win_rate=0.5, data=data).set_index("stage")
    # 10 deals of 1,000; given win rate 0.5 -> 20 opportunities; the rest measured (sql->opp 4/4 -> 20)
    assert table.loc["opportunity", ["needed", "rate_basis"]].tolist() == [20, "given"]
    assert pd.isna(table.loc["opportunity", "rate_n"])
    assert table.loc["sql", ["needed", "rate_basis", "rate_n"]].tolist() == [20, "measured", 4]


def test_plan_rejects_impossible_rates():
    with pytest.raises(fk.ParameterError, match="win_rate must be in"):
        fk.plan(quota=1000, deal_size=10, win_rate=1.5, sql_to_opportunity=0.5, mql_to_sql=0.5)
    with pytest.raises(fk.ParameterError, match="deal_size is required"):
        fk.plan(quota=1000, win_rate=0.5, sql_to_opportunity=0.5, mql_to_sql=0.5)
    with pytest.raises(fk.ParameterError, match="quota must be positive"):
        fk.plan(quota=0, deal_size=10)


def test_a_plan_no_funnel_could_hold_is_refused_with_its_reason():
    # found by the partial-export property test: a won deal of 5e-324 made 10,000 / deal size infinite
    with pytest.raises(fk.NotMeasurableError, match=r"would need inf won deals.*average deal of 4.94066e-324"):
        fk.plan(quota=10_000, deal_size=5e-324, win_rate=0.5, sql_to_opportunity=0.5, mql_to_sql=0.5)
    with pytest.raises(fk.NotMeasurableError, match=r"would need 1e\+20 opportunities, .* a win_rate of 1e-16"):
        fk.plan(quota=10_000, deal_size=1, win_rate=1e-16, sql_to_opportunity=0.5, mql_to_sql=0.5)
    # 10**15 is the most a plan counts: exactly that many is a plan
    table = fk.plan(quota=10**15, deal_size=1, win_rate=1, sql_to_opportunity=1, mql_to_sql=1)
    assert table["needed"].tolist() == [10**15] * 4


def test_plan_per_source_follows_the_current_mix(data):
    with pytest.warns(fk.SmallSampleWarning):
        table = fk.plan(quota=3_000, data=data, by="source").set_index(["source", "stage"])
    # won revenue: A 1,000, B 2,000 -> quotas 1,000 and 2,000
    assert table.loc[("A", "won"), "quota"] == pytest.approx(1_000)
    # A: deal 1,000 -> 1 deal; win 1/1 -> 1 opp; sql->opp 1/1 -> 1; mql->sql 1/2 -> 2; lead->mql 2/3 -> 3
    assert [table.loc[("A", s), "needed"] for s in ("won", "opportunity", "sql", "mql", "lead")] == [1, 1, 1, 2, 3]
    # B: deal 2,000 -> 1 deal; win 1/2 -> 2 opps; sql->opp 3/3 -> 2; mql->sql 3/3 -> 2; lead->mql 3/3 -> 2
    assert [table.loc[("B", s), "needed"] for s in ("won", "opportunity", "sql", "mql", "lead")] == [1, 2, 2, 2, 2]
