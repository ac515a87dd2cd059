"""Conversion, drop-off and the MQL workbench, against counts worked out by hand."""

from __future__ import annotations

import pytest
from metrics_fixtures import tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def step(table, a, b):
    return table[(table["from_stage"] == a) & (table["to_stage"] == b)].iloc[0]


def test_every_consecutive_step(data):
    table = fk.conversion(data)
    expected = {("lead", "mql"): (6, 5), ("mql", "sql"): (5, 4), ("sql", "opportunity"): (4, 4),
                ("opportunity", "won"): (4, 2)}  # fmt: skip
    got = {(r.from_stage, r.to_stage): (r.entered, r.converted) for r in table.itertuples()}
    assert got == expected
    mql_sql = step(table, "mql", "sql")
    assert mql_sql["rate"] == pytest.approx(0.8)
    assert mql_sql["small_sample"]  # 5 < 20: shown as counts in reports


def test_wilson_interval_of_a_step(data):
    row = step(fk.conversion(data), "mql", "sql")
    # Wilson 95% for 4 of 5, by hand: (0.3755, 0.9638)
    assert (round(row["ci_low"], 4), round(row["ci_high"], 4)) == (0.3755, 0.9638)


def test_window_counts_only_fast_conversions(data):
    seven = step(fk.conversion(data, window="7D"), "mql", "sql")
    three = step(fk.conversion(data, window="3D"), "mql", "sql")
    assert (seven["converted"], three["converted"]) == (4, 1)  # L6 took 2 days; L1, L4 4 days; L5 7


def test_cohorts_by_source_and_quarter(data):
    table = fk.conversion(data, from_stage="lead", to_stage="mql", by="source", period="Q")
    got = {(r.source, r.period): (r.entered, r.converted) for r in table.itertuples()}
    assert got == {("A", "2025 Q1"): (3, 2), ("B", "2025 Q1"): (1, 1), ("B", "2025 Q2"): (2, 2)}


def test_young_cohorts_are_flagged_not_read_as_a_drop(data):
    table = fk.conversion(data, from_stage="opportunity", to_stage="won", period="Q").set_index("period")
    # horizon: the 90th percentile of the observed step times 30 and 30 days = 30 days
    assert table.loc["2025 Q2", "horizon_days"] == pytest.approx(30.0)
    # Q1 ended 1 April: 30 days later is before as_of (30 June). Q2 ends 1 July: not yet.
    assert bool(table.loc["2025 Q1", "mature"]) and not bool(table.loc["2025 Q2", "mature"])
    later = fk.conversion(data.with_as_of("2025-08-15"), from_stage="opportunity", to_stage="won", period="Q")
    assert bool(later.set_index("period").loc["2025 Q2", "mature"])


def test_cumulative_rate_treats_open_members_as_censored(data):
    row = fk.conversion(data, from_stage="opportunity", to_stage="won").iloc[0]
    # plain: 2 won of 4. Kaplan-Meier by 30 days: events at 30 (O1) and 30 (O4);
    # O2 lost is followed to as_of (never converts), O3 censored at 81 days -> 2/4 by day 30
    assert row["rate"] == pytest.approx(0.5)
    assert row["cumulative_rate"] == pytest.approx(0.5)


def test_period_basis_counts_entries_per_period(data):
    table = fk.conversion(data, basis="period", period="Q", from_stage="lead", to_stage="mql")
    got = {r.period: (r.entered, r.converted) for r in table.itertuples()}
    assert got == {"2025 Q1": (4, 3), "2025 Q2": (2, 2)}


def test_overall_conversion(data):
    row = fk.overall_conversion(data).iloc[0]
    assert (row["from_stage"], row["to_stage"], row["entered"], row["converted"]) == (
        "lead",
        "won",
        6,
        2,
    )


def test_dropoff(data):
    table = fk.dropoff(data).set_index("stage")
    assert table["reached"].to_dict() == {"lead": 6, "mql": 5, "sql": 4, "opportunity": 4, "won": 2}
    assert table["stopped"].to_dict() == {"lead": 1, "mql": 1, "sql": 0, "opportunity": 2, "won": 2}
    assert table.loc["mql", "disqualified"] == 1
    assert (table.loc["opportunity", "lost"], table.loc["opportunity", "still_open"]) == (1, 1)
    assert table.loc["opportunity", "lost_value"] == 500.0


def test_qualify_compares_a_rule_with_the_current_definition(data):
    table = fk.qualify(data, "source == 'B'")
    overall = table[table["period"] == "(all)"].set_index("definition")
    assert overall.loc["rule", ["leads", "opportunities", "won"]].tolist() == [3, 3, 1]
    assert overall.loc["current", ["leads", "opportunities", "won"]].tolist() == [5, 4, 2]
    monthly = table[(table["definition"] == "rule") & (table["period"] != "(all)")]
    assert dict(zip(monthly["period"], monthly["leads"], strict=True)) == {
        "2025-01": 1,
        "2025-04": 2,
    }
    callable_rule = fk.qualify(data, lambda f: f["employees"] >= 300)
    assert callable_rule.set_index(["definition", "period"]).loc[("rule", "(all)"), "leads"] == 3


def test_bad_parameters_name_the_parameter(data):
    with pytest.raises(fk.ParameterError, match="basis must be one of"):
        fk.conversion(data, basis="weekly")
    with pytest.raises(fk.ParameterError, match="by=\\['region'\\]"):
        fk.conversion(data, by="region")
    with pytest.raises(fk.ParameterError, match="window"):
        fk.conversion(data, window="soon")
    with pytest.raises(fk.ParameterError, match="cannot be evaluated"):
        fk.qualify(data, "no_such_column > 3")
