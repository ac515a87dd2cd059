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

from .i18n import _, babel_locale, get_locale


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
    #: a long table of mixed measures: each row names its unit in the table's ``unit`` column
    PER_ROW = "per_row"
    #: the change of such a row's value: a rate moves in points, anything else in its own unit
    PER_ROW_CHANGE = "per_row_change"


#: the column naming each row's unit in a table declared :attr:`Unit.PER_ROW`
ROW_UNIT = "unit"


def row_unit(declared: Unit, row: Unit | str) -> Unit:
    """The unit of one cell of a column declared per row.

    Examples
    --------
    >>> row_unit(Unit.PER_ROW, "rate"), row_unit(Unit.PER_ROW_CHANGE, "rate"), row_unit(Unit.PER_ROW_CHANGE, "money")
    (<Unit.RATE: 'rate'>, <Unit.POINTS: 'points'>, <Unit.MONEY: 'money'>)
    """
    unit = Unit(row)
    if declared is Unit.PER_ROW_CHANGE and unit is Unit.RATE:
        return Unit.POINTS
    return unit


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
    """One value as people read it, by its unit, in the language set by :func:`funnelkit.set_locale`.

    English (the default) keeps funnelkit's own style: ``12.3%``, ``25,675 USD`` (whole amounts
    from 100 on), dates as ``2025-03-04``. Other languages write numbers, percentages, money and
    dates as Babel's CLDR data has them for the locale (``%12,3`` and ``€1.234,50`` in Turkish,
    ``2025年3月4日`` in Chinese; money with its currency's own decimals), and the words (``pts``,
    ``days``, ``yes``) come from the catalogs.

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
    >>> from funnelkit.i18n import using_locale
    >>> with using_locale("tr"):
    ...     format_value(0.1234, "rate"), format_value(1234.5, "money", currency="EUR"), format_value(36.04, "days")
    ('%12,3', '€1.234,50', '36,0 gün')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    unit = Unit(unit) if unit is not None else None
    if unit is Unit.RATE:
        return _percent(value, decimals=1)
    if unit is Unit.POINTS:
        return _("{points} pts").format(points=_signed(value * 100, decimals=1))
    if unit is Unit.RATIO:
        return _percent(value, decimals=0, signed=True)
    if unit is Unit.MONEY:
        return _money(value, currency if isinstance(currency, str) and currency else None)
    if unit is Unit.DAYS:
        return _("{days} days").format(days=format_number(value, decimals=1 if abs(value) < 100 else 0))
    if unit is Unit.MINUTES:
        return _("{minutes} min").format(minutes=format_number(value))
    if unit is Unit.P_VALUE:
        if value < 0.001:
            return "< " + _decimal(0.001, "0.000")
        return _decimal(value, "0.000")
    if unit in (Unit.COUNT, Unit.INDEX):
        return format_number(int(round(value)))
    if unit is Unit.FLAG:
        return _("yes") if bool(value) else _("no")
    if unit is Unit.TIMESTAMP:
        return _date(pd.Timestamp(value))
    return str(value)


def flag_small(text: str, count: int | None = None, noun: str = "") -> str:
    """A value resting on fewer than :data:`funnelkit.stats.SMALL_N` observations, flagged one way everywhere.

    Tables and charts alike append "(small sample...)" to such a value, so a
    reader meets the same warning on a rate, a lead value or a mix row.

    Examples
    --------
    >>> flag_small("8 of 10")
    '8 of 10 (small sample)'
    >>> flag_small("5,303 USD", 4, "won deals")
    '5,303 USD (small sample: 4 won deals)'
    """
    if count is None:
        return _("{value} (small sample)").format(value=text)
    # TRANSLATORS: {noun} is what was counted, already translated ("won deals")
    said = _("{value} (small sample: {count} {noun})").format(value=text, count=format_number(int(count)), noun=noun)
    return said.replace(" )", ")").replace(" ）", "）")


def format_percent(value, *, decimals: int = 0, signed: bool = False) -> str:
    """A share as a percentage inside a sentence, in the current language (``12%``, ``+4.1%``; ``%12`` in Turkish).

    Examples
    --------
    >>> format_percent(0.123), format_percent(-0.041, decimals=1, signed=True)
    ('12%', '-4.1%')
    """
    return _percent(value, decimals=decimals, signed=signed)


def format_number(value, *, decimals: int = 0) -> str:
    """A plain number with its digits grouped, in the current language (``1,234.5``; ``1.234,5`` in Turkish).

    Examples
    --------
    >>> format_number(1234.56, decimals=1), format_number(7)
    ('1,234.6', '7')
    """
    return _decimal(value, "#,##0" + ("." + "0" * decimals if decimals else ""))


def _english() -> bool:
    return get_locale() == "en"


def _decimal(value, pattern: str) -> str:
    """``value`` by a CLDR number pattern; in English by Python's own formatting, as funnelkit always wrote it."""
    if _english():
        decimals = len(pattern.partition(".")[2])
        return f"{value:,.{decimals}f}" if "," in pattern else f"{value:.{decimals}f}"
    from babel.numbers import format_decimal

    return format_decimal(value, pattern, locale=babel_locale())


def _signed(value, *, decimals: int) -> str:
    """``+4.1`` / ``-4.1`` / ``0.0``: a change, with the locale's plus and minus signs (no sign on a zero)."""
    if _english():
        text = f"{value:+.{decimals}f}"
        return text[1:] if not any(digit in text for digit in "123456789") else text
    if round(value, decimals) == 0:
        return format_number(0, decimals=decimals)
    from babel.numbers import get_minus_sign_symbol, get_plus_sign_symbol

    sign = get_plus_sign_symbol(babel_locale()) if value > 0 else get_minus_sign_symbol(babel_locale())
    return sign + format_number(abs(value), decimals=decimals)


def _percent(value, *, decimals: int, signed: bool = False) -> str:
    """A share as a percentage, the sign where the locale puts it (``12.3%``; ``%12,3`` in Turkish)."""
    if _english():
        if signed:
            return f"{value:+.{decimals}%}"
        text = f"{value:.{decimals}%}"
        return text[1:] if text.startswith("-") and not any(digit in text for digit in "123456789") else text
    from babel.numbers import format_percent, get_minus_sign_symbol, get_plus_sign_symbol

    locale = babel_locale()
    positive = locale.percent_formats[None].pattern.split(";")[0]
    pattern = positive.replace("#,##0", "#,##0" + ("." + "0" * decimals if decimals else ""), 1)
    zero = round(value * 100, decimals) == 0
    text = format_percent(0 if zero else abs(value), pattern, locale=locale)
    if zero or not (signed or value < 0):
        return text
    return (get_plus_sign_symbol(locale) if value > 0 else get_minus_sign_symbol(locale)) + text


def _money(value, currency: str | None) -> str:
    """An amount: ``25,675 USD`` in English (whole from 100 on); CLDR's currency format elsewhere."""
    # a sum of cents added in another order (pandas, DuckDB, Spark) differs in its last bits: snapped to
    # a millionth, 120053.49999999999 and 120053.50000000001 both read "120,054 USD"
    value = round(float(value), 6)
    if _english() or currency is None:
        amount = format_number(value, decimals=0 if abs(value) >= 100 or float(value).is_integer() else 2)
        return f"{amount} {currency}" if currency else amount
    from babel.numbers import format_currency

    return format_currency(value, currency, locale=babel_locale())  # a code CLDR lacks is written as given


def _date(timestamp: pd.Timestamp) -> str:
    """A day: ``2025-03-04`` in English; the locale's medium date elsewhere (``4 Mar 2025``, ``2025年3月4日``)."""
    if _english():
        return timestamp.strftime("%Y-%m-%d")
    from babel.dates import format_date

    return format_date(timestamp.date(), format="medium", locale=babel_locale())
