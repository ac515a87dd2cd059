"""Lost reasons: counts, shares with Wilson intervals, value per currency, trend, top N, and a missing column.

The hand-built deals (all lost unless said):

    deal  closed      reason         amount
    L1    2025-01-15  Price          100 USD
    L2    2025-02-10  "Price "       200 USD   (same reason once trimmed)
    L3    2025-04-05  Timing         300 EUR
    L4    2025-04-20  "" (blank)      50 USD
    L5    2025-05-01  (none)         no amount, USD
    L6    2025-05-02  Price          400 EUR
    L7    2025-05-03  Competitor      70 USD
    W1    2025-03-01  -              won, 999 USD
    O1    -           -              open

7 lost deals: Price 3 (USD 300 from 2 deals, EUR 400 from 1), (no reason given) 2
(USD 50; L5 has no amount), Timing 1 (EUR 300), Competitor 1 (USD 70).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from metrics_fixtures import _column, empty_events

import funnelkit as fk
from funnelkit import schema as s

ROWS = [
    ("L1", "2025-01-15", "lost", "Price", 100, "USD", "ann"),
    ("L2", "2025-02-10", "lost", "Price ", 200, "USD", "bob"),
    ("L3", "2025-04-05", "lost", "Timing", 300, "EUR", "ann"),
    ("L4", "2025-04-20", "lost", "", 50, "USD", "bob"),
    ("L5", "2025-05-01", "lost", None, None, "USD", "ann"),
    ("L6", "2025-05-02", "lost", "Price", 400, "EUR", "bob"),
    ("L7", "2025-05-03", "lost", "Competitor", 70, "USD", "ann"),
    ("W1", "2025-03-01", "won", None, 999, "USD", "bob"),
    ("O1", None, "opportunity", None, 10, "USD", "ann"),
]


def lost_deals(rows=ROWS, *, with_reason_column: bool = True) -> fk.Dataset:
    ids, closed, stage, reason, amount, currency, owner = zip(*rows, strict=True)
    opps = pd.DataFrame(
        {
            s.OPPORTUNITY_ID: list(ids),
            s.LEAD_ID: [None] * len(ids),
            s.CREATED_AT: _column(["2025-01-01"] * len(ids)),
            s.CLOSED_AT: _column(closed),
            s.STAGE: list(stage),
            s.STAGE_LABEL: list(stage),
            s.IS_CLOSED: [x != "opportunity" for x in stage],
            s.IS_WON: [x == "won" for x in stage],
            s.AMOUNT: [np.nan if a is None else float(a) for a in amount],
            s.CURRENCY: list(currency),
            s.SOURCE: ["Web"] * len(ids),
            s.OWNER: list(owner),
            s.LOST_REASON: list(reason),
        }
    )
    if not with_reason_column:
        opps = opps.drop(columns=s.LOST_REASON)
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in s.LEAD_COLUMNS.items()})
    return fk.Dataset(leads, opps, empty_events(), stages=fk.Stages(names=("opportunity", "won")))


def wilson_by_hand(x: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.fixture(scope="module")
def data():
    return lost_deals()


def test_lost_reasons_counts_shares_and_value_per_currency(data):
    table = fk.lost_reasons(data)
    assert table[["lost_reason", "currency", "lost", "lost_in_currency", "lost_value"]].values.tolist() == [
        ["Price", "EUR", 3, 1, 400.0],
        ["Price", "USD", 3, 2, 300.0],
        ["Competitor", "USD", 1, 1, 70.0],
        ["Timing", "EUR", 1, 1, 300.0],
        ["(no reason given)", "USD", 2, 2, 50.0],
    ]
    assert (table["lost_total"] == 7).all() and table["small_sample"].all()
    price = table.iloc[0]
    assert price["share"] == pytest.approx(3 / 7)
    low, high = wilson_by_hand(3, 7)
    assert (price["ci_low"], price["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert (round(low, 4), round(high, 4)) == (0.1582, 0.7495)
    blank = table.iloc[-1]
    assert blank["note"] == "1 lost deal without an amount, not in lost_value"
    assert table["note"].iloc[:-1].isna().all()


def test_money_is_never_summed_across_currencies(data):
    table = fk.lost_reasons(data)
    price = table[table["lost_reason"] == "Price"]
    assert sorted(price["lost_value"]) == [300.0, 400.0]  # never 700


def test_top_n_keeps_the_most_frequent_and_folds_the_rest_into_other(data):
    table = fk.lost_reasons(data, top=1)
    assert table[["lost_reason", "currency", "lost", "lost_in_currency", "lost_value"]].values.tolist() == [
        ["Price", "EUR", 3, 1, 400.0],
        ["Price", "USD", 3, 2, 300.0],
        ["Other", "EUR", 2, 1, 300.0],  # Timing
        ["Other", "USD", 2, 1, 70.0],  # Competitor
        ["(no reason given)", "USD", 2, 2, 50.0],  # never folded into Other
    ]
    assert fk.lost_reasons(data, top=10)["lost_reason"].nunique() == 4
    for bad in (0, -1, 1.5, "3", True):
        with pytest.raises(fk.ParameterError, match="top"):
            fk.lost_reasons(data, top=bad)


def test_trend_by_quarter_of_close(data):
    table = fk.lost_reasons(data, period="Q")
    counts = table.drop_duplicates(["period", "lost_reason"])
    assert counts[["period", "lost_reason", "lost", "lost_total"]].values.tolist() == [
        ["2025 Q1", "Price", 2, 2],  # L1, L2
        ["2025 Q2", "Competitor", 1, 5],
        ["2025 Q2", "Price", 1, 5],
        ["2025 Q2", "Timing", 1, 5],
        ["2025 Q2", "(no reason given)", 2, 5],
    ]
    q2_price = counts[(counts["period"] == "2025 Q2") & (counts["lost_reason"] == "Price")].iloc[0]
    assert q2_price["share"] == pytest.approx(0.2)


def test_a_lost_deal_without_a_close_date_is_in_no_period_and_said_so():
    table = fk.lost_reasons(lost_deals([*ROWS, ("L8", None, "lost", "Price", 10, "USD", "ann")]), period="Q")
    undated = table[table["period"].isna()]
    assert undated[["lost_reason", "lost", "lost_total", "lost_value"]].values.tolist() == [["Price", 1, 1, 10.0]]
    assert undated["note"].tolist() == ["1 lost deal without a close date, in no period"]


def test_by_owner(data):
    table = fk.lost_reasons(data, by="owner").drop_duplicates(["owner", "lost_reason"])
    got = {(o, r): (n, total) for o, r, n, total in table[["owner", "lost_reason", "lost", "lost_total"]].values}
    assert got == {
        ("ann", "Price"): (1, 4),
        ("ann", "Competitor"): (1, 4),
        ("ann", "Timing"): (1, 4),
        ("ann", "(no reason given)"): (1, 4),
        ("bob", "Price"): (2, 3),
        ("bob", "(no reason given)"): (1, 3),
    }


def test_no_lost_reason_column_is_said_never_a_table_of_blanks():
    with pytest.raises(fk.NotMeasurableError, match="this export has no lost reason column") as caught:
        fk.lost_reasons(lost_deals(with_reason_column=False))
    assert caught.value.missing == ("lost_reason",)


def test_no_lost_deal_is_not_measurable():
    won_only = fk.load("tests/data/salesforce_report", cache=False).filter(source="Web")
    with pytest.raises(fk.NotMeasurableError, match="no deal .* has been lost"):
        fk.lost_reasons(won_only)


PIPEDRIVE = (
    "id,title,value,currency,status,stage,add_time,stage_change_time,won_time,lost_time,close_time,{reason}owner_name\n"
    "1,A,1000,EUR,lost,Qualified,2025-01-10 10:00:00,,,2025-02-01 09:00:00,2025-02-01 09:00:00,{r1}Mia\n"
    "2,B,2000,EUR,lost,Qualified,2025-01-12 10:00:00,,,2025-02-03 09:00:00,2025-02-03 09:00:00,{r2}Mia\n"
    "3,C,3000,EUR,lost,Qualified,2025-01-14 10:00:00,,,2025-02-05 09:00:00,2025-02-05 09:00:00,{r3}Lou\n"
    "4,D,500,EUR,won,Qualified,2025-01-14 10:00:00,,2025-02-06 09:00:00,,2025-02-06 09:00:00,{r4}Lou\n"
)


def test_exports_with_blank_reasons_and_without_the_column(tmp_path):
    with_column = tmp_path / "with" / "deals.csv"
    with_column.parent.mkdir()
    with_column.write_text(PIPEDRIVE.format(reason="lost_reason,", r1="Price,", r2=",", r3="Price,", r4=","))
    table = fk.lost_reasons(fk.load(with_column, cache=False))
    assert table[["lost_reason", "lost", "currency", "lost_value"]].values.tolist() == [
        ["Price", 2, "EUR", 4000.0],
        ["(no reason given)", 1, "EUR", 2000.0],
    ]
    without = tmp_path / "without" / "deals.csv"
    without.parent.mkdir()
    without.write_text(PIPEDRIVE.format(reason="", r1="", r2="", r3="", r4=""))
    data = fk.load(without, cache=False)
    assert s.NO_LOST_REASON_COLUMN in data.notes
    with pytest.raises(fk.NotMeasurableError, match="this export has no lost reason column"):
        fk.lost_reasons(data)


def test_salesforce_exports_with_and_without_a_loss_reason_column():
    report = fk.lost_reasons(fk.load("tests/data/salesforce_report", cache=False))
    assert report[["lost_reason", "lost", "lost_value", "currency"]].values.tolist() == [["Price", 1, 4000.5, "USD"]]
    api = fk.load("tests/data/salesforce_api", cache=False)  # Opportunity.csv has no LossReason column
    with pytest.raises(fk.NotMeasurableError, match="this export has no lost reason column"):
        fk.lost_reasons(api)


def test_plot_lost_reasons(data):
    import matplotlib

    matplotlib.use("Agg")
    from funnelkit import plots

    ax = plots.plot_lost_reasons(fk.lost_reasons(data, top=2))
    labels = [x.get_text() for x in ax.get_yticklabels()]
    top_down = [label for _, label in sorted(zip(ax.get_yticks(), labels, strict=True), reverse=True)]
    assert top_down == ["Price", "Competitor", "Other", "(no reason given)"]
    assert [round(p.get_width()) for p in ax.patches] == [3, 1, 1, 2]
    # 7 lost deals in all: fewer than 20, so counts, not percentages
    assert {x.get_text() for x in ax.texts} == {"3 of 7", "1 of 7", "2 of 7"}
    with pytest.raises(fk.ParameterError, match="without by= or period="):
        plots.plot_lost_reasons(fk.lost_reasons(data, period="Q"))
    dollars = pd.DataFrame({"lost_reason": ["Promo $$"], "lost": [30], "lost_total": [40], "share": [0.75]})
    ax = plots.plot_lost_reasons(dollars)
    assert [x.get_text() for x in ax.get_yticklabels()] == [r"Promo \$\$"]
    assert ax.texts[0].get_text() == "30 (75%)"
    matplotlib.pyplot.close("all")
