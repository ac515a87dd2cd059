"""Report parameter values checked before a kernel starts: allowed sets, ranges, and the data itself.

The runner first checks names and types against the notebook's ``parameters``
cell (papermill's inspection, in :mod:`._runner`); this module checks the
*values* a caller gave (``-p by=ownr``, ``-p period=quarter``) so a scheduled
run fails in a second with one line naming the parameter, the allowed values
and the closest one, rather than minutes later in a cell. Values that need the
data (``by``, stage names) are checked against the dataset loaded exactly as
the report notebooks load it (same ``data_path``, ``source``, ``mapping``,
``date_order``, ``tz``, ``currency``, ``as_of``); loads are cached, so the
notebook's own load that follows is cheap.

Only values the caller gave are checked: a notebook's defaults are its
author's choice (the funnel review's default ``by="source"`` on an export
without sources is reported without the breakdown, with a note).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from ..errors import ParameterError
from ._data import TABLES, check_options, is_empty, open_data

PERIODS = ("W", "M", "Q", "Y")
DATE_ORDERS = ("auto", "mdy", "dmy", "ymd")
#: targets and sizes that cannot be negative
NON_NEGATIVE = ("quota", "deal_size", "mql_target", "stall_days", "tolerance", "touches_target")
#: rates given as a share (0-1), 0 meaning "measure it from the data"
SHARES = ("win_rate", "sql_to_opportunity", "mql_to_sql", "lead_to_mql")
DURATIONS = ("response_within", "max_response")
#: the arguments of the notebooks' ``fk.load(data_path, ...)`` call, with the value meaning "not given"
LOAD_ARGUMENTS = {"source": "auto", "mapping": None, "date_order": None, "tz": None, "currency": None, "as_of": None}


def check_values(given: dict[str, object], values: dict[str, object]) -> dict[str, object]:
    """Check the values a caller gave and return ``values`` with them in canonical form.

    Parameters
    ----------
    given : dict
        Names of the parameters the caller gave (only these are checked) and their values.
    values : dict
        Every parameter of the run, converted to the defaults' types (name -> value),
        ``data_path`` included.

    Returns
    -------
    dict
        ``values`` with the given ones in canonical form (``period="q"`` -> ``"Q"``,
        ``by="Owner"`` -> ``"owner"``, a stage label -> the stage's name).

    Raises
    ------
    ParameterError
        A value outside its allowed set or range, naming the parameter, the
        allowed values and the closest one; or a ``FunnelkitError`` from
        loading the data to check ``by`` or a stage.

    Examples
    --------
    >>> check_values({"period": "q"}, {"period": "q", "quota": 0.0})
    {'period': 'Q', 'quota': 0.0}
    >>> check_values({"by": "owner"}, {"by": ""})  # an empty value means "none": nothing to check
    {'by': ''}
    >>> check_values({"period": "quartr"}, {"period": "quartr"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funnelkit.errors.ParameterError: parameter period: 'quartr' is not a period (...); choose from ['W', 'M', 'Q', 'Y']
    """
    out = dict(values)
    for name in given:
        value = out.get(name)
        rule = _RULES.get(name)
        if rule is not None and not is_empty(value):
            out[name] = rule(name, value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"parameter {name}: {value!r} is not a number; give a finite number")
    if "data_path" in out:  # options tables read in place cannot honour: said before a kernel starts
        check_options(out["data_path"], **{name: out.get(name, none) for name, none in LOAD_ARGUMENTS.items()},
                      redact=bool(out.get("redact", False)))  # fmt: skip
    needs_data = [name for name in given if _needs_data(name) and not is_empty(out.get(name))]
    if needs_data:
        data = _load_like_the_notebook(out)
        for name in needs_data:
            out[name] = _check_stage(name, out[name], data) if _is_stage(name) else _check_by(name, out[name], data)
    return out


# ---------------------------------------------------------------- rules without data --


def choose(name: str, value, allowed: Iterable[str], *, what: str = "") -> str:
    """``value`` as spelled in ``allowed`` (matched ignoring case), else a ParameterError with a "did you mean"."""
    allowed = list(allowed)
    text = str(value).strip()
    by_lower = {option.lower(): option for option in allowed}
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=1, cutoff=0.6)
    hint = f"; did you mean {by_lower[close[0]]!r}?" if close else ""
    raise ParameterError(f"parameter {name}: {text!r} is not {what or 'allowed'}; choose from {allowed}{hint}")


def _period(name, value):
    return choose(name, value, PERIODS, what="a period (W week, M month, Q quarter, Y year)")


def _date_order(name, value):
    return choose(name, value, DATE_ORDERS, what="a date order")


def _source(name, value):
    from ..load import ADAPTERS

    return choose(name, value, ["auto", *sorted(ADAPTERS), TABLES], what="an adapter, or tables read in place")


def _fiscal_year_start(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
        raise ParameterError(f"parameter {name}: {value!r} is not a month number; choose from 1 to 12 (7 for July)")
    return value


def _non_negative(name, value):
    number = _number(name, value)
    if number < 0:
        raise ParameterError(f"parameter {name}: {value!r} is negative; give 0 or more")
    return value


def _share(name, value):
    number = _number(name, value)
    if not 0 <= number <= 1:
        hint = f"; did you mean {number / 100:g}?" if 1 < number <= 100 else ""
        raise ParameterError(f"parameter {name}: {value!r} is not a share; give a number from 0 to 1{hint}")
    return value


def _number(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(f"parameter {name}: {value!r} is not a number; give a finite number")
    return float(value)


def _time_zone(name, value):
    text = str(value).strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        import zoneinfo

        hint = difflib.get_close_matches(text, sorted(zoneinfo.available_timezones()), n=1, cutoff=0.6)
        raise ParameterError(
            f"parameter {name}: {text!r} is not a time zone; give an IANA name such as 'UTC' or 'Europe/Berlin'"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        ) from None
    return text


def _date(name, value):
    text = str(value).strip()
    if not any(ch.isdigit() for ch in text):
        raise ParameterError(f"parameter {name}: {text!r} is not a date; give one like 2025-12-31")
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        raise ParameterError(f"parameter {name}: {text!r} is not a date; give one like 2025-12-31") from None
    return text


def _lang(name, value):
    from ..i18n import supported_language

    return supported_language(str(value), name=name)


def _duration(name, value):
    text = str(value).strip()
    try:
        delta = pd.Timedelta(text)
    except (ValueError, TypeError):
        raise ParameterError(
            f"parameter {name}: {text!r} is not a duration; give one like '30min', '4h' or '1D'"
        ) from None
    if pd.isna(delta) or delta <= pd.Timedelta(0):
        raise ParameterError(f"parameter {name}: {text!r} is not a positive duration; give one like '30min'")
    return text


_RULES: dict[str, Callable[[str, object], object]] = {
    "period": _period,
    "date_order": _date_order,
    "source": _source,
    "fiscal_year_start": _fiscal_year_start,
    "tz": _time_zone,
    "as_of": _date,
    "lang": _lang,
    **dict.fromkeys(NON_NEGATIVE, _non_negative),
    **dict.fromkeys(SHARES, _share),
    **dict.fromkeys(DURATIONS, _duration),
}


# ---------------------------------------------------------------- rules on the data --


def _is_stage(name: str) -> bool:
    return name == "stage" or name.endswith("_stage")


def _needs_data(name: str) -> bool:
    return name == "by" or _is_stage(name)


def _load_like_the_notebook(values: dict[str, object]):
    """The dataset as the report notebooks open it (:func:`funnelkit.report.open_data` with their parameters)."""
    options = {name: values.get(name, none) for name, none in LOAD_ARGUMENTS.items()}
    return open_data(values["data_path"], **options)


def groupable_columns(data) -> list[str]:
    """Funnel columns a report can break down by: text columns the data fills (not ids or timestamps)."""
    return sorted(column for column, filled in _text_columns(data).items() if filled)


def _text_columns(data) -> dict[str, bool]:
    """The funnel's text columns (not ids or timestamps), each with whether the data fills it; on an engine, one
    aggregate query (no row comes to Python)."""
    if not hasattr(data, "funnel_table"):  # loaded: the funnel is in pandas
        funnel = data.funnel
        return {
            column: bool(funnel[column].notna().any())
            for column in funnel.columns
            if not column.endswith(("_id", "_at", "_index"))
            and (isinstance(funnel[column].dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(funnel[column]))
        }
    from ..engine._common import fetch

    table = data.funnel_table
    schema = table.schema()
    text = [c for c in table.columns if not c.endswith(("_id", "_at", "_index")) and schema[c].is_string()]
    if not text:
        return {}
    filled = fetch(table.aggregate(**{f"_{i}": table[c].count() for i, c in enumerate(text)})).iloc[0]
    return {column: bool(filled[f"_{i}"]) for i, column in enumerate(text)}


def _funnel_columns(data) -> list[str]:
    return data.funnel_columns if hasattr(data, "funnel_table") else list(data.funnel.columns)


def _check_by(name: str, value, data) -> str:
    text_columns = _text_columns(data)
    allowed = sorted(column for column, filled in text_columns.items() if filled)
    columns = _funnel_columns(data)
    text = str(value).strip()
    if text not in columns and text.lower() not in {c.lower() for c in allowed}:
        return choose(name, text, allowed, what="a column of this data")
    if text in columns and text not in allowed:
        kind = "empty in this data" if text in text_columns else "not a text column to group by"
        raise ParameterError(f"parameter {name}: {text!r} is {kind}; choose from {allowed}")
    return choose(name, text, allowed)


def _check_stage(name: str, value, data) -> str:
    stages = data.stages
    stage = stages.stage_of(str(value))
    if stage in stages.names:
        return stage
    return choose(name, value, stages.names, what="a stage of this funnel")
