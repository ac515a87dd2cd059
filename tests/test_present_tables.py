"""Tables for people: words for headers, units on every number, small samples flagged one way, top groups."""

from __future__ import annotations

import html as html_lib
import re
from types import SimpleNamespace

import pandas as pd

from funnelkit.dataset import LoadSummary
from funnelkit.present import header, load_summary_html, summary_html, table_html
from funnelkit.review import Review


def cells(html: str) -> list[str]:
    body = html.split("<tbody>")[1]
    return [html_lib.unescape(re.sub(r"<[^>]+>", "", c).strip()) for c in re.findall(r"<td[^>]*>(.*?)</td>", body,
                                                                                      flags=re.S)]  # fmt: skip


def headers(html: str) -> list[str]:
    head = html.split("<thead>")[1].split("</thead>")[0]
    return [html_lib.unescape(h.strip()) for h in re.findall(r"<th[^>]*>(.*?)</th>", head, flags=re.S)]


def test_every_header_reads_as_words():
    table = pd.DataFrame({"rows_read": [1234], "p_value": [0.2], "won_deals": [3], "ci_low": [0.1]})
    assert headers(table_html(table)) == ["Rows read", "p-value", "Won deals", "95% CI low"]
    assert header("n_censored") == "Still open"


def test_no_raw_float_reaches_a_table():
    table = pd.DataFrame({"roi": [25675.099272], "leads": [1200]})
    assert cells(table_html(table)) == ["25,675.10", "1,200"]


def test_a_small_win_rate_shows_its_counts_flagged():
    table = pd.DataFrame({"source": ["Web", "Events"], "won": [8, 30], "closed": [10, 40], "rate": [0.8, 0.75],
                          "ci_low": [0.49, 0.6], "ci_high": [0.94, 0.86]})  # fmt: skip
    assert cells(table_html(table)) == [
        "Web", "8", "10", "8 of 10 (small sample)", "small sample", "small sample",
        "Events", "30", "40", "75.0%", "60.0%", "86.0%",
    ]  # fmt: skip


def test_lead_value_from_four_won_deals_is_flagged_the_same_way():
    table = pd.DataFrame({"source": ["Web", "Partner"], "currency": ["USD", "USD"], "leads": [200, 900],
                          "won": [4, 25], "revenue_per_lead": [125.0, 64.5]})  # fmt: skip
    assert cells(table_html(table, columns=["source", "won", "revenue_per_lead"])) == [
        "Web", "4", "125 USD (small sample: 4 won deals)", "Partner", "25", "64.50 USD",
    ]  # fmt: skip


def test_the_mix_table_flags_a_rate_from_eight_of_ten():
    table = pd.DataFrame({"source": ["Web"], "successes_previous": [8], "n_previous": [10], "rate_previous": [0.8],
                          "successes_current": [30], "n_current": [50], "rate_current": [0.6],
                          "mix_effect": [-0.01]})  # fmt: skip
    shown = cells(table_html(table, columns=["source", "rate_previous", "rate_current", "mix_effect"]))
    assert shown == ["Web", "8 of 10 (small sample)", "60.0%", "-1.0 pts"]


def test_a_per_owner_table_shows_the_top_owners_and_other_from_counts():
    owners = pd.DataFrame({"owner": [f"owner {i:02d}" for i in range(30)], "won": range(30),
                           "closed": [10 + i for i in range(30)]})  # fmt: skip
    owners["rate"] = owners["won"] / owners["closed"]
    shown = cells(table_html(owners, by="owner", top=8))
    rows = [shown[i : i + 5] for i in range(0, len(shown), 5)]
    assert len(rows) == 9
    # owners 0..21 together: 231 won of 451 closed = 51.2%
    assert rows[-1] == ["Other (22 groups)", "231", "451", "51.2%", "22 smaller groups together"]


def test_the_load_summary_has_words_for_headers_and_separators_in_counts():
    table = pd.DataFrame({"file": ["/x/leads.csv"], "adapter": ["hubspot"], "table": ["leads"], "rows_read": [5000],
                          "rows_kept": [4998], "rows_quarantined": [2]})  # fmt: skip
    summary = LoadSummary(table)
    quarantine = pd.DataFrame({"reason": ["bad_date", "bad_date"]})
    page = load_summary_html(SimpleNamespace(summary=summary, quarantine=quarantine, notes=()))
    first = page.split("<p>")[0]
    assert headers(first) == ["File", "Adapter", "Table", "Rows read", "Rows kept", "Rows quarantined"]
    assert cells(first) == ["leads.csv", "hubspot", "leads", "5,000", "4,998", "2"]
    assert "rows_read" not in page and "<td>2</td>" in page.split("by reason")[1]


def test_the_summary_writes_money_points_and_days():
    measures = ["New leads", "Win rate", "Won revenue", "Median days to close (closed deals)"]
    headline = pd.DataFrame({"measure": measures, "this_period": [1200, 0.19, 73804.2, 39.0],
                             "previous_period": [1000, 0.231, 60000.0, 36.0], "change": [0.2, -0.041, 0.23, 3.0],
                             "note": ["", "", "in USD", ""], "currency": ["nan", "nan", "USD", "nan"]})  # fmt: skip
    page = summary_html(Review(headline=headline, period="2025 Q2", previous="2025 Q1"))
    assert cells(page.split("<ul")[0]) == [
        "New leads", "1,200", "1,000", "+20%", "",
        "Win rate", "19.0%", "23.1%", "-4.1 pts", "",
        "Won revenue", "73,804 USD", "60,000 USD", "+23%", "in USD",
        "Median days to close (closed deals)", "39.0 days", "36.0 days", "+3.0 days", "",
    ]  # fmt: skip
