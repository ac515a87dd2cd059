"""The SLA scorecard and lead plan pages: tables that fit the page, human headers, numbers by unit.

The counts are worked out by hand on the six-lead funnel of ``metrics_fixtures.tiny`` (its docstring
draws it); the rendered pages are the bundled sample's.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from metrics_fixtures import tiny

import funnelkit as fk
from conftest import ROOT
from funnelkit.report import render_report, sla_page

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
    # January: L1, L2, L4 = 3 MQLs (over 2 +/-10%); April: L5, L6 = 2 (on target)
    assert summary.set_index("Commitment")["Result"].to_dict() == {
        "Periods with MQLs on target": "1 of 2 months",
        "MQLs answered within 30 min": "2 of 5",
        "MQLs answered within 1 day": "3 of 5",
        "MQLs never touched": "1 of 5",
        "MQLs followed up (3+ touches in 14 days)": "2 of 5",
    }
    delivery = sla_page.delivery_table(scorecard.delivery, period="M")
    assert delivery.values.tolist() == [
        ["2025-01", "3", "2", "150.0%", "over"],
        ["2025-04", "2", "2", "100.0%", "on target"],
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
