"""Money: amounts read per column, currencies never added, won deals without an amount counted apart.

Every export here is a hand-written Salesforce report (field labels, amounts as "USD 1,234.00")
or Pipedrive deals file; the expected numbers are worked out in the comments.
"""

from __future__ import annotations

import pandas as pd
import pytest

import funnelkit as fk
from funnelkit.load._parse import parse_amounts
from funnelkit.report import quota_html

OPPORTUNITY_HEADER = '"Opportunity ID","Stage","Amount","Created Date","Close Date","Closed","Won","Lead Source"'
LEAD_HEADER = (
    '"Lead ID","Lead Source","Lead Status","Create Date","Converted","Converted Date","Converted Opportunity ID"'
)
STAGE = {"won": ("Closed Won", "1", "1"), "lost": ("Closed Lost", "1", "0"), "open": ("Prospecting", "0", "0")}


def opportunities(rows) -> str:
    """Salesforce report rows from ``(id, outcome, amount, created, closed)``; "" is a blank cell."""
    lines = [OPPORTUNITY_HEADER]
    for opportunity_id, outcome, amount, created, closed in rows:
        stage, is_closed, is_won = STAGE[outcome]
        fields = (opportunity_id, stage, amount, created, closed, is_closed, is_won, "Web")
        lines.append(",".join(f'"{v}"' for v in fields))
    return "\r\n".join(lines) + "\r\n"


def leads_for(rows) -> str:
    """One converted Web lead per opportunity, created and converted the day the opportunity was."""
    lines = [LEAD_HEADER]
    for opportunity_id, _, _, created, _ in rows:
        lines.append(f'"L{opportunity_id}","Web","Closed - Converted","{created}","1","{created}","{opportunity_id}"')
    return "\r\n".join(lines) + "\r\n"


def export(tmp_path, rows) -> fk.Dataset:
    """Leads and their opportunities ``rows`` as two Salesforce reports, loaded."""
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    write(folder / "leads.csv", leads_for(rows))
    write(folder / "opportunities.csv", opportunities(rows))
    return fk.load(folder, cache=False)


def write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


def won_deals(cells) -> list[tuple]:
    return [(f"O{i}", "won", cell, "01/15/2025", "02/20/2025") for i, cell in enumerate(cells, start=1)]


def amounts_of(tmp_path, cells, **options) -> fk.Dataset:
    """A Salesforce report of won deals whose Amount cells are ``cells`` (one deal each)."""
    return fk.load(write(tmp_path / "opportunities.csv", opportunities(won_deals(cells))), cache=False, **options)


def amounts(data: fk.Dataset) -> list:
    return data.opportunities.set_index("opportunity_id")["amount"].tolist()


# ---------------------------------------------------------------- number format per column --


def test_the_column_decides_the_decimal_sign_so_eur_1_500_is_fifteen_hundred(tmp_path):
    # "12,50" and "1.234,56" show a decimal comma; "1.500" alone could be 1.5 or 1500
    data = amounts_of(tmp_path, ["EUR 1.500", "EUR 12,50", "EUR 1.234,56", "EUR 2.000.000"])
    assert amounts(data) == [1500.0, 12.5, 1234.56, 2_000_000.0]
    assert data.quarantine.empty and data.summary.balanced


def test_a_dot_decimal_column_reads_1_500_as_one_and_a_half(tmp_path):
    data = amounts_of(tmp_path, ["USD 1.500", "USD 12.50", "USD 1,234.56"])
    assert amounts(data) == [1.5, 12.5, 1234.56]


def test_cells_that_contradict_the_columns_format_are_quarantined(tmp_path):
    # two cells show a decimal dot, one a decimal comma: the comma cell contradicts the column
    data = amounts_of(tmp_path, ["USD 1,234.56", "USD 12.50", "USD 1.234,56", "USD 1,500"])
    assert amounts(data) == [1234.56, 12.5, 1500.0]
    q = data.quarantine
    assert q[["line", "column", "value", "reason"]].values.tolist() == [[4, "Amount", "USD 1.234,56", "bad_amount"]]
    assert q["detail"].iloc[0] == (
        "the column writes decimals with '.' (2 cells such as 'USD 1,234.56'; 1 with ','): "
        "this cell's format contradicts it"
    )
    assert data.summary.table["rows_read"].sum() == 4 and data.summary.balanced


def test_a_leading_zero_shows_the_decimal_sign(tmp_path):
    # "0,500" cannot be a thousands group, so it shows a decimal comma: "1.500" is then 1,500
    assert amounts(amounts_of(tmp_path, ["EUR 0,500", "EUR 1.500"])) == [0.5, 1500.0]


def test_a_column_without_evidence_is_read_with_a_decimal_dot_and_says_so(tmp_path):
    data = amounts_of(tmp_path, ["EUR 1.500", "EUR 2.000"])
    assert amounts(data) == [1.5, 2.0]
    assert any(
        "2 amounts such as 'EUR 1.500' have one '.' or ',' before three digits" in n
        and "1.500 as 1.5, 1,500 as 1500" in n
        for n in data.notes
    )


def test_no_break_spaces_and_apostrophes_group_digits(tmp_path):
    nbsp, narrow = "\u00a0", "\u202f"
    data = amounts_of(tmp_path, [f"EUR 5{nbsp}994,82", f"1{narrow}234{narrow}567,5 €", "1 234,56 €", "EUR 12'500,00"])
    assert amounts(data) == [5994.82, 1_234_567.5, 1234.56, 12500.0]
    assert data.opportunities["currency"].tolist() == ["EUR"] * 4
    swiss = amounts_of(tmp_path, ["CHF 1'234.50", "Fr. 1\u2019000.00"])
    assert amounts(swiss) == [1234.5, 1000.0]
    assert swiss.opportunities["currency"].tolist() == ["CHF", "CHF"]


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("TL 1.234,50", 1234.5, "TRY"),
        ("1.234,50 TL", 1234.5, "TRY"),
        ("₺1.234,50", 1234.5, "TRY"),
        ("1 234,50 zł", 1234.5, "PLN"),
        ("R$ 1.234,50", 1234.5, "BRL"),
        ("CN¥1,234.50", 1234.5, "CNY"),
        ("RMB 1,234.50", 1234.5, "CNY"),
        ("NT$1,234.50", 1234.5, "TWD"),
        ("HK$1,234.50", 1234.5, "HKD"),
        ("C$1,234.50", 1234.5, "CAD"),
        ("CA$1,234.50", 1234.5, "CAD"),
        ("A$1,234.50", 1234.5, "AUD"),
        ("AU$1,234.50", 1234.5, "AUD"),
        ("₩1,234.50", 1234.5, "KRW"),
        ("1 234,50 ₽", 1234.5, "RUB"),
        ("Fr. 1'234.50", 1234.5, "CHF"),
        ("CHF 1'234.50", 1234.5, "CHF"),
        ("1 234,50 €", 1234.5, "EUR"),
        ("-1.234,50 €", -1234.5, "EUR"),
        ("(€1,234.50)", -1234.5, "EUR"),
        ("1.234,50 Kč", 1234.5, "CZK"),
        ("USD 1,234.50", 1234.5, "USD"),
    ],
)
def test_currency_signs_before_or_after_the_number(text, amount, currency):
    values = pd.Series([text], dtype="str")
    parsed, currencies, unparsed = parse_amounts(values, default_currency=None)
    assert (parsed.tolist(), currencies.tolist(), unparsed.tolist()) == ([amount], [currency], [False])


def test_kr_is_read_only_with_the_currency_said(tmp_path):
    # Danish, Icelandic, Norwegian and Swedish crowns are all "kr"
    data = amounts_of(tmp_path, ["SEK 1 000,00", "1 234,50 kr"])
    q = data.quarantine
    assert q[["line", "column", "value", "reason"]].values.tolist() == [[3, "Amount", "1 234,50 kr", "bad_amount"]]
    assert q["detail"].iloc[0].startswith("'kr' is the krona or krone of Denmark, Iceland, Norway and Sweden")
    said = amounts_of(tmp_path, ["SEK 1 000,00", "1 234,50 kr"], currency="SEK")
    assert amounts(said) == [1000.0, 1234.5] and said.quarantine.empty
    assert said.opportunities["currency"].tolist() == ["SEK", "SEK"]


def test_integers_up_to_two_to_the_53_are_exact(tmp_path):
    # amounts are float64: 2**53 is exact; 2**53 + 1 has no float64 and becomes 2**53
    data = amounts_of(tmp_path, ["USD 9007199254740992", "USD 9,007,199,254,740,991", "USD 9007199254740993"])
    exact, below, above = amounts(data)
    assert int(exact) == 2**53 == 9_007_199_254_740_992
    assert int(below) == 2**53 - 1
    assert int(above) == 2**53  # documented: the nearest float64
    assert data.opportunities["amount"].dtype == "float64"


# ---------------------------------------------------------------- currencies in a file --


def test_an_amount_without_currency_in_a_multi_currency_file_is_quarantined(tmp_path):
    data = amounts_of(tmp_path, ["EUR 100.00", "USD 200.00", "300.00"])
    q = data.quarantine
    assert q[["file", "line", "column", "value", "reason"]].values.tolist() == [
        [str(tmp_path / "opportunities.csv"), 4, "Amount", "300.00", "bad_amount"]
    ]
    assert q["detail"].iloc[0] == (
        "no currency: the amount names none, while the file's other amounts are in EUR, USD; "
        "load with currency= to say which currency amounts without one are in"
    )
    assert data.opportunities["opportunity_id"].tolist() == ["O1", "O2"]
    assert data.summary.balanced
    said = amounts_of(tmp_path, ["EUR 100.00", "USD 200.00", "300.00"], currency="EUR")
    assert said.quarantine.empty
    assert said.opportunities["currency"].tolist() == ["EUR", "USD", "EUR"]


def test_a_blank_currency_cell_beside_a_currency_column_is_quarantined(tmp_path):
    path = write(
        tmp_path / "deals.csv",
        "id,status,add_time,value,currency\n1,won,2025-01-01,100,EUR\n2,won,2025-01-02,200,USD\n"
        "3,won,2025-01-03,300,\n4,open,2025-01-04,,\n",
    )
    data = fk.load(path, source="pipedrive", cache=False)
    q = data.quarantine
    assert q[["line", "column", "value", "reason"]].values.tolist() == [[4, "value", "300", "bad_amount"]]
    assert q["detail"].iloc[0].startswith("no currency: the amount names none and its currency cell is blank")
    # the open deal has no amount: nothing to be in a currency, so it is kept
    assert data.opportunities["opportunity_id"].tolist() == ["1", "2", "4"]


def test_an_amount_whose_code_contradicts_the_currency_column_is_quarantined(tmp_path):
    text = opportunities(
        [
            ("O1", "won", "USD 100.00", "01/15/2025", "02/20/2025"),
            ("O2", "won", "EUR 50.00", "01/16/2025", "02/21/2025"),
        ]
    )  # the second row agrees with its currency column: a file of only bad rows is an error of its own
    text = text.replace('"Lead Source"', '"Lead Source","Opportunity Currency"').replace('"Web"', '"Web","EUR"')
    data = fk.load(write(tmp_path / "opportunities.csv", text), cache=False)
    q = data.quarantine
    assert q[["line", "column", "reason"]].values.tolist() == [[2, "Amount", "bad_amount"]]
    assert q["detail"].iloc[0] == "the amount's currency differs from the 'Opportunity Currency' column's"


def test_a_file_without_any_currency_keeps_its_amounts_and_never_says_several(tmp_path):
    data = amounts_of(tmp_path, ["100.00", "200.00"])
    assert data.quarantine.empty and amounts(data) == [100.0, 200.0]
    assert data.opportunities["currency"].isna().all()
    assert not any("several currencies" in n for n in data.notes)
    head = fk.review(export(tmp_path, won_deals(["100.00", "200.00"]))).headline.set_index("measure")
    assert head.loc["Won revenue", "this_period"] == 300.0
    assert head.loc["Won revenue", "note"] == "the export names no currency"


# ---------------------------------------------------------------- never add two currencies --

# Won: O1 EUR 1,000 (Q1), O2 USD 2,000 (Q1), O3 EUR 500 (Q2), O4 USD 3,000 (Q2); O5 EUR 700 lost (Q2).
# Days to close: O1 31, O2 36, O3 30, O4 35, O5 43.
MIXED = [
    ("O1", "won", "EUR 1,000.00", "01/10/2025", "02/10/2025"),
    ("O2", "won", "USD 2,000.00", "01/15/2025", "02/20/2025"),
    ("O3", "won", "EUR 500.00", "04/01/2025", "05/01/2025"),
    ("O4", "won", "USD 3,000.00", "04/05/2025", "05/10/2025"),
    ("O5", "lost", "EUR 700.00", "04/07/2025", "05/20/2025"),
]


@pytest.fixture
def mixed(tmp_path) -> fk.Dataset:
    return export(tmp_path, MIXED)


def test_the_review_headline_gives_won_revenue_per_currency(mixed):
    result = fk.review(mixed, period="Q")
    assert (result.period, result.previous) == ("2025 Q2", "2025 Q1")
    head = result.headline.set_index("measure")
    assert "Won revenue" not in head.index
    assert head.loc["Won revenue (EUR)", ["this_period", "previous_period", "currency"]].tolist() == [
        500.0,
        1000.0,
        "EUR",
    ]
    assert head.loc["Won revenue (USD)", ["this_period", "previous_period", "currency"]].tolist() == [
        3000.0,
        2000.0,
        "USD",
    ]
    assert head.loc["Won revenue (EUR)", "note"] == "in EUR; not added to USD"
    assert head.loc["Win rate", ["this_period", "previous_period"]].tolist() == [2 / 3, 1.0]
    assert any("Won revenue is in 2 currencies (EUR, USD)" in s for s in result.findings)


def test_the_quota_line_needs_the_quotas_currency(mixed):
    head = fk.review(mixed, period="Q").headline
    refused = quota_html(head, quota=10_000, period="2025 Q2")
    assert refused == (
        "<p class='fk-note'>No quota line: won revenue is in 2 currencies (EUR, USD); "
        "the quota line needs one: pass currency=EUR or USD.</p>"
    )
    usd = quota_html(head, quota=10_000, period="2025 Q2", currency="USD")
    assert "won 3,000 USD of the 10,000 USD quota (30%); 7,000 USD to go" in usd


def test_velocity_is_per_currency(mixed):
    with pytest.raises(
        fk.ParameterError, match=r"needs amounts in one currency, and this data's are in 2 \(EUR, USD\)"
    ):
        fk.velocity(mixed, period="Y")
    eur = fk.velocity(mixed, period="Y", currency="EUR").iloc[0]
    # EUR deals O1, O3 won and O5 lost: 3 x 2/3 x 750 / 31 (median of 31, 30, 43 days)
    assert eur[["currency", "opportunities", "won", "closed", "avg_deal_size", "cycle_days"]].tolist() == [
        "EUR",
        3,
        2,
        3,
        750.0,
        31.0,
    ]
    assert eur["velocity_per_day"] == pytest.approx(3 * (2 / 3) * 750 / 31)
    per_currency = fk.velocity(mixed, period="Y", by="currency").set_index("currency")
    assert per_currency.loc["USD", "velocity_per_day"] == pytest.approx(2 * 1.0 * 2500 / 35.5)
    assert per_currency.loc["EUR", "velocity_per_day"] == pytest.approx(eur["velocity_per_day"])


def test_the_plan_takes_the_deal_size_of_one_currency(mixed):
    rates = {"win_rate": 0.5, "sql_to_opportunity": 0.5, "mql_to_sql": 0.5, "lead_to_mql": 0.5}
    with pytest.raises(fk.ParameterError, match="deal size and revenue mix needs amounts in one currency"):
        fk.plan(quota=10_000, data=mixed, **rates)
    table = fk.plan(quota=10_000, data=mixed, currency="USD", **rates).set_index("stage")
    # USD deal size: (2,000 + 3,000) / 2 = 2,500 -> 4 deals
    assert table.loc["won", ["needed", "currency", "note"]].tolist() == [
        4,
        "USD",
        "deal size: mean of 2 won deals in USD",
    ]


def test_lost_value_is_not_added_across_currencies(mixed, tmp_path):
    assert fk.dropoff(mixed)["lost_value"].isna().all()
    one = fk.load(write(tmp_path / "one.csv", opportunities([MIXED[0], MIXED[2], MIXED[4]])), cache=False)
    assert fk.dropoff(one).set_index("stage").loc["opportunity", "lost_value"] == 700.0  # all in EUR


# ---------------------------------------------------------------- won deals without an amount --


@pytest.fixture
def blank(tmp_path) -> fk.Dataset:
    """Four Web leads converted to O1-O4: won 1,000, won 2,000, won without an amount, lost 300."""
    leads = [LEAD_HEADER] + [
        f'"L{i}","Web","Closed - Converted","01/0{i + 4}/2025 09:00 AM","1","01/15/2025","O{i}"' for i in range(1, 5)
    ]
    write(tmp_path / "leads.csv", "\r\n".join(leads) + "\r\n")
    rows = [
        ("O1", "won", "USD 1,000.00", "01/15/2025", "02/14/2025"),
        ("O2", "won", "USD 2,000.00", "01/15/2025", "02/20/2025"),
        ("O3", "won", "", "01/15/2025", "02/25/2025"),
        ("O4", "lost", "USD 300.00", "01/15/2025", "02/27/2025"),
    ]
    write(tmp_path / "opportunities.csv", opportunities(rows))
    return fk.load(tmp_path, cache=False)


def test_a_won_deal_without_amount_counts_as_won_but_not_in_revenue(blank):
    assert blank.quarantine.empty
    value = fk.lead_value(blank, matured_only=False).iloc[0]
    assert value[["source", "currency", "leads", "won", "won_without_amount", "won_revenue"]].tolist() == [
        "Web",
        "USD",
        4,
        3,
        1,
        3000.0,
    ]
    assert value["avg_deal_size"] == 1500.0  # (1,000 + 2,000) / 2, not 3,000 / 3
    assert value["revenue_per_lead"] == 750.0
    velocity = fk.velocity(blank, period="Y").iloc[0]
    assert velocity[["won", "closed", "won_without_amount", "avg_deal_size"]].tolist() == [3, 4, 1, 1500.0]
    assert fk.win_rate(blank, period="Y")["rate"].tolist() == [0.75]  # the blank deal is still a win


def test_the_plan_and_the_review_say_how_many_won_deals_had_no_amount(blank):
    rates = {"win_rate": 0.5, "sql_to_opportunity": 0.5, "mql_to_sql": 0.5, "lead_to_mql": 0.5}
    won = fk.plan(quota=15_000, data=blank, **rates).set_index("stage").loc["won"]
    assert won["needed"] == 10  # 15,000 / 1,500
    assert won["note"] == (
        "deal size: mean of 2 won deals in USD; 1 won deal has no amount: counted as won, "
        "left out of revenue sums and averages"
    )
    result = fk.review(blank, period="Q")
    head = result.headline.set_index("measure")
    assert head.loc["Won revenue", "this_period"] == 3000.0
    assert head.loc["Won revenue", "note"] == ("in USD; won deals without an amount left out: 1 this period, 0 before")
    assert head.loc["Win rate", "note"].startswith("3 won of 4 closed")
    assert any(s.startswith("1 won deal has no amount: counted as won") for s in result.findings)


def test_a_group_whose_won_deals_all_lack_an_amount_has_no_revenue_figure(tmp_path):
    data = export(tmp_path, won_deals(["", ""]))
    value = fk.velocity(data, period="Y").iloc[0]
    assert value[["won", "won_without_amount"]].tolist() == [2, 2] and pd.isna(value["avg_deal_size"])
    lead_value = fk.lead_value(data, matured_only=False).iloc[0]
    assert lead_value[["won", "won_without_amount"]].tolist() == [2, 2]
    assert pd.isna(lead_value["won_revenue"]) and pd.isna(lead_value["revenue_per_lead"])
    headline = fk.review(data).headline
    assert pd.isna(headline.set_index("measure").loc["Won revenue", "this_period"])
    assert quota_html(headline, quota=1000, period="2025 Q1") == (
        "<p class='fk-note'>No quota line: no won deal of the period has an amount.</p>"
    )
