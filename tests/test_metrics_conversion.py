"""Conversion, overall conversion and drop-off, against counts worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from metrics_fixtures import random_funnel, tiny

import funnelkit as fk
from funnelkit import schema as s


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


def test_columns_are_in_the_documented_order(data):
    table = fk.conversion(data, by="source", period="Q")
    assert list(table.columns) == [
        "from_stage", "to_stage", "source", "period", "entered", "converted", "rate", "ci_low", "ci_high",
        "small_sample", "cumulative_rate", "horizon_days", "mature",
    ]  # fmt: skip


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


def test_fiscal_quarters_follow_the_fiscal_year(data):
    # fiscal year from February: January 2025 is FY2025 Q4; Feb-Apr 2025 is FY2026 Q1
    table = fk.conversion(data, from_stage="lead", to_stage="mql", period="Q", fiscal_year_start=2)
    got = {r.period: (r.entered, r.converted) for r in table.itertuples()}
    assert got == {"FY2025 Q4": (3, 3), "FY2026 Q1": (3, 2)}


def test_young_cohorts_are_flagged_not_read_as_a_drop(data):
    table = fk.conversion(data, from_stage="opportunity", to_stage="won", period="Q").set_index("period")
    # horizon: the 75th percentile of the observed step times 30 and 30 days = 30 days
    assert table.loc["2025 Q2", "horizon_days"] == pytest.approx(30.0)
    # Q1 ended 1 April: 30 days later is before as_of (30 June). Q2 ends 1 July: not yet.
    assert bool(table.loc["2025 Q1", "mature"]) and not bool(table.loc["2025 Q2", "mature"])
    later = fk.conversion(data.with_as_of("2025-08-15"), from_stage="opportunity", to_stage="won", period="Q")
    assert bool(later.set_index("period").loc["2025 Q2", "mature"])


def test_horizon_is_the_75th_percentile_of_step_times(data):
    # mql -> sql step times of the converted: L1 4, L4 4, L5 7 (skipped SQL: opportunity date), L6 2 days
    row = step(fk.conversion(data), "mql", "sql")
    assert row["horizon_days"] == pytest.approx(4.75)  # numpy's linear 75th percentile of 2, 4, 4, 7
    assert step(fk.conversion(data, window="10D"), "mql", "sql")["horizon_days"] == 10.0


def test_cumulative_rate_treats_open_members_as_censored(data):
    row = fk.conversion(data, from_stage="opportunity", to_stage="won").iloc[0]
    # plain: 2 won of 4. Kaplan-Meier by 30 days: events at 30 (O1) and 30 (O4);
    # O2 lost is followed to as_of (never converts), O3 censored at 81 days -> 2/4 by day 30
    assert row["rate"] == pytest.approx(0.5)
    assert row["cumulative_rate"] == pytest.approx(0.5)


def test_a_young_cohort_reads_low_plainly_but_not_cumulatively():
    # 10 deals created 1 March, all won after 30 days; 10 created 20 June, none won by as_of 30 June
    from metrics_fixtures import deals

    created = ["2025-03-01"] * 10 + ["2025-06-20"] * 10
    closed = ["2025-03-31"] * 10 + [None] * 10
    row = fk.conversion(deals(created, closed, as_of="2025-06-30")).iloc[0]
    assert row["rate"] == pytest.approx(0.5)  # the plain rate halves
    # Kaplan-Meier by 30 days: the 10 young deals are censored at 10 days; all 10 followed ones won at 30
    assert row["cumulative_rate"] == pytest.approx(1.0)
    assert not row["mature"]


def test_period_basis_counts_entries_per_period(data):
    table = fk.conversion(data, basis="period", period="Q", from_stage="lead", to_stage="mql")
    got = {r.period: (r.entered, r.converted) for r in table.itertuples()}
    assert got == {"2025 Q1": (4, 3), "2025 Q2": (2, 2)}


def test_date_range_keeps_entrants_of_the_range(data):
    row = fk.conversion(data, from_stage="lead", to_stage="mql", start="2025-02-01", end="2025-04-03").iloc[0]
    assert (row["entered"], row["converted"]) == (2, 1)  # L3 (no MQL) and L5


def test_overall_conversion(data):
    with pytest.warns(fk.SmallSampleWarning, match="6 observation"):
        row = fk.overall_conversion(data).iloc[0]
    assert (row["from_stage"], row["to_stage"], row["entered"], row["converted"]) == ("lead", "won", 6, 2)


def test_overall_conversion_by_group_does_not_warn(data, recwarn):
    table = fk.overall_conversion(data, by="source")
    assert table.set_index("source")["converted"].to_dict() == {"A": 1, "B": 1}
    assert not [w for w in recwarn if issubclass(w.category, fk.SmallSampleWarning)]


def test_dropoff(data):
    table = fk.dropoff(data).set_index("stage")
    assert table["reached"].to_dict() == {"lead": 6, "mql": 5, "sql": 4, "opportunity": 4, "won": 2}
    assert table["stopped"].to_dict() == {"lead": 1, "mql": 1, "sql": 0, "opportunity": 2, "won": 2}
    assert table.loc["mql", "disqualified"] == 1
    assert (table.loc["opportunity", "lost"], table.loc["opportunity", "still_open"]) == (1, 1)
    assert table.loc["opportunity", "lost_value"] == 500.0


def _with_opportunities(change: dict) -> fk.Dataset:
    """The tiny funnel with some opportunities' columns changed: ``{column: {opportunity id: value}}``."""
    data = tiny()
    opps = data.opportunities.copy()
    for column, values in change.items():
        for opportunity, value in values.items():
            opps.loc[opps[s.OPPORTUNITY_ID] == opportunity, column] = value
    return fk.Dataset(data.leads, opps, data.history, as_of=data.as_of)


def test_dropoff_lost_value_leaves_out_lost_deals_without_an_amount_and_says_so():
    # O2 (lost, L4, source B) loses its amount; O3 (L5, source B, open) is lost too, for 750
    data = _with_opportunities({
        s.AMOUNT: {"O2": float("nan")},
        s.STAGE: {"O3": "lost"}, s.IS_CLOSED: {"O3": True}, s.CLOSED_AT: {"O3": pd.Timestamp("2025-04-20", tz="UTC")},
    })  # fmt: skip
    row = fk.dropoff(data).set_index("stage").loc["opportunity"]
    assert (row["lost"], row["lost_value"]) == (2, 750.0)
    assert row["note"] == "1 lost deal without an amount, not in lost_value"
    by_source = fk.dropoff(data, by="source").set_index(["source", "stage"])
    assert by_source.loc[("B", "opportunity"), "lost_value"] == 750.0
    assert by_source.loc[("A", "opportunity"), "lost_value"] == 0.0  # nobody lost there: a true 0, no note
    assert pd.isna(by_source.loc[("A", "opportunity"), "note"])


def test_dropoff_lost_value_is_missing_where_no_lost_deal_has_an_amount():
    data = _with_opportunities({s.AMOUNT: {"O2": float("nan")}})  # O2 is the only lost deal
    table = fk.dropoff(data).set_index("stage")
    assert table.loc["opportunity", "lost"] == 1
    assert pd.isna(table.loc["opportunity", "lost_value"])  # unknown, never 0
    assert table.loc["opportunity", "note"] == "1 lost deal without an amount, not in lost_value"
    assert table.loc["won", "lost_value"] == 0.0 and pd.isna(table.loc["won", "note"])


def test_opportunity_only_data_converts_from_its_own_first_stage():
    from metrics_fixtures import deals

    data = deals(["2025-01-01", "2025-01-02", "2025-01-03"], ["2025-01-11", None, None], as_of="2025-03-01")
    table = fk.conversion(data)
    assert table[["from_stage", "to_stage", "entered", "converted"]].values.tolist() == [["opportunity", "won", 3, 1]]


def test_skipped_stages_count_as_passed(data):
    # L5 has no SQL date but became an opportunity: it entered SQL at its opportunity date
    table = fk.conversion(data, from_stage="sql", to_stage="opportunity", period="M")
    assert table.set_index("period")["entered"].to_dict() == {"2025-01": 2, "2025-04": 2}


def test_conversion_on_a_generated_funnel_recovers_the_true_rates():
    data = random_funnel(20_000, seed=11, mql_to_sql={"A": 0.4, "B": 0.25})
    table = fk.conversion(data, from_stage="mql", to_stage="sql", by="source").set_index("source")
    for source, truth in (("A", 0.4), ("B", 0.25)):
        assert table.loc[source, "ci_low"] <= truth <= table.loc[source, "ci_high"]


def test_bad_parameters_name_the_parameter(data):
    with pytest.raises(fk.ParameterError, match="basis must be one of"):
        fk.conversion(data, basis="weekly")
    with pytest.raises(fk.ParameterError, match="by='region' is not a column of the data"):
        fk.conversion(data, by="region")
    with pytest.raises(fk.ParameterError, match="window"):
        fk.conversion(data, window="soon")
    with pytest.raises(fk.ParameterError, match="period must be one of"):
        fk.conversion(data, period="D")
    with pytest.raises(fk.ParameterError, match="unknown stage 'demo'"):
        fk.conversion(data, from_stage="demo", to_stage="won")
    with pytest.raises(fk.ParameterError, match="must come after"):
        fk.conversion(data, from_stage="sql", to_stage="mql")


def test_dropoff_lost_value_is_missing_when_an_amount_names_no_currency_and_others_do():
    """An amount without a currency beside amounts in USD is a second, unknown currency: no sum across them
    (a loaded export quarantines such a cell; tables read in place by the engine can hold one)."""
    data = tiny()
    lost = data.opportunities["opportunity_id"] == "O2"  # the one lost deal: 500
    for currency, value in ((None, None), ("USD", 500.0)):
        opportunities = data.opportunities.assign(currency=data.opportunities["currency"].where(~lost, currency))
        changed = fk.Dataset(data.leads, opportunities, data.events, stages=data.stages, as_of=data.as_of)
        at_opportunity = fk.dropoff(changed).set_index("stage").loc["opportunity", "lost_value"]
        assert pd.isna(at_opportunity) if value is None else at_opportunity == value
