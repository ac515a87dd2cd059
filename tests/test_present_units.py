"""Tables format numbers by their declared unit, never by guessing from a column name."""

from __future__ import annotations

import html as html_lib
import re

import pandas as pd

from funnelkit.present import table_html
from funnelkit.units import Unit, declare


def cells(html: str) -> list[str]:
    """The text of every body cell, row by row."""
    body = html.split("<tbody>")[1]
    return [html_lib.unescape(c.strip()) for c in re.findall(r"<td>(.*?)</td>", body, flags=re.S)]


def test_a_duration_drift_reads_in_days_not_percent():
    # fk.drift(metric="time_to_close") once showed a 36-day median as "3600.0%"
    table = declare(pd.DataFrame({"period": ["2025 Q1"], "value": [36.0], "change": [-4.25]}),
                    value=Unit.DAYS, change=Unit.DAYS)  # fmt: skip
    assert cells(table_html(table)) == ["2025 Q1", "36.0 days", "-4.2 days"]


def test_a_rate_drift_reads_in_percent_and_points():
    table = declare(pd.DataFrame({"value": [0.231], "change": [-0.041], "p_value": [0.00002]}),
                    value=Unit.RATE, change=Unit.POINTS)  # fmt: skip
    assert cells(table_html(table)) == ["23.1%", "-4.1 pts", "< 0.001"]


def test_money_carries_its_own_currency_per_row():
    table = pd.DataFrame({"currency": ["EUR", "USD"], "won_revenue": [74772.4, 112760.0], "won": [12, 30]})
    # the currency column is not repeated beside money that carries it
    assert cells(table_html(table)) == ["74,772 EUR", "12", "112,760 USD", "30"]
    assert "Currency" not in table_html(table)


def test_a_long_table_of_mixed_measures_formats_each_row_by_its_own_unit():
    from funnelkit.units import Unit, declare

    table = declare(
        pd.DataFrame(
            {
                "measure": ["leads", "win rate", "deal size"],
                "unit": ["count", "rate", "money"],
                "currency": ["USD"] * 3,
                "previous_value": [10.0, 0.5, 200.0],
                "current_value": [20.0, 0.2, 600.0],
                "change": [10.0, -0.3, 400.0],
            }
        ),
        previous_value=Unit.PER_ROW,
        current_value=Unit.PER_ROW,
        change=Unit.PER_ROW_CHANGE,
    )
    page = table_html(table)
    for shown in ("20", "50.0%", "20.0%", "-30.0 pts", "600 USD", "400 USD"):
        assert f">{shown}<" in page, shown


def test_a_column_no_row_fills_is_not_shown():
    table = pd.DataFrame({"owner": ["ann", "bob"], "source": [None, None], "won": [3, 4]})
    assert cells(table_html(table)) == ["ann", "3", "bob", "4"]
    assert "Source" not in table_html(table)


def test_notes_can_be_left_to_the_section():
    table = pd.DataFrame({"stage": ["a", "b"], "open": [3, 4], "note": ["no created date: age not measurable"] * 2})
    assert cells(table_html(table, notes=False)) == ["a", "3", "b", "4"]
    assert "no created date: age not measurable" in cells(table_html(table))[2]
