"""The SLA scorecard and lead plan pages: tables that fit the page, human headers, numbers by unit.

The counts are worked out by hand on the six-lead funnel of ``metrics_fixtures.tiny`` (its docstring
draws it); the rendered pages are the bundled sample's.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest
from metrics_fixtures import tiny

import funnelkit as fk
from conftest import ROOT
from funnelkit.metrics.plan import split_plan
from funnelkit.report import plan_page, render_report, sla_page

#: the most columns a displayed table may have: more do not fit a 1,300 px page at 13 px
MAX_COLUMNS = 8


@pytest.fixture(scope="module")
def scorecard():
    # tiny: MQLs L1, L2, L5 (ann) and L4, L6 (bob); first touch 10 min, 20 min, 2 days, 45 min, never;
    # touches in 14 days 3, 1, 2, 4, 0
    return fk.sla(tiny(), mql_target=2, period="M", touches_target=3, by="owner")


COMMITMENTS = dict(response_within="30min", max_response="1D", touches_target=3)


def test_response_table_has_few_human_columns_with_counts_for_small_groups(scorecard):
    table = sla_page.response_table(scorecard.response, by="owner", **COMMITMENTS).set_index("Owner")
    assert list(table.columns) == [
        "MQLs", "Median first response", "Answered within 30 min", "Answered within 1 day", "Never touched",
        "Followed up (3+ touches in 14 days)",
    ]  # fmt: skip
    # ann: 3 MQLs, touched after 10 min, 20 min and 2 days (median 20 min); 2 within 30 min and within a day;
    # 1 with 3+ touches. Groups under 20 show counts, not percentages.
    assert table.loc["ann"].tolist() == ["3", "20 min", "2 of 3", "2 of 3", "0 of 3", "1 of 3"]
    # bob: 2 MQLs, 45 min and never; 4 and 0 touches
    assert table.loc["bob"].tolist() == ["2", "45 min", "0 of 2", "1 of 2", "1 of 2", "1 of 2"]


def test_summary_and_delivery_tables(scorecard):
    summary = sla_page.summary_table(scorecard.response, scorecard.delivery, period="M", **COMMITMENTS)
    # January: L1, L2, L4 = 3 MQLs (over 2 +/-10%); April: L5, L6 = 2 (on target); February, March, May and
    # June (to as_of 2025-06-30) had none: under, and they count
    assert summary.set_index("Commitment")["Result"].to_dict() == {
        "Periods with MQLs on target": "1 of 6 months",
        "MQLs answered within 30 min": "2 of 5",
        "MQLs answered within 1 day": "3 of 5",
        "MQLs never touched": "1 of 5",
        "MQLs followed up (3+ touches in 14 days)": "2 of 5",
    }
    delivery = sla_page.delivery_table(scorecard.delivery, period="M")
    assert delivery.values.tolist() == [
        ["2025-01", "3", "2", "150.0%", "over"],
        ["2025-02", "0", "2", "0.0%", "under"],
        ["2025-03", "0", "2", "0.0%", "under"],
        ["2025-04", "2", "2", "100.0%", "on target"],
        ["2025-05", "0", "2", "0.0%", "under"],
        ["2025-06", "0", "2", "0.0%", "under"],
    ]
    assert sla_page.band_sentence(scorecard.delivery, period="M").startswith("On target means 1.8 to 2.2 MQLs a month")


def test_feedback_table_shares_of_rejected(scorecard):
    # L2 is the one rejected MQL, for "No budget"
    assert sla_page.feedback_table(scorecard.feedback).values.tolist() == [["No budget", "1", "100.0%"]]


class _Tables(HTMLParser):
    """Header cells per table of a page, and the page's style text."""

    def __init__(self):
        super().__init__()
        self.headers: list[list[str]] = []
        self.style, self._in, self._text = "", None, []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.headers.append([])
        elif tag == "th" and self.headers:
            self._in, self._text = "th", []
        elif tag == "style":
            self._in = "style"

    def handle_endtag(self, tag):
        if tag == "th" and self._in == "th":
            self.headers[-1].append("".join(self._text).strip())
        if tag in ("th", "style"):
            self._in = None

    def handle_data(self, data):
        if self._in == "th":
            self._text.append(data)
        elif self._in == "style":
            self.style += data


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    rendered = {}
    for name in ("sla_scorecard", "lead_plan"):
        result = render_report(ROOT / "notebooks" / f"{name}.ipynb", data=ROOT / "data" / "sample", out=out,
                               progress=False)  # fmt: skip
        page = _Tables()
        page.feed(result.html_path.read_text(encoding="utf-8"))
        rendered[name] = page
    return rendered


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sla_scorecard", "lead_plan"])
def test_every_table_fits_the_page_and_a_wide_one_scrolls_in_its_box(pages, name):
    page = pages[name]
    assert len(page.headers) >= 4
    widths = [len(h) for h in page.headers]
    assert max(widths) <= MAX_COLUMNS, [h for h in page.headers if len(h) > MAX_COLUMNS]
    assert ".jp-RenderedHTMLCommon table.fk-table { display: block; width: max-content; max-width: 100%; " \
           "overflow-x: auto; }" in page.style  # fmt: skip
    # no raw column names in the report's own tables (the data-quality table is present.load_summary_html's)
    raw = [h for headers in page.headers for h in headers if "_" in h and h not in _LOAD_SUMMARY]
    assert raw == []


_LOAD_SUMMARY = {"rows_read", "rows_kept", "rows_quarantined", "footer_lines"}


@pytest.mark.slow
def test_sla_page_headers_name_the_commitments(pages):
    headers = pages["sla_scorecard"].headers
    assert ["Owner", "MQLs", "Median first response", "Answered within 30 min", "Answered within 1 day",
            "Never touched", "Followed up (3+ touches in 14 days)"] in headers  # fmt: skip
    assert ["Month", "MQLs delivered", "Target", "Share of target", "Status"] in headers


# ---------------------------------------------------------------- the lead plan --

Q3 = plan_page.quota_period(pd.Timestamp("2025-06-30", tz="UTC"))  # tiny's as_of: the quarter after is 2025 Q3


@pytest.fixture(scope="module")
def tiny_plans():
    data = tiny()
    with pytest.warns(fk.SmallSampleWarning):
        total = fk.plan(quota=10_000, data=data)
    with pytest.warns(fk.SmallSampleWarning):
        groups = fk.plan(quota=10_000, data=data, by="source")
    return total, groups


def test_quota_period_is_the_one_after_the_data_unless_given():
    assert (Q3.label, Q3.dates) == ("2025 Q3", "2025-07-01 to 2025-09-30")
    assert Q3.why == "the quarter after the data ends (2025-06-30)"
    june = plan_page.quota_period(pd.Timestamp("2025-06-30", tz="UTC"), period="M", start="2025-06-15")
    assert (june.label, june.dates) == ("2025-06", "2025-06-01 to 2025-06-30")
    with pytest.raises(fk.ParameterError, match="period_start"):
        plan_page.quota_period(pd.Timestamp("2025-06-30"), start="next quarter")


def test_split_shares_the_total_out_so_it_adds_up(tiny_plans):
    total, groups = tiny_plans
    # whole quota: deal 1,500 -> 7 deals; win 2/3 -> 11; sql->opp 4/4 -> 11; mql->sql 4/5 -> 14; lead->mql 5/6 -> 17
    assert total["needed"].tolist() == [7, 11, 11, 14, 17]
    # A (quota 3,333): deal 1,000 -> 4; win 1/1 -> 4; 1/1 -> 4; mql->sql 1/2 -> 8; lead->mql 2/3 -> 12
    # B (quota 6,667): deal 2,000 -> 4; win 1/2 -> 8; 3/3 -> 8; 3/3 -> 8; 3/3 -> 8
    assert groups.groupby("source")["needed"].apply(list).to_dict() == {"A": [4, 4, 4, 8, 12], "B": [4, 8, 8, 8, 8]}
    parts = split_plan(total, groups, by="source").set_index(["source", "stage"])["needed"]
    # leads: 17 in proportion 12 : 8 -> 10.2 and 6.8 -> 10 and 6, the unit left to the larger remainder (B)
    assert (parts["A", "lead"], parts["B", "lead"]) == (10, 7)
    # won: 7 in proportion 4 : 4 -> 3.5 each -> the unit left to the group listed first (A)
    assert (parts["A", "won"], parts["B", "won"]) == (4, 3)
    # opportunities: 11 in proportion 4 : 8 -> 3.67 and 7.33 -> 4 and 7
    assert (parts["A", "opportunity"], parts["B", "opportunity"]) == (4, 7)
    assert parts.groupby(level="stage").sum().to_dict() == dict(zip(total["stage"], total["needed"], strict=True))


def test_headline_states_leads_from_where_the_quota_and_its_period(tiny_plans):
    total, groups = tiny_plans
    parts = plan_page.split(total, groups, by="source")
    assert plan_page.headline(total, parts, quota=10_000, period=Q3, by="source") == (
        "To win <b>10,000 USD in 2025 Q3</b> (2025-07-01 to 2025-09-30), you need about <b>17 new leads</b>, "
        "which become 7 won deals of about 1,429 USD each, at today's mix the most from A (10) and B (7)."
    )
    # median days from lead to won: L1 40 (01-05 -> 02-14), L6 34 (04-05 -> 05-09) -> 37
    assert plan_page.timing_sentence(total, Q3) == (
        "From lead to won takes a median of 37 days: the leads for deals won in 2025 Q3 come in, at the median, "
        "between about 2025-05-25 and 2025-08-24."
    )


def test_why_the_plans_per_source_do_not_add_up(tiny_plans):
    total, groups = tiny_plans
    why = plan_page.why_sentence(total, groups, by="source")
    assert why.startswith(
        "Added up, the plans per source ask for 20 leads and 8 won deals, not the 17 leads and 7 won deals of the "
        "plan for the whole quota."
    )
    assert "so 2 sources give 8 deals instead of 7" in why
    # leads per won deal: B 8 / 4 = 2.0, A 12 / 4 = 3.0
    assert "one won deal takes 2.0 leads from B and 3.0 from A" in why
    table = plan_page.group_plans_table(groups, by="source")
    assert table.iloc[-1].tolist() == ["Sum of the plans", "100.0%", "20", "16", "12", "12", "8", ""]


def test_needs_table_counts_small_rates(tiny_plans):
    total, _ = tiny_plans
    table = plan_page.needs_table(total).set_index("Stage")
    assert list(table.index) == ["Leads", "MQLs", "SQLs", "Opportunities", "Won deals"]
    # every rate rests on fewer than 20: counts, not percentages (5 of 6 leads became MQLs; 2 of 3 closed won)
    assert table["Converts to the next stage"].tolist() == ["5 of 6", "4 of 5", "4 of 4", "2 of 3", ""]
    assert table.loc["Leads", ["Needed", "Rate measured on", "Worth each"]].tolist() == ["17", "6 leads", "588 USD"]


def test_no_breakdown_by_a_column_no_row_fills():
    data = tiny()
    assert plan_page.usable_breakdown(data, "source") == ("source", "")
    empty = fk.Dataset(data.leads.assign(source=None), data.opportunities.assign(source=None), data.events,
                       as_of=data.as_of)  # fmt: skip
    by, why = plan_page.usable_breakdown(empty, "source")
    assert by is None and why == "no lead or deal in this data has a source, so the plan is not split by source"


# an opportunity-only export (the shape of Maven's): stages prospecting > engaging > won
DEALS_CSV = """deal,stage,engaged,closed,value
D1,Won,2025-01-10,2025-02-09,1000
D2,Won,2025-01-20,2025-03-01,3000
D3,Lost,2025-02-01,2025-02-20,500
D4,Lost,2025-02-05,2025-03-10,800
D5,Engaging,2025-03-01,,
"""
DEALS_MAPPING = """tables:
  opportunities:
    columns: {opportunity_id: deal, stage_label: stage, engaging_at: engaged, closed_at: closed, amount: value}
    currency: USD
stages:
  names: [prospecting, engaging, won]
  opportunity: prospecting
  labels: {Prospecting: prospecting, Engaging: engaging, Won: won, Lost: lost}
date_order: ymd
"""


@pytest.fixture(scope="module")
def deals_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deals")
    (folder / "deals.csv").write_text(DEALS_CSV)
    (folder / "mapping.yml").write_text(DEALS_MAPPING)
    return folder


def test_plan_of_an_opportunity_only_funnel_stops_at_opportunities(deals_export):
    data = fk.load(deals_export / "deals.csv", mapping=deals_export / "mapping.yml")
    with pytest.warns(fk.SmallSampleWarning):
        table = fk.plan(quota=10_000, data=data).set_index("stage")
    # deal size (1,000 + 3,000) / 2 = 2,000 -> 5 deals; win rate 2 won of 4 closed -> 10 opportunities
    assert table["needed"].to_dict() == {"won": 5, "opportunity": 10}
    assert table.loc["opportunity", "rate_n"] == 4
    # from the opportunity (entered at the engage date: no created date) to won: D1 30 days, D2 40 -> 35
    assert table.loc["opportunity", "lead_time_days"] == 35.0


@pytest.mark.slow
def test_lead_plan_page_opens_with_the_headline_and_states_the_quota(deals_export, tmp_path):
    result = render_report(
        ROOT / "notebooks" / "lead_plan.ipynb", data=deals_export / "deals.csv", out=tmp_path, progress=False,
        parameters={"mapping": str(deals_export / "mapping.yml"), "quota": 10_000},
    )  # fmt: skip
    page = result.html_path.read_text(encoding="utf-8")
    # as_of is the last date, 2025-03-10: the quota is for 2025 Q2
    headline = (
        "To win <b>10,000 USD in 2025 Q2</b> (2025-04-01 to 2025-06-30), you need about <b>10 new opportunities</b>, "
        "which become 5 won deals of about 2,000 USD each. The plan starts at opportunities: the data has no earlier "
        "stage."
    )
    assert headline in page
    assert page.index(headline) < page.index("<img")  # the sentence first, then the chart
    assert "the quarter after the data ends (2025-03-10)" in page
    # 35 days before the quarter's first and last days
    assert "between about 2025-02-25 and 2025-05-26" in page
    assert "no lead or deal in this data has a source, so the plan is not split by source" in page
