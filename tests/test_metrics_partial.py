"""Every public metric on partial exports: its rows, or a FunnelkitError that says why (issues #15, #10).

Real exports come with a table missing, a date column missing, stages reached by status alone. The
property test draws such funnels and calls every public metric and fk.review on them: each returns a
non-empty table (with a ``note`` where something could not be measured) or raises a FunnelkitError,
never another exception. The named cases below are small hand-written exports with their numbers
worked out by hand.
"""

from __future__ import annotations

import re
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metrics_fixtures import empty_events, tiny

import funnelkit as fk
from conftest import ROOT, shared_path
from funnelkit import schema as s
from funnelkit.load._load import _finish_leads, _finish_opportunities
from funnelkit.load.base import Adapter, _mark_disqualified, _set_outcome

DEFAULT = fk.Stages()
DEALS_ONLY = fk.Stages(names=("prospecting", "engaging", "won"), opportunity="prospecting")
LEAD_STATUSES = ["Open", "Marketing Qualified", "Sales Qualified", "Closed - Converted", "Closed - Not Converted"]


def stamp(day: int) -> pd.Timestamp:
    return pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=day)


def dates(draw, n: int, *, present: bool, blanks: bool = True) -> pd.Series:
    if not present:
        return None
    days = draw(st.lists(st.one_of(st.none(), st.integers(0, 400)) if blanks else st.integers(0, 400),
                         min_size=n, max_size=n))  # fmt: skip
    return pd.Series([stamp(d) if d is not None else pd.NaT for d in days], dtype=s.TIMESTAMP)


@st.composite
def partial_funnels(draw) -> fk.Dataset:
    """A dataset with any subset of tables, columns and stage dates, finished as the loader does."""
    stages = draw(st.sampled_from([DEFAULT, DEALS_ONLY]))
    n_leads = draw(st.integers(0, 6)) if stages is DEFAULT else 0
    n_opps = draw(st.integers(0, 6))
    leads = pd.DataFrame({s.LEAD_ID: pd.Series([f"L{i}" for i in range(n_leads)], dtype="str")})
    if n_leads:
        optional = {
            s.CREATED_AT: dates(draw, n_leads, present=draw(st.booleans())),
            "mql_at": dates(draw, n_leads, present=draw(st.booleans())),
            "sql_at": dates(draw, n_leads, present=draw(st.booleans())),
            s.CONVERTED_AT: dates(draw, n_leads, present=draw(st.booleans())),
            s.FIRST_TOUCH_AT: dates(draw, n_leads, present=draw(st.booleans())),
            s.DISQUALIFIED_AT: dates(draw, n_leads, present=draw(st.booleans())),
        }
        for column, values in optional.items():
            if values is not None:
                leads[column] = values
        if draw(st.booleans()):
            leads[s.STATUS] = draw(st.lists(st.sampled_from(LEAD_STATUSES), min_size=n_leads, max_size=n_leads))
        if draw(st.booleans()):
            leads[s.SOURCE] = draw(st.lists(st.sampled_from(["Web", "Partner"]), min_size=n_leads, max_size=n_leads))
    opp_stages = [*stages.names[stages.names.index(stages.opportunity) :], "lost"]
    opps = pd.DataFrame({s.OPPORTUNITY_ID: pd.Series([f"O{i}" for i in range(n_opps)], dtype="str")})
    if n_opps:
        stage = draw(st.lists(st.sampled_from(opp_stages), min_size=n_opps, max_size=n_opps))
        opps[s.STAGE] = stage
        opps[s.STAGE_LABEL] = stage
        if n_leads and draw(st.booleans()):  # some deals came from leads
            linked = [f"L{i}" if i < n_leads and draw(st.booleans()) else None for i in range(n_opps)]
            opps[s.LEAD_ID] = pd.Series(linked, dtype="str")
            leads[s.OPPORTUNITY_ID] = pd.Series(
                [f"O{linked.index(f'L{i}')}" if f"L{i}" in linked else None for i in range(n_leads)], dtype="str"
            )
        created = dates(draw, n_opps, present=draw(st.booleans()))
        if created is not None:
            opps[s.CREATED_AT] = created
        if draw(st.booleans()):
            opps[s.CLOSED_AT] = dates(draw, n_opps, present=True)
        if stages is DEALS_ONLY and draw(st.booleans()):
            opps["engaging_at"] = dates(draw, n_opps, present=True)
        if draw(st.booleans()):
            opps[s.AMOUNT] = draw(st.lists(st.one_of(st.none(), st.floats(0, 1e5)), min_size=n_opps, max_size=n_opps))
            opps[s.AMOUNT] = opps[s.AMOUNT].astype("float64")
            opps[s.CURRENCY] = "USD"
        if draw(st.booleans()):
            opps[s.SOURCE] = draw(st.lists(st.sampled_from(["Web", "Event"]), min_size=n_opps, max_size=n_opps))
    notes: list[str] = []
    leads = _mark_disqualified(leads, Adapter(), stages)  # the per-file steps of the loader, then its assembly
    opps = _set_outcome(opps, stages) if n_opps else opps
    return fk.Dataset(
        _finish_leads(leads, stages, notes), _finish_opportunities(opps, notes), empty_events(), stages=stages
    )


def every_metric(data: fk.Dataset) -> dict:
    """Each public metric, as a user or the report would call it, on ``data``."""
    first, second = data.stages.names[:2]
    return {
        "conversion": lambda: fk.conversion(data),
        "conversion by source and quarter": lambda: fk.conversion(data, by="source", period="Q"),
        "conversion in a window": lambda: fk.conversion(data, window="30D", start="2025-01-01", end="2025-07-01"),
        "conversion per period": lambda: fk.conversion(data, basis="period", period="M"),
        "overall conversion": lambda: fk.overall_conversion(data, period="Q"),
        "dropoff": lambda: fk.dropoff(data, by="source"),
        "win rate": lambda: fk.win_rate(data, by="source", period="Q", stall_days=30),
        "time to close": lambda: fk.time_to_close(data),
        "time to close from the lead": lambda: fk.time_to_close(data, from_stage="lead", by="source", period="Q"),
        "km curve": lambda: fk.km_curve(data, by="source"),
        "stage durations": lambda: fk.stage_durations(data),
        "lead value": lambda: fk.lead_value(data, by="source"),
        "velocity": lambda: fk.velocity(data),
        "drift of the win rate": lambda: fk.drift(data, metric="win_rate"),
        "drift of a step": lambda: fk.drift(data, metric="conversion", from_stage=first, to_stage=second),
        "drift of time to close": lambda: fk.drift(data, metric="time_to_close", by=None),
        "mix": lambda: fk.mix_decomposition(data, current="2025 Q2", previous="2025 Q1"),
        "sla": lambda: fk.sla(data, mql_target=3, period="M", touches_target=2),
        "plan": lambda: fk.plan(quota=10_000, data=data),
        "plan with a deal size": lambda: fk.plan(quota=10_000, deal_size=500, data=data, by="source"),
        "qualify": lambda: fk.qualify(data, "source == 'Web'"),
        "review": lambda: fk.review(data),
    }


def outcome(compute):
    """What a metric returned, or the FunnelkitError it raised; anything else fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        try:
            return compute()
        except fk.FunnelkitError as exc:
            assert str(exc).strip(), "a FunnelkitError must say why"
            return exc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=partial_funnels())
def test_every_metric_returns_rows_or_says_why(data):
    for name, compute in every_metric(data).items():
        result = outcome(compute)
        if isinstance(result, fk.SLAResult):
            tables = {"delivery": result.delivery, "response": result.response}
        elif isinstance(result, fk.Review):
            tables = {**result.sections, "headline": result.headline}
        else:
            assert isinstance(result, pd.DataFrame | fk.FunnelkitError), (name, type(result))
            tables = {name: result} if isinstance(result, pd.DataFrame) else {}
        for part, table in tables.items():
            assert len(table), f"{name}: {part} is an empty table without a reason"


# --------------------------------------------------------------- named cases, worked out by hand --

SF_LEAD_HEADER = "Id,IsDeleted,LeadSource,Status,OwnerId,CreatedDate,IsConverted,ConvertedDate,ConvertedOpportunityId\n"


def write(folder, files: dict[str, str]):
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def mql_by_status_files() -> dict[str, str]:
    """A Salesforce Data Export whose leads reach MQL by Status only (no MQL_Date__c column).

    lead  source   created     status               opportunity
    1     Web      2025-01-15  Open - Not Contacted -
    2     Web      2025-01-20  Marketing Qualified  -
    3     Partner  2025-02-03  Marketing Qualified  -
    4     Partner  2025-04-05  Closed - Converted   converted 04-14, won 05-20
    """
    leads = SF_LEAD_HEADER + (
        "00Q000000000001AAA,false,Web,Open - Not Contacted,005A,2025-01-15T00:00:00.000Z,false,,\n"
        "00Q000000000002AAA,false,Web,Marketing Qualified,005A,2025-01-20T00:00:00.000Z,false,,\n"
        "00Q000000000003AAA,false,Partner,Marketing Qualified,005B,2025-02-03T00:00:00.000Z,false,,\n"
        "00Q000000000004AAA,false,Partner,Closed - Converted,005B,2025-04-05T00:00:00.000Z,true,2025-04-14,"
        "006000000000001AAA\n"
    )
    opps = (
        "Id,IsDeleted,StageName,Amount,CurrencyIsoCode,CloseDate,IsClosed,IsWon,CreatedDate,LeadSource,OwnerId\n"
        "006000000000001AAA,false,Closed Won,12345,USD,2025-05-20,true,true,2025-04-14T00:00:00.000Z,Partner,005B\n"
    )
    return {"Lead.csv": leads, "Opportunity.csv": opps}


@pytest.fixture
def mql_by_status(tmp_path):
    return fk.load(write(tmp_path / "mql_by_status", mql_by_status_files()), cache=False)


def test_conversion_by_source_and_quarter_with_a_step_reached_by_status_only(mql_by_status):
    # today's main: ValueError "Buffer has wrong number of dimensions" on the undated MQL -> SQL step
    table = fk.conversion(mql_by_status, by="source", period="Q")
    lead_mql = table[table["from_stage"] == "lead"]
    got = {(r.source, r.period): (r.entered, r.converted) for r in lead_mql.itertuples()}
    # leads 2 and 3 reached MQL by status: converted, though when is unknown
    assert got == {("Partner", "2025 Q1"): (1, 1), ("Partner", "2025 Q2"): (1, 1), ("Web", "2025 Q1"): (2, 1)}
    undated = lead_mql.set_index(["source", "period"])
    assert pd.isna(undated.loc[("Web", "2025 Q1"), "cumulative_rate"])  # not the KM guess of today's main
    assert "2 reached mql with no mql date" in undated.loc[("Web", "2025 Q1"), "note"]
    # MQL -> SQL: leads 2, 3 have no MQL date and lead 4's is its conversion date: no cohorts, all-time counts
    mql_sql = table[table["from_stage"] == "mql"].set_index("source")
    assert mql_sql["period"].isna().all()
    assert mql_sql[["entered", "converted"]].to_dict("index") == {
        "Partner": {"entered": 2, "converted": 1},
        "Web": {"entered": 1, "converted": 0},
    }
    assert mql_sql["note"].str.startswith("not measurable per period of entry: 2 of 3 that reached mql").all()
    # the all-time counts are dropoff's: 3 reached MQL, 1 of them SQL
    reached = fk.dropoff(mql_by_status).set_index("stage")["reached"]
    assert (reached["mql"], reached["sql"]) == (mql_sql["entered"].sum(), mql_sql["converted"].sum()) == (3, 1)


def test_a_step_with_some_undated_entrants_keeps_its_cohorts_and_says_who_is_left_out():
    base = tiny()
    leads = base.leads.assign(status=base.leads["status"].where(base.leads["lead_id"] != "L3", "Marketing Qualified"))
    data = fk.Dataset(leads, base.opportunities, empty_events(), as_of=base.as_of)  # L3: MQL by status, no date
    row = fk.conversion(data, from_stage="mql", to_stage="sql").iloc[0]
    # the dated MQLs L1, L2, L4, L5, L6: 4 reached SQL (L2 was disqualified), as in the tiny funnel
    assert (row["entered"], row["converted"]) == (5, 4)
    assert (
        row["note"]
        == "1 of 6 that reached mql have no mql date and are in no cohort; over all time 4 of 6 (67%) reached sql"
    )


def test_qualify_counts_mqls_reached_by_status_in_all_periods_only(mql_by_status):
    table = fk.qualify(mql_by_status, "source == 'Web'", period="Q").set_index(["definition", "period"])
    # current MQLs: leads 2, 3 (status, no date) and 4 (dated by its conversion, 2025-04-14)
    assert table.loc[("current", "(all)"), "leads"] == 3
    assert table.loc[("current", "2025 Q2"), "leads"] == 1
    assert table.loc[("current", "(all)"), "note"] == "2 leads with no mql date (mql_at): in the (all) row only"
    assert table.loc[("rule", "(all)"), "leads"] == 2 and pd.isna(table.loc[("rule", "(all)"), "note"])


def test_the_review_of_that_export_says_why_the_step_has_no_cohorts(mql_by_status):
    result = fk.review(mql_by_status)
    assert "conversion" in result.sections
    said = [n for n in result.notes["conversion"] if n.startswith("MQL → SQL")]
    assert len(said) == 1 and said[0].endswith("Over all time 1 of 3 (33%) reached SQL.")
    # first the dates the section counts, then what it counts from
    window, *rest = result.notes["time_to_close"]
    assert window.startswith("Deals that entered Opportunity ") and rest == [
        "Days are counted from the opportunity's creation."
    ]


@pytest.fixture
def undated_deals(tmp_path):
    """An opportunity-only export without a single date: D1 won, D2 lost, D3 engaging, D4 prospecting."""
    files = {
        "deals.csv": (
            "deal_id,owner,stage,value\nD1,ann,Won,100\nD2,ann,Lost,50\nD3,bob,Engaging,70\nD4,bob,Prospecting,20\n"
        ),
        "map.yml": (
            "tables:\n  opportunities:\n    file: deals.csv\n    columns:\n      opportunity_id: deal_id\n"
            "      owner: owner\n      stage_label: stage\n      amount: value\n    currency: USD\n"
            "stages:\n  names: [prospecting, engaging, won]\n  opportunity: prospecting\n"
        ),
    }
    folder = write(tmp_path / "deals", files)
    return fk.load(folder / "deals.csv", mapping=folder / "map.yml", cache=False)


def test_an_export_without_dates_stops_conversion_with_the_missing_dates(undated_deals):
    # today's main: TypeError "cannot subtract DatetimeArray from ndarray[object]"
    for metric in (fk.conversion, fk.overall_conversion):
        with pytest.raises(fk.NotMeasurableError, match=r"no date of entry into prospecting") as caught:
            metric(undated_deals)
        assert "the opportunities' created date (created_at)" in str(caught.value)
        assert "fk.dropoff(data)" in str(caught.value)
        assert "prospecting_at" in caught.value.missing


def test_an_export_without_dates_still_counts_what_needs_no_date(undated_deals):
    dropoff = fk.dropoff(undated_deals).set_index("stage")
    assert dropoff["reached"].to_dict() == {"prospecting": 4, "engaging": 2, "won": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        rates = fk.win_rate(undated_deals, stall_days=90)
    assert rates[["won", "lost", "closed"]].iloc[0].tolist() == [1, 1, 2]
    # two open deals and no created date: stalled is unknown, not 0
    assert rates["stalled"].isna().all() and rates["broad_rate"].isna().all()
    assert rates["note"].iloc[0] == (
        "stalled deals and the broad rate: not measurable: no opportunity created date (created_at) "
        "for the 2 open deals"
    )
    by_quarter = fk.win_rate(undated_deals, period="Q")
    assert by_quarter["period"].isna().all() and by_quarter["closed"].tolist() == [2]
    assert by_quarter["note"].iloc[0].startswith("2 closed deals with no close date, in no period")


@pytest.mark.parametrize(
    ("metric", "says"),
    [
        (fk.time_to_close, "no other start date is filled either"),
        (fk.km_curve, "needs the opportunities' created date (created_at)"),
        (fk.stage_durations, "no lead or deal in this export has both"),
        (fk.lead_value, "this export has no leads"),
        (fk.velocity, "none of the 4 opportunities has a created date"),
        (lambda d: fk.drift(d, metric="win_rate", by=None), "no closed deal has a close date"),
    ],
)
def test_an_export_without_dates_says_why_each_dated_metric_cannot_be_measured(undated_deals, metric, says):
    # today's main: time_to_close n=0, lead_value, velocity and drift empty tables with no word
    with pytest.raises(fk.NotMeasurableError, match=re.escape(says)):
        metric(undated_deals)


def test_the_review_of_an_export_without_dates_shows_what_it_can(undated_deals):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        result = fk.review(undated_deals)
    assert {"dropoff", "win_rate", "win_rate_total"} <= set(result.sections)
    assert "no date of entry into prospecting" in result.skipped["conversion"]
    assert "no other start date" in result.skipped["time_to_close"]
    assert result.headline["note"].tolist() == ["not measurable: no lead or deal has a date that places it in a period"]


def without_created_files() -> dict[str, str]:
    """Three converted leads whose opportunities (an export without CreatedDate) closed or are open.

    lead created  converted   opportunity  outcome
    2025-01-15    02-01       O1           won 03-20: 64 days from the lead
    2025-02-03    02-20       O2           lost 04-01: 57 days from the lead
    2025-03-01    03-10       O3           open (as_of 04-01: 31 days)
    """
    leads = SF_LEAD_HEADER + (
        "00Q000000000001AAA,false,Web,Closed - Converted,005A,2025-01-15T00:00:00.000Z,true,2025-02-01,"
        "006000000000001AAA\n"
        "00Q000000000002AAA,false,Web,Closed - Converted,005A,2025-02-03T00:00:00.000Z,true,2025-02-20,"
        "006000000000002AAA\n"
        "00Q000000000003AAA,false,Partner,Closed - Converted,005B,2025-03-01T00:00:00.000Z,true,2025-03-10,"
        "006000000000003AAA\n"
    )
    opps = (
        "Id,IsDeleted,StageName,Amount,CurrencyIsoCode,CloseDate,IsClosed,IsWon,LeadSource,OwnerId\n"
        "006000000000001AAA,false,Closed Won,1000,USD,2025-03-20,true,true,Web,005A\n"
        "006000000000002AAA,false,Closed Lost,500,USD,2025-04-01,true,false,Web,005A\n"
        "006000000000003AAA,false,Prospecting,700,USD,2025-06-30,false,false,Partner,005B\n"
    )
    return {"Lead.csv": leads, "Opportunity.csv": opps}


@pytest.fixture
def deals_without_created_date(tmp_path):
    return fk.load(write(tmp_path / "without_created", without_created_files()), cache=False)


def test_time_to_close_names_the_start_that_works(deals_without_created_date):
    # today's main: n=0 and NaN medians, no word
    with pytest.raises(fk.NotMeasurableError) as caught:
        fk.time_to_close(deals_without_created_date)
    assert str(caught.value) == (
        "time to close with from_stage='opportunity' needs the opportunities' created date (created_at), which no "
        "deal in this export has; time to close can be measured from from_stage='lead' (the lead's creation) for "
        "3 deals"
    )
    row = fk.time_to_close(deals_without_created_date, from_stage="lead").iloc[0]
    assert (row["n"], row["n_closed"], row["n_censored"], row["closed_median"]) == (3, 2, 1, 60.5)


def test_the_review_says_days_are_counted_from_the_lead(deals_without_created_date):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        result = fk.review(deals_without_created_date)
    assert result.notes["time_to_close"][1] == (  # [0]: the dates the section counts
        "Days are counted from the lead's creation (from_stage='lead'): the opportunities have no created date."
    )
    days = result.headline.set_index("measure").loc["Median days to close (closed deals)"]
    assert days["this_period"] == 64.0  # O1, closed in 2025 Q1, 64 days after its lead
    assert days["note"].startswith("from the lead's creation;")


# ------------------------------------------------------------------ the real Maven CRM export --

MAVEN_MAPPING = ROOT / "data" / "mappings" / "maven_crm.yml"


@pytest.fixture(scope="module")
def maven():
    return fk.load(shared_path("maven_crm", "sales_pipeline.csv"), mapping=MAVEN_MAPPING, cache=False)


def test_maven_stalled_deals_are_not_measurable_without_created_dates(maven):
    rates = fk.win_rate(maven, stall_days=90).iloc[0]
    assert (rates["won"], rates["lost"]) == (4238, 2473)
    assert pd.isna(rates["stalled"]) and pd.isna(rates["broad_rate"])  # today: 0 stalled
    assert "not measurable: no opportunity created date" in rates["note"]
    assert rates["note"].endswith("for the 2,089 open deals")  # 1,589 engaging + 500 prospecting


def test_maven_prospecting_to_engaging_has_one_rate_in_both_charts(maven):
    # the funnel chart reads dropoff: 8,300 of 8,800 (94%); conversion read 100% on the 8,300 dated deals
    reached = fk.dropoff(maven).set_index("stage")["reached"]
    step = fk.conversion(maven, period="Q")
    first = step[step["from_stage"] == "prospecting"]
    assert len(first) == 1 and pd.isna(first["period"].iloc[0])
    assert (first["entered"].iloc[0], first["converted"].iloc[0]) == (reached["prospecting"], reached["engaging"])
    assert (reached["prospecting"], reached["engaging"]) == (8800, 8300)
    assert "dates of the other 8,300 are borrowed from a later stage" in first["note"].iloc[0]
    # engaging -> won keeps its cohorts: engage_date is the deals' own
    assert step.loc[step["from_stage"] == "engaging", "period"].notna().all()


def test_maven_time_to_close_counts_from_engaging(maven):
    with pytest.raises(fk.NotMeasurableError, match=r"from_stage='engaging' \(entry into engaging\) for 8,300 deals"):
        fk.time_to_close(maven)
    result = fk.review(maven)
    assert result.notes["time_to_close"][1] == (  # [0]: the dates the section counts
        "Days are counted from entry into engaging (from_stage='engaging'): the opportunities have no created date."
    )
    row = result.sections["time_to_close"]
    assert row["n"].sum() == 8300 and row["n_closed"].sum() == 4238 + 2473


# ------------------------------------------------------------------ the report on these exports --


@pytest.mark.slow
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (mql_by_status_files, "Over all time 1 of 3 (33%) reached SQL."),
        (without_created_files, "Days are counted from the lead's creation (from_stage='lead')"),
    ],
)
def test_the_funnel_review_renders_on_partial_exports(tmp_path, files, expected):
    from funnelkit.report import render_report

    export = write(tmp_path / "export", files())
    result = render_report(ROOT / "notebooks" / "funnel_review.ipynb", data=export, out=tmp_path, progress=False)
    html = result.html_path.read_text()
    assert expected in html and "Traceback" not in html
