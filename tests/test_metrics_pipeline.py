"""Open pipeline, stall lines, stalled deals and coverage, against hand-worked numbers.

The hand-built funnel (stages opportunity > proposal > won; as_of 2025-06-30):

    deal  created  proposal   outcome            amount   days opp->proposal  days proposal->won
    D1    01-01    01-11      won 02-10          1000 USD 10                  30
    D2    01-01    01-21      won 03-02          2000 USD 20                  40
    D3    02-01    03-03      lost 04-02          500 USD 30                  -
    D4    02-01    -          lost 02-15          300 EUR -                   -
    D5    02-01    03-13      won 05-12          1500 EUR 40                  60
    O1    06-10    -          open (20 days)      400 USD
    O2    05-01    -          open (60 days)      600 USD
    O3    03-12    05-01      open (60 in stage)  800 USD 50
    O4    03-22    05-21      open (40 in stage)  900 EUR 60
    O5    01-21    04-01      open (90 in stage)  no amount, EUR 70

Stall lines (75th percentile, linear): opportunity -> proposal over 10, 20, 30, 40, 50,
60, 70 days = 55 days; proposal -> won over 30, 40, 60 days = 40 + 0.5 x 20 = 50 days.
Stalled: O2 (60 > 55), O3 (60 > 50), O5 (90 > 50). Stage win rates: of the 5 closed
deals that reached the opportunity stage 3 were won (0.6); of the 4 that reached
proposal 3 were won (0.75).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_fixtures import _column, empty_events, t

import funnelkit as fk
from conftest import shared_path
from funnelkit import schema as s

AS_OF = "2025-06-30"


def _deals_table(rows: list[tuple]) -> pd.DataFrame:
    ids, created, proposal, closed, outcome, amount, currency = zip(*rows, strict=True)
    closed_flag = [o in ("won", "lost") for o in outcome]
    return pd.DataFrame(
        {
            s.OPPORTUNITY_ID: list(ids),
            s.LEAD_ID: [None] * len(ids),
            s.CREATED_AT: _column(created),
            s.CLOSED_AT: _column(closed),
            s.STAGE: list(outcome),
            s.STAGE_LABEL: list(outcome),
            s.IS_CLOSED: closed_flag,
            s.IS_WON: [o == "won" for o in outcome],
            s.AMOUNT: [np.nan if a is None else float(a) for a in amount],
            s.CURRENCY: list(currency),
            s.SOURCE: ["Web"] * len(ids),
            s.OWNER: ["ann", "bob"] * (len(ids) // 2) + ["ann"] * (len(ids) % 2),
            s.LOST_REASON: [None] * len(ids),
            "proposal_at": _column(proposal),
        }
    )


def proposal_funnel(as_of: str = AS_OF) -> fk.Dataset:
    opps = _deals_table(
        [
            ("D1", "2025-01-01", "2025-01-11", "2025-02-10", "won", 1000, "USD"),
            ("D2", "2025-01-01", "2025-01-21", "2025-03-02", "won", 2000, "USD"),
            ("D3", "2025-02-01", "2025-03-03", "2025-04-02", "lost", 500, "USD"),
            ("D4", "2025-02-01", None, "2025-02-15", "lost", 300, "EUR"),
            ("D5", "2025-02-01", "2025-03-13", "2025-05-12", "won", 1500, "EUR"),
            ("O1", "2025-06-10", None, None, "opportunity", 400, "USD"),
            ("O2", "2025-05-01", None, None, "opportunity", 600, "USD"),
            ("O3", "2025-03-12", "2025-05-01", None, "proposal", 800, "USD"),
            ("O4", "2025-03-22", "2025-05-21", None, "proposal", 900, "EUR"),
            ("O5", "2025-01-21", "2025-04-01", None, "proposal", None, "EUR"),
        ]
    )
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in s.LEAD_COLUMNS.items()})
    stages = fk.Stages(names=("opportunity", "proposal", "won"))
    return fk.Dataset(leads, opps, empty_events(), stages=stages, as_of=t(as_of))


@pytest.fixture(scope="module")
def data():
    return proposal_funnel()


# ---- pipeline -----------------------------------------------------------------------------------------------


def test_pipeline_by_stage_and_currency_hand_worked(data):
    table = fk.pipeline(data)
    assert table[["stage", "currency", "open"]].values.tolist() == [
        ["opportunity", "USD", 2],
        ["proposal", "EUR", 2],
        ["proposal", "USD", 1],
    ]
    rows = table.set_index(["stage", "currency"])
    usd = rows.loc[("opportunity", "USD")]
    assert usd["open_value"] == 1000.0  # O1 400 + O2 600
    assert (usd["median_age_days"], usd["q75_age_days"]) == (40.0, 50.0)  # ages 20 and 60
    assert (usd["stall_line_days"], usd["stalled"], usd["stalled_value"]) == (55.0, 1, 600.0)  # O2
    eur = rows.loc[("proposal", "EUR")]
    assert eur["open_value"] == 900.0  # O5 has no amount: never counted as 0 silently
    assert (eur["median_age_days"], eur["q75_age_days"]) == (130.0, 145.0)  # ages 100 and 160
    assert (eur["stall_line_days"], eur["stalled"]) == (50.0, 1)  # O5, 90 days in proposal
    assert np.isnan(eur["stalled_value"])  # the one stalled deal has no amount: unknown, not 0
    assert "1 deal without an amount" in eur["note"]
    proposal_usd = rows.loc[("proposal", "USD")]
    assert (proposal_usd["open_value"], proposal_usd["stalled"], proposal_usd["stalled_value"]) == (800.0, 1, 800.0)
    assert proposal_usd["median_age_days"] == 110.0  # O3: 12 March to 30 June


def test_pipeline_never_sums_two_currencies(data):
    table = fk.pipeline(data)
    proposal = table[table["stage"] == "proposal"]
    assert sorted(proposal["currency"]) == ["EUR", "USD"]
    assert 1700.0 not in set(proposal["open_value"])  # 900 EUR + 800 USD is no amount at all


def test_pipeline_by_owner(data):
    table = fk.pipeline(data, by="owner")
    # owners alternate ann, bob over D1..O5: O1 bob, O2 ann, O3 bob, O4 ann, O5 bob
    counts = {(o, st, c): n for o, st, c, n in table[["owner", "stage", "currency", "open"]].itertuples(index=False)}
    assert counts == {
        ("ann", "opportunity", "USD"): 1,
        ("ann", "proposal", "EUR"): 1,
        ("bob", "opportunity", "USD"): 1,
        ("bob", "proposal", "EUR"): 1,
        ("bob", "proposal", "USD"): 1,
    }
    # the stall line is the stage's, not the group's
    assert set(table["stall_line_days"]) == {55.0, 50.0}


def test_pipeline_as_of_later_ages_deals_and_earlier_is_refused(data):
    later = fk.pipeline(data, as_of="2025-07-10").set_index(["stage", "currency"])
    assert later.loc[("opportunity", "USD"), "median_age_days"] == 50.0  # ages 30 and 70
    assert later.loc[("opportunity", "USD"), "stalled"] == 1  # O1 30 days < 55; O2 70 > 55
    with pytest.raises(fk.ParameterError, match="before the data's as_of"):
        fk.pipeline(data, as_of="2025-06-01")


def test_pipeline_without_open_deals_is_not_measurable():
    closed = fk.Dataset(
        pd.DataFrame({c: pd.Series(dtype=d) for c, d in s.LEAD_COLUMNS.items()}),
        _deals_table([("D1", "2025-01-01", None, "2025-02-01", "won", 10, "USD")]),
        empty_events(),
        stages=fk.Stages(names=("opportunity", "proposal", "won")),
    )
    with pytest.raises(fk.NotMeasurableError, match=r"every deal of this export \(1 deal\) has closed"):
        fk.pipeline(closed)


def maven_like(tmp_path) -> fk.Dataset:
    """A Maven-shaped export: no opportunity created date, deals dated only when they start engaging.

    W1 engages 01-01 and is won 01-31 (30 days), W2 engages 02-01 and is won 03-13 (40 days),
    L1 is lost; P1 is still prospecting; E1 has engaged for 30 days, E2 for 90 (as_of 2025-06-30).
    """
    (tmp_path / "pipeline.csv").write_text(
        "opportunity_id,sales_agent,deal_stage,engage_date,close_date,close_value\n"
        "W1,Ann,Won,2025-01-01,2025-01-31,100\n"
        "W2,Bob,Won,2025-02-01,2025-03-13,200\n"
        "L1,Ann,Lost,2025-03-01,2025-03-20,0\n"
        "P1,Bob,Prospecting,,,\n"
        "E1,Ann,Engaging,2025-05-31,,\n"
        "E2,Bob,Engaging,2025-04-01,,\n",
        encoding="utf-8",
    )
    mapping = {
        "tables": {
            "opportunities": {
                "columns": {
                    "opportunity_id": "opportunity_id",
                    "owner": "sales_agent",
                    "stage_label": "deal_stage",
                    "engaging_at": "engage_date",
                    "closed_at": "close_date",
                    "amount": "close_value",
                },
                "currency": "USD",
            }
        },
        "stages": {
            "names": ["prospecting", "engaging", "won"],
            "opportunity": "prospecting",
            "labels": {"Prospecting": "prospecting", "Engaging": "engaging", "Won": "won", "Lost": "lost"},
        },
        "date_order": "ymd",
        "tz": "UTC",
    }
    return fk.load(tmp_path / "pipeline.csv", mapping=mapping, as_of="2025-06-30", cache=False)


def test_pipeline_without_created_dates_says_age_is_not_measurable(tmp_path):
    data = maven_like(tmp_path)
    table = fk.pipeline(data).set_index("stage")
    assert table["open"].to_dict() == {"prospecting": 1, "engaging": 2}
    assert table["median_age_days"].isna().all() and table["q75_age_days"].isna().all()
    assert table["note"].str.contains("no opportunity created date").all()
    # prospecting has no date at all: no stall line, and no stalled count (not 0)
    assert np.isnan(table.loc["prospecting", "stall_line_days"]) and table.loc["prospecting", "stalled"] is pd.NA
    assert "no stall line" in table.loc["prospecting", "note"]
    # engaging -> won over 30 and 40 days: 30 + 0.75 x 10 = 37.5; E2 (90 days) has stalled, E1 (30) has not
    assert (table.loc["engaging", "stall_line_days"], table.loc["engaging", "stalled"]) == (37.5, 1)
    listed = fk.stalled_deals(data)
    assert listed[["opportunity_id", "days_in_stage", "stall_line_days", "days_over"]].values.tolist() == [
        ["E2", 90.0, 37.5, 52.5]
    ]
    assert np.isnan(listed.loc[0, "age_days"])
    with pytest.raises(fk.NotMeasurableError, match="no stall line"):
        fk.stalled_deals(data, stage="prospecting")


def test_salesforce_report_export_pipeline():
    data = fk.load("tests/data/salesforce_report", cache=False)
    row = fk.pipeline(data).iloc[0]
    # Umbrella: created 03/10/2025, open at as_of 03/20/2025; Globex won 34 days after creation (02/14 -> 03/20)
    assert (row["stage"], row["currency"], row["open"], row["open_value"]) == ("opportunity", "USD", 1, 8000.0)
    assert (row["median_age_days"], row["stall_line_days"], row["stalled"], row["stalled_value"]) == (10, 34, 0, 0)


def test_pipedrive_export_stall_line_counts_hours():
    data = fk.load("tests/data/pipedrive", cache=False)
    row = fk.pipeline(data).iloc[0]
    # Deal A: added 2025-01-10 10:00, won 2025-02-01 09:00 = 21 days 23 hours
    assert row["stall_line_days"] == pytest.approx(21 + 23 / 24)
    assert (row["currency"], row["open"], row["open_value"], row["median_age_days"]) == ("EUR", 1, 3000.0, 0.0)


@pytest.mark.shared
def test_maven_pipeline_matches_an_independent_count():
    folder = shared_path("maven_crm")
    raw = pd.read_csv(folder / "sales_pipeline.csv", dtype=str)
    engage = pd.to_datetime(raw["engage_date"], format="%Y-%m-%d", utc=True)
    close = pd.to_datetime(raw["close_date"], format="%Y-%m-%d", utc=True)
    as_of = max(engage.max(), close.max())
    won = raw["deal_stage"].eq("Won")
    line = float(((close - engage)[won].dt.days).quantile(0.75))
    engaging = raw["deal_stage"].eq("Engaging")
    stalled = int((((as_of - engage)[engaging]).dt.days > line).sum())

    data = fk.load(folder, mapping="data/mappings/maven_crm.yml", cache=False)
    table = fk.pipeline(data).set_index("stage")
    assert table["open"].to_dict() == {
        "prospecting": int(raw["deal_stage"].eq("Prospecting").sum()),
        "engaging": int(engaging.sum()),
    }
    assert table.loc["engaging", "stall_line_days"] == line
    assert table.loc["engaging", "stalled"] == stalled
    assert table["note"].str.contains("no opportunity created date").all()
    assert len(fk.stalled_deals(data)) == stalled


# ---- stalled deals ------------------------------------------------------------------------------------------


def test_stalled_deals_list(data, tmp_path):
    listed = fk.stalled_deals(data)
    assert listed.columns.tolist()[:8] == [
        "opportunity_id", "owner", "source", "stage", "amount", "currency", "age_days", "stage_entered_at",
    ]  # fmt: skip
    # stage order, then longest past the line first
    assert listed[["opportunity_id", "stage", "days_in_stage", "stall_line_days", "days_over"]].values.tolist() == [
        ["O2", "opportunity", 60.0, 55.0, 5.0],
        ["O5", "proposal", 90.0, 50.0, 40.0],
        ["O3", "proposal", 60.0, 50.0, 10.0],
    ]
    assert listed["age_days"].tolist() == [60.0, 160.0, 110.0]
    assert listed["owner"].tolist() == ["ann", "bob", "bob"]
    only = fk.stalled_deals(data, stage="proposal")
    assert only["opportunity_id"].tolist() == ["O5", "O3"]
    written = fk.to_csv_safe(listed, tmp_path / "stalled.csv")
    back = pd.read_csv(written, encoding="utf-8-sig", dtype={"opportunity_id": str})
    assert back["opportunity_id"].tolist() == ["O2", "O5", "O3"] and back["amount"].isna().tolist() == [
        False,
        True,
        False,
    ]


def test_stalled_deals_refuses_a_stage_where_deals_do_not_stay_open(data):
    with pytest.raises(fk.ParameterError, match="one of \\['opportunity', 'proposal'\\]"):
        fk.stalled_deals(data, stage="won")


# ---- coverage -----------------------------------------------------------------------------------------------


def test_coverage_needs_a_currency_when_deals_use_two(data):
    with pytest.raises(fk.ParameterError, match="currency=.*EUR, USD|EUR, USD.*currency="):
        fk.coverage(data, target=2000, period_end="2025-06-30")
    with pytest.raises(fk.ParameterError, match="'GBP'"):
        fk.coverage(data, target=2000, period_end="2025-06-30", currency="GBP")


@pytest.mark.parametrize(
    ("target", "coverage", "verdict"),
    [(2000, 0.6, "short"), (1500, 0.8, "at risk"), (1000, 1.2, "covered")],
)
def test_coverage_in_usd_hand_worked(data, target, coverage, verdict):
    row = fk.coverage(data, target=target, period_end="2025-06-30", currency="usd").iloc[0]
    assert (row["period_start"], row["period_end"]) == (t("2025-04-01"), t("2025-06-30"))
    assert row["days_left"] == 1.0
    # nothing won in USD in Q2 (D5 is EUR); open USD: O1 400 and O2 600 at 0.6, O3 800 at 0.75
    assert (row["won_deals"], row["won_revenue"], row["left_to_win"]) == (0, 0.0, float(target))
    assert (row["open"], row["open_value"]) == (3, 1800.0)
    assert row["weighted_pipeline"] == pytest.approx(400 * 0.6 + 600 * 0.6 + 800 * 0.75)  # 1,200
    assert row["coverage"] == pytest.approx(coverage)
    assert row["verdict"] == verdict
    assert "3 deals in other currencies left out" in row["note"]  # D5, O4, O5 (EUR)


def test_coverage_in_eur_and_a_target_already_won(data):
    row = fk.coverage(data, target=2000, period_end="2025-06-30", currency="EUR").iloc[0]
    # won: D5 1,500 EUR on 12 May; open EUR: O4 900 at proposal (0.75), O5 without an amount
    assert (row["won_revenue"], row["left_to_win"], row["attainment"]) == (1500.0, 500.0, 0.75)
    assert row["weighted_pipeline"] == pytest.approx(675.0)
    assert row["coverage"] == pytest.approx(1.35) and row["verdict"] == "covered"
    assert "1 open deal without an amount" in row["note"]
    reached = fk.coverage(data, target=1000, period_end="2025-06-30", currency="EUR").iloc[0]
    assert (reached["left_to_win"], reached["verdict"]) == (0.0, "covered") and np.isnan(reached["coverage"])
    assert "already won" in reached["note"]


def test_a_quarter_that_has_ended_reads_period_ended_never_to_go(data):
    row = fk.coverage(data, target=5000, period_end="2025-03-31", currency="USD").iloc[0]
    # Q1 won in USD: D1 1,000 (10 Feb) + D2 2,000 (2 March)
    assert (row["won_revenue"], row["attainment"], row["verdict"]) == (3000.0, 0.6, "period ended")
    assert np.isnan(row["left_to_win"]) and np.isnan(row["coverage"]) and row["days_left"] == 0.0
    assert row["open"] is pd.NA  # the pipeline no longer counts: not "0 open deals"
    assert "ended on 2025-03-31" in row["note"]
    # one currency among Q1's won deals: no currency= needed once the pipeline no longer counts
    assert fk.coverage(data, target=5000, period_end="2025-03-31").iloc[0]["verdict"] == "period ended"
    # as_of at the first moment after the period's last day
    after = fk.coverage(data.with_as_of("2025-07-01"), target=2000, period_end="2025-06-30", currency="EUR")
    assert after.iloc[0]["verdict"] == "period ended"


def test_coverage_period_start_and_bad_parameters(data):
    row = fk.coverage(data, target=9000, period_start="2025-01-01", period_end="2025-06-30", currency="USD").iloc[0]
    assert row["won_revenue"] == 3000.0  # D1 and D2, both in the first half
    for bad in (0, -5, "lots", True, float("nan")):
        with pytest.raises(fk.ParameterError, match="target"):
            fk.coverage(data, target=bad, period_end="2025-06-30", currency="USD")
    with pytest.raises(fk.ParameterError, match="period_end"):
        fk.coverage(data, target=1, period_end="end of June", currency="USD")
    with pytest.raises(fk.ParameterError, match="must come before"):
        fk.coverage(data, target=1, period_start="2025-07-01", period_end="2025-06-30", currency="USD")


def test_coverage_on_exports_with_two_currencies_and_expected_close_dates():
    data = fk.load("tests/data/salesforce_api", cache=False)  # won 12,345 USD on 20 March; open 500 EUR
    with pytest.raises(fk.ParameterError, match="EUR, USD"):
        fk.coverage(data, target=20_000, period_start="2025-01-01", period_end="2025-06-30")
    q1 = fk.coverage(data, target=20_000, period_end="2025-03-31").iloc[0]
    # the open EUR deal is expected to close on 30 June, after Q1: not in Q1's pipeline, so one currency
    assert (q1["currency"], q1["won_revenue"], q1["open"], q1["verdict"]) == ("USD", 12345.0, 0, "short")
    assert "1 deal expected to close after the period" in q1["note"]


def test_coverage_with_open_deals_without_amounts_is_not_measurable_not_short(tmp_path):
    data = maven_like(tmp_path)  # as_of 30 June; W2 (200 USD) won 13 March
    row = fk.coverage(data, target=1000, period_end="2025-03-31").iloc[0]
    assert row["verdict"] == "period ended" and row["won_revenue"] == 300.0  # W1 31 Jan + W2 13 March
    row = fk.coverage(data, target=1000, period_end="2025-09-30").iloc[0]
    assert (row["won_revenue"], row["open"], row["verdict"]) == (0.0, 3, "not measurable")
    assert np.isnan(row["weighted_pipeline"]) and "none of the 3 open deals has an amount" in row["note"]


# ---- plots --------------------------------------------------------------------------------------------------


def test_plot_pipeline_draws_each_currency_apart(data):
    import matplotlib

    matplotlib.use("Agg")
    from funnelkit import plots

    ax = plots.plot_pipeline(fk.pipeline(data))
    texts = [x.get_text() for x in ax.texts]
    assert "2 deals\n1,000 USD" in texts and "2 deals\n900 EUR" in texts and "1 deal\n800 USD" in texts
    assert [x.get_text() for x in ax.get_xticklabels()] == ["Opportunity", "proposal"]
    heights = sorted(round(p.get_height()) for p in ax.patches if p.get_height() > 0)
    # open amounts 1,000 / 900 / 800, and the stalled parts 600 (O2) and 800 (O3)
    assert heights == [600, 800, 800, 900, 1000]
    with pytest.raises(fk.ParameterError, match="without by="):
        plots.plot_pipeline(fk.pipeline(data, by="owner"))
    matplotlib.pyplot.close("all")


def test_plot_pipeline_draws_counts_when_no_open_deal_has_an_amount(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from funnelkit import plots

    ax = plots.plot_pipeline(fk.pipeline(maven_like(tmp_path)))
    assert [round(p.get_height()) for p in ax.patches] == [1, 2]  # P1 prospecting; E1, E2 engaging
    assert "count" in ax.get_ylabel() and ax.get_legend() is None
    assert [x.get_text() for x in ax.texts] == ["1 deal", "2 deals"]
    matplotlib.pyplot.close("all")
