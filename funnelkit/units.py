"""Units of the numbers funnelkit shows: declared once, formatted by meaning.

A number's unit decides how people see it: a rate as a percentage, a change
of a rate in points, money with its currency, durations in days, p-values as
"< 0.001". Funnel columns declare their unit in :mod:`funnelkit.funnel`;
metric results declare theirs here (:data:`COLUMN_UNITS`, by column name) or,
where a column's unit depends on the question asked (the ``value`` of
:func:`funnelkit.drift` is a rate for win rate and days for time to close), in
the result's ``attrs["units"]`` (:func:`declare`). ``present`` and ``plots``
format through :func:`units_of` and :func:`format_value`, never by guessing
from a column's name.
"""

from __future__ import annotations

import math
from enum import StrEnum

import pandas as pd


class Unit(StrEnum):
    """What a number or value is, so that tables and charts format it by meaning, not by name."""

    ID = "id"
    TEXT = "text"
    STAGE = "stage"
    FLAG = "flag"
    COUNT = "count"
    INDEX = "index"  # a position in the funnel's stage order
    RATE = "rate"  # a proportion, 0-1
    POINTS = "points"  # a difference of two rates, in proportion units (0.041 = 4.1 points)
    RATIO = "ratio"  # a relative change or multiple (0.25 = +25%)
    MONEY = "money"
    DAYS = "days"
    MINUTES = "minutes"
    TIMESTAMP = "timestamp"
    P_VALUE = "p_value"


_RATES = ("rate", "ci_low", "ci_high", "broad_rate", "broad_ci_low", "broad_ci_high", "cumulative_rate",
          "stopped_share", "share_previous", "share_current", "rate_previous", "rate_current", "win_rate",
          "within_target_rate", "within_max_rate", "never_touched_rate", "followed_up_rate", "survival")  # fmt: skip
_COUNTS = ("entered", "converted", "won", "lost", "closed", "n", "successes", "reached", "stopped",
           "disqualified", "still_open", "leads", "mqls", "sqls", "opportunities", "deals", "open", "stalled",
           "won_deals", "won_without_amount", "rows_read", "rows_kept", "rows_quarantined", "footer_lines",
           "within_target", "within_max", "never_touched", "followed_up", "delivered", "events",
           "censored", "at_risk", "skipped_stages")  # fmt: skip
_MONEY = ("won_revenue", "revenue_per_lead", "revenue_per_mql", "avg_deal_size", "lost_value", "spend",
          "cost_per_lead", "value_per_unit", "cost_per_won", "velocity_per_day", "amount", "pipeline",
          "open_value")  # fmt: skip
_DAYS = ("median", "q25", "q75", "closed_median", "horizon_days", "cycle_days", "lead_time_days", "days",
         "median_days")  # fmt: skip
_POINTS = ("mix_effect", "rate_effect", "total_change")

#: Units of metric result columns that mean the same thing in every result.
COLUMN_UNITS: dict[str, Unit] = {
    **dict.fromkeys(_RATES, Unit.RATE),
    **dict.fromkeys(_COUNTS, Unit.COUNT),
    **dict.fromkeys(_MONEY, Unit.MONEY),
    **dict.fromkeys(_DAYS, Unit.DAYS),
    **dict.fromkeys(_POINTS, Unit.POINTS),
    "median_minutes": Unit.MINUTES,
    "p_value": Unit.P_VALUE,
    "stage": Unit.STAGE,
    "from_stage": Unit.STAGE,
    "to_stage": Unit.STAGE,
    "furthest_stage": Unit.STAGE,
}


def declare(frame: pd.DataFrame, **units: Unit) -> pd.DataFrame:
    """``frame`` with ``units`` recorded for its columns (``attrs["units"]``), returned for chaining.

    Examples
    --------
    >>> table = declare(pd.DataFrame({"value": [36.0]}), value=Unit.DAYS)
    >>> units_of(table)["value"]
    <Unit.DAYS: 'days'>
    """
    frame.attrs["units"] = {**frame.attrs.get("units", {}), **{k: Unit(v) for k, v in units.items()}}
    return frame


def units_of(frame: pd.DataFrame) -> dict[str, Unit]:
    """Each column's unit: declared on the result, else the common meaning of its name.

    Columns with neither are left out (shown as they are: text, or plain numbers).
    """
    from .funnel import unit_of  # the funnel's own declaration (funnel imports this module)

    declared = frame.attrs.get("units", {})
    out = {}
    for column in frame.columns:
        unit = declared.get(column) or COLUMN_UNITS.get(column) or unit_of(str(column))
        if unit is not None:
            out[column] = Unit(unit)
    return out


def format_value(value, unit: Unit | str | None, *, currency: str | None = None) -> str:
    """One value as people read it, by its unit.

    Examples
    --------
    >>> format_value(0.1234, "rate"), format_value(-0.041, "points"), format_value(0.25, "ratio")
    ('12.3%', '-4.1 pts', '+25%')
    >>> format_value(25675.099272, "money", currency="USD"), format_value(36.04, "days")
    ('25,675 USD', '36.0 days')
    >>> format_value(0.00004, "p_value"), format_value(1234, "count"), format_value(None, "rate")
    ('< 0.001', '1,234', '')
    >>> format_value(0.0, "money", currency=float("nan")), format_value(12.5, "money")
    ('0', '12.50')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    unit = Unit(unit) if unit is not None else None
    if unit is Unit.RATE:
        text = f"{value:.1%}"
        return "0.0%" if text == "-0.0%" else text
    if unit is Unit.POINTS:
        text = f"{value * 100:+.1f} pts"
        return "0.0 pts" if text in ("-0.0 pts", "+0.0 pts") else text
    if unit is Unit.RATIO:
        return f"{value:+.0%}"
    if unit is Unit.MONEY:
        amount = f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"
        return f"{amount} {currency}" if isinstance(currency, str) and currency else amount
    if unit is Unit.DAYS:
        return f"{value:,.1f} days" if abs(value) < 100 else f"{value:,.0f} days"
    if unit is Unit.MINUTES:
        return f"{value:,.0f} min"
    if unit is Unit.P_VALUE:
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if unit in (Unit.COUNT, Unit.INDEX):
        return f"{int(round(value)):,}"
    if unit is Unit.FLAG:
        return "yes" if bool(value) else "no"
    if unit is Unit.TIMESTAMP:
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return str(value)
