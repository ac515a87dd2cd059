"""Drop-off, time in each stage, velocity, drift, mix decomposition and qualify on the engine, worked by hand.

The six-lead funnel of ``metrics_fixtures.tiny`` (its table is in that module's
docstring) on DuckDB; every number below is counted from that table, not from
the in-memory metric (tests/test_engine_duckdb.py compares the two on larger
funnels through ``engine_cases.CALLS_A``).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pandas as pd
import pytest
from engine_cases import assert_same, connected
from metrics_fixtures import AS_OF, t, tiny

import funnelkit as fk
from funnelkit import schema as s


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory):
    return connected(tiny(), tmp_path_factory.mktemp("tiny_a"))


def with_history() -> fk.Dataset:
    """The tiny funnel with a stage history for O3 (L5's deal): opportunity 04-10, back to sql 04-12,
    opportunity again 04-15."""
    data = tiny()
    history = pd.DataFrame(
        {
            s.ENTITY_ID: ["O3", "O3", "O3"],
            s.ENTITY: ["opportunity"] * 3,
            s.STAGE: ["opportunity", "sql", "opportunity"],
            s.STAGE_LABEL: ["Proposal", "Qualification", "Proposal"],
            s.AT: pd.Series([t("2025-04-10"), t("2025-04-12"), t("2025-04-15")], dtype=s.TIMESTAMP),
            s.ORIGIN: ["history"] * 3,
        }
    )
    return fk.Dataset(data.leads, data.opportunities, history, as_of=AS_OF)


# ----------------------------------------------------------------------------------- dropoff --


def test_dropoff_by_hand(tiny_engine):
    table = fk.dropoff(tiny_engine)  # the public metric hands the engine's dataset to the engine
    rows = table.set_index("stage")
    # reached: all 6 leads; 5 MQLs (not L3); L1, L4, L5 (SQL skipped, filled) and L6 passed SQL and opportunity;
    # L1 and L6 won
    assert rows["reached"].tolist() == [6, 5, 4, 4, 2]
    # stopped: L3 at lead, L2 (disqualified) at mql, none at sql, L4 (lost) and L5 (open) at opportunity
    assert rows["stopped"].tolist() == [1, 1, 0, 2, 2]
    assert rows.loc["opportunity", ["lost", "disqualified", "still_open"]].tolist() == [1, 0, 1]
    assert rows.loc["mql", ["lost", "disqualified", "still_open"]].tolist() == [0, 1, 0]
    assert rows.loc["lead", "still_open"] == 1 and rows.loc["won", "still_open"] == 0
    assert rows["lost_value"].tolist() == [0.0, 0.0, 0.0, 500.0, 0.0]  # O2, lost for 500
    assert rows["stopped_share"].tolist() == pytest.approx([1 / 6, 1 / 5, 0.0, 0.5, 1.0])


def test_dropoff_by_source_by_hand(tiny_engine):
    table = tiny_engine.dropoff(by="source")
    a = table[table["source"] == "A"].set_index("stage")
    b = table[table["source"] == "B"].set_index("stage")
    assert a["reached"].tolist() == [3, 2, 1, 1, 1]  # L1-L3; L1, L2 MQLs; L1 on to won
    assert b["reached"].tolist() == [3, 3, 3, 3, 1]  # L4-L6 all to opportunity; L6 won
    assert b["stopped"].tolist() == [0, 0, 0, 2, 1]
    assert list(table.columns[:2]) == ["source", "stage"]


def test_dropoff_on_an_empty_funnel_says_there_is_nothing_to_count(tmp_path):
    data = tiny()
    empty = fk.Dataset(data.leads.iloc[:0], data.opportunities.iloc[:0], data.history, as_of=AS_OF)
    with pytest.raises(fk.NotMeasurableError, match="holds no leads and no deals"):
        connected(empty, tmp_path).dropoff()


# --------------------------------------------------------------------------- stage durations --


def test_stage_durations_by_hand(tiny_engine):
    table = fk.stage_durations(tiny_engine).set_index("stage")
    # lead -> mql: L1, L4, L5, L6 one day, L2 two days
    assert table.loc["lead", ["n", "median", "q25", "q75"]].tolist() == [5, 1.0, 1.0, 1.0]
    # mql -> sql: L1 4, L4 4, L6 2 days (L5 has no SQL date of its own): quartiles interpolate 2,4,4
    assert table.loc["mql", ["n", "median", "q25", "q75"]].tolist() == [3, 4.0, 3.0, 4.0]
    # sql -> opportunity: L1 5, L4 7, L6 1 day
    assert table.loc["sql", ["n", "median", "q25", "q75"]].tolist() == [3, 5.0, 3.0, 6.0]
    # opportunity -> won: O1 and O4, 30 days each
    assert table.loc["opportunity", ["n", "median"]].tolist() == [2, 30.0]
    assert table["backward_moves"].sum() == 0  # no stage history
    by_source = tiny_engine.stage_durations(by="source")
    a = by_source[(by_source["source"] == "A") & (by_source["stage"] == "lead")].iloc[0]
    assert (a["n"], a["median"]) == (2, 1.5)  # L1 one day, L2 two


def test_stage_durations_read_the_stage_history(tmp_path):
    data = with_history()
    engine = connected(data, tmp_path)
    table = engine.stage_durations().set_index("stage")
    # O3 went back from opportunity to sql once
    assert table["backward_moves"].tolist() == [0, 0, 1, 0]
    # L5's SQL entry now comes from its deal's history (04-12): mql -> sql adds 04-03 -> 04-12, 9 days;
    # sql -> opportunity for L5 would be negative (opportunity first on 04-10) and is left out
    assert table.loc["mql", ["n", "median"]].tolist() == [4, 4.0]  # 2, 4, 4, 9
    assert table.loc["sql", "n"] == 3
    assert_same(fk.stage_durations(data), table.reset_index())


# --------------------------------------------------------------------------------------- drift --


def test_drift_of_the_win_rate_by_hand(tiny_engine):
    table = fk.drift(tiny_engine, period="Q")
    # closed in Q1: O1 won, O2 lost; in Q2: O4 won
    assert table["period"].tolist() == ["2025 Q1", "2025 Q2"]
    assert table[["n", "successes"]].values.tolist() == [[2, 1], [1, 1]]
    assert table["value"].tolist() == [0.5, 1.0]
    assert table["change"].iloc[1] == 0.5
    # two-proportion z-test, pooled rate 2/3: z = 0.5 / sqrt(2/3 * 1/3 * (1/2 + 1/1))
    z = 0.5 / math.sqrt(2 / 3 * 1 / 3 * 1.5)
    assert table["p_value"].iloc[1] == pytest.approx(2 * (1 - NormalDist().cdf(z)), rel=1e-9)
    assert not table["significant"].any()


def test_drift_of_time_to_close_by_hand(tiny_engine):
    table = tiny_engine.drift(metric="time_to_close")
    # from deal creation: Q1 closes O2 after 10 days and O1 after 30; Q2 closes O4 after 30
    assert table[["period", "n", "value"]].values.tolist() == [["2025 Q1", 2, 20.0], ["2025 Q2", 1, 30.0]]
    assert table["change"].iloc[1] == 10.0
    # Mann-Whitney of [30] against [10, 30]: U = 1.5 of 2 pairs; with so few deals nothing is significant
    assert table["p_value"].iloc[1] > 0.05


# ---------------------------------------------------------------------------- mix decomposition --


def test_mix_decomposition_by_hand(tiny_engine):
    table = fk.mix_decomposition(tiny_engine, current="2025 Q2", previous="2025 Q1", by="source", metric="win_rate")
    rows = table.set_index("source")
    # Q1: A closes O1 (won), B closes O2 (lost): shares 1/2, 1/2, rates 1 and 0; Q2: only B closes O4 (won)
    assert rows.loc["A", ["share_previous", "share_current", "rate_previous", "rate_current"]].tolist() == [
        0.5, 0.0, 1.0, 1.0,  # A has no Q2 deal: it keeps its Q1 rate and weighs nothing
    ]  # fmt: skip
    assert rows.loc["B", ["share_previous", "share_current", "rate_previous", "rate_current"]].tolist() == [
        0.5, 1.0, 0.0, 1.0,
    ]  # fmt: skip
    # mix: A (0 - 1/2) x 1 = -0.5, B (1 - 1/2) x 1/2 = 0.25; rate: B (1 - 0) x 3/4 = 0.75
    assert rows["mix_effect"].tolist() == [-0.5, 0.25, -0.25]
    assert rows["rate_effect"].tolist() == [0.0, 0.75, 0.75]
    assert rows.loc["(total)", ["rate_previous", "rate_current", "total_change"]].tolist() == [0.5, 1.0, 0.5]


# ------------------------------------------------------------------------------------ velocity --


def test_velocity_by_hand(tiny_engine):
    table = fk.velocity(tiny_engine)
    # created in Q1: O1 (won 1,000 after 30 days), O2 (lost after 10); in Q2: O3 (open), O4 (won 2,000 after 30)
    assert table["period"].tolist() == ["2025 Q1", "2025 Q2"]
    assert table["currency"].tolist() == ["USD", "USD"]
    counts = table[["opportunities", "won", "closed", "won_without_amount"]]
    assert counts.values.tolist() == [[2, 1, 2, 0], [2, 1, 1, 0]]
    assert table["avg_deal_size"].tolist() == [1000.0, 2000.0]
    assert table["cycle_days"].tolist() == [20.0, 30.0]
    assert table["win_rate"].tolist() == [0.5, 1.0]
    # 2 x 1/2 x 1,000 / 20 days and 2 x 1 x 2,000 / 30 days
    assert table["velocity_per_day"].tolist() == pytest.approx([50.0, 400 / 3])


def test_velocity_in_one_of_two_currencies_by_hand(tmp_path):
    data = tiny()
    opps = data.opportunities.assign(currency=["USD", "EUR", "USD", "USD"])  # O2 (lost, 500) in euros
    engine = connected(fk.Dataset(data.leads, opps, data.history, as_of=AS_OF), tmp_path)
    with pytest.raises(fk.ParameterError, match=r"in 2 \(EUR, USD\): pass currency="):
        engine.velocity()
    table = engine.velocity(currency="USD")
    # Q1 now holds O1 alone: 1 x 1 x 1,000 / 30 days
    assert table[["period", "opportunities", "won", "closed"]].values.tolist() == [
        ["2025 Q1", 1, 1, 1],
        ["2025 Q2", 2, 1, 1],
    ]
    assert table["velocity_per_day"].tolist() == pytest.approx([1000 / 30, 400 / 3])


# ------------------------------------------------------------------------------------- qualify --


def test_qualify_by_hand(tiny_engine):
    table = fk.qualify(tiny_engine, "employees >= 100")
    rule = table[table["definition"] == "rule"]
    # L2 (500, created Q1, no deal), L4 (300, Q1, lost deal), L6 (1,000, Q2, won deal)
    assert rule[["period", "leads", "opportunities", "won"]].values.tolist() == [
        ["2025 Q1", 2, 1, 0],
        ["2025 Q2", 1, 1, 1],
        ["(all)", 3, 2, 1],
    ]
    current = table[table["definition"] == "current"]
    # MQLs by MQL date: L1, L2, L4 in Q1 (deals for L1, L4; L1 won), L5, L6 in Q2 (both deals; L6 won)
    assert current[["period", "leads", "opportunities", "won"]].values.tolist() == [
        ["2025 Q1", 3, 2, 1],
        ["2025 Q2", 2, 2, 1],
        ["(all)", 5, 4, 2],
    ]
    assert rule["to_opportunity_rate"].iloc[-1] == pytest.approx(2 / 3)
    assert "note" not in table  # every selected lead has its date


def test_qualify_rules_read_missing_values_as_pandas_does(tmp_path):
    data = tiny()
    leads = data.leads.assign(source=["A", "A", None, "B", "B", "B"])  # L3 without a source
    unsourced = fk.Dataset(leads, data.opportunities, data.history, as_of=AS_OF)
    engine = connected(unsourced, tmp_path)

    def selected(rule) -> int:
        table = engine.qualify(rule)
        return int(table.loc[(table["definition"] == "rule") & (table["period"] == "(all)"), "leads"].iloc[0])

    assert selected("source != 'A'") == 4  # L3 (no source) and L4-L6
    assert selected("source == 'A'") == 2  # L1, L2
    assert selected("source not in ['A'] & employees < 100") == 2  # L3 (20) and L5 (80)
    assert selected(lambda t: t["employees"] > 400) == 2  # a function of the lead table: L2, L6
    assert_same(fk.qualify(unsourced, "source != 'A'"), engine.qualify("source != 'A'"))
    with pytest.raises(fk.ParameterError, match="cannot be evaluated on the lead table"):
        engine.qualify("employes >= 100")
