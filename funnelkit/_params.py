"""One vocabulary for the parameters of every metric, checked in one place.

Every public metric (and :func:`funnelkit.review`) passes its parameters
through :func:`check` before computing anything, so the same name means the
same thing everywhere and a wrong value fails the same way everywhere:

========================  ==========================================================================
``data``                  the :class:`~funnelkit.Dataset` :func:`funnelkit.load` returns (first)
``by``                    funnel column(s) to break down by; default ``None`` (no breakdown)
``period``                ``"W"``, ``"M"``, ``"Q"`` or ``"Y"`` (any case); ``None`` where optional
                          (no breakdown), :data:`DEFAULT_PERIOD` where a metric counts per period
``from_stage``, ``to_stage``, ``stage``
                          stage names of the data's funnel (any case: ``"Won"``, ``"SQL"``)
``start``, ``end``        dates, ``[start, end)``: ``"2025-06-30"`` (year-month-day), a
                          ``datetime``/``Timestamp``; naive values are UTC
``fiscal_year_start``     first month of the fiscal year, 1-12
========================  ==========================================================================

A bad value raises :class:`~funnelkit.ParameterError` naming the parameter,
the value received and the values allowed, with a "did you mean" when one is
close; never a pandas ``DateParseError``, a ``KeyError`` or a ``TypeError``.
Old keyword names keep working for one release with a ``DeprecationWarning``
(:func:`renamed`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import numbers
import warnings
from collections.abc import Callable, Iterable
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .errors import ParameterError

PERIODS = ("W", "M", "Q", "Y")
PERIOD_WORDS = {"W": "week", "M": "month", "Q": "quarter", "Y": "year"}
#: The period of every metric that counts per period, unless told otherwise.
DEFAULT_PERIOD = "Q"
#: Breakdown of every metric, unless told otherwise: none.
DEFAULT_BY = None
DATE_EXAMPLE = "'2025-06-30'"


def did_you_mean(value, options: Iterable) -> str:
    """``"; did you mean 'owner'?"`` for the option closest to ``value`` (ignoring case), else ``""``.

    Examples
    --------
    >>> did_you_mean("ownr", ["source", "owner"]), did_you_mean("xyz", ["source"])
    ("; did you mean 'owner'?", '')
    """
    options = [str(o) for o in options]
    folded = {o.casefold(): o for o in options}
    close = difflib.get_close_matches(str(value).casefold(), list(folded), n=1, cutoff=0.6)
    return f"; did you mean {folded[close[0]]!r}?" if close else ""


def _text(name: str, value, allowed) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"{name} must be text, one of {list(allowed)}; got {value!r} ({type(value).__name__})")
    return value.strip()


def choice(name: str, value, allowed: Iterable) -> str:
    """``value`` as written in ``allowed``, matched ignoring case.

    Examples
    --------
    >>> choice("basis", "Cohort", ("cohort", "period"))
    'cohort'
    >>> try:
    ...     choice("basis", "cohrt", ("cohort", "period"))
    ... except ParameterError as exc:
    ...     print(exc)
    basis must be one of ['cohort', 'period']; got 'cohrt'; did you mean 'cohort'?
    """
    allowed = tuple(allowed)
    text = _text(name, value, allowed)
    for option in allowed:
        if text.casefold() == str(option).casefold():
            return option
    raise ParameterError(f"{name} must be one of {list(allowed)}; got {value!r}{did_you_mean(text, allowed)}")


def period(value, *, name: str = "period", required: bool = False) -> str | None:
    """A period code (``"q"`` -> ``"Q"``), or None where a period is optional.

    Examples
    --------
    >>> period("q"), period(None)
    ('Q', None)
    """
    if value is None:
        if required:
            raise ParameterError(f"{name} is needed here: one of {list(PERIODS)} (week, month, quarter, year)")
        return None
    words = ", ".join(f"{code} = {word}" for code, word in PERIOD_WORDS.items())
    text = _text(name, value, PERIODS)
    for code in PERIODS:
        if text.casefold() == code.casefold():
            return code
    by_word = [c for c, word in PERIOD_WORDS.items() if text and word.startswith(text.casefold()[:4])]
    hint = f"; did you mean {by_word[0]!r}?" if by_word else ""
    raise ParameterError(f"{name} must be one of {list(PERIODS)} ({words}); got {value!r}{hint}")


def dataset(value):
    """The loaded data, checked to be a :class:`~funnelkit.Dataset`."""
    from .dataset import Dataset  # dataset imports the funnel; this module stays import-light

    if type(value).__module__.startswith("funnelkit.engine"):
        raise ParameterError(
            "this needs the data loaded with fk.load(...); on a dataset from fk.connect every public metric "
            "and fk.review run in its engine"
        )
    if not isinstance(value, Dataset):
        raise ParameterError(f"data must be a funnelkit Dataset, as fk.load(...) returns; got a {type(value).__name__}")
    return value


def stage(data, value, *, name: str = "stage", what: str | None = None, allowed=None) -> str | None:
    """A stage name of the data's funnel (``"Won"`` -> ``"won"``), or None.

    ``allowed`` narrows (or widens) the stages accepted; ``what`` names the
    function that needs the stage, for a message such as "sla() needs the
    stage 'mql', but this data's funnel is [...]".
    """
    if value is None:
        return None
    names = tuple(data.stages.names if allowed is None else allowed)
    text = _text(name, value, names)
    for option in names:
        if text.casefold() == option.casefold():
            return option
    hint = did_you_mean(text, names)
    if what is not None:
        raise ParameterError(f"{what} needs the stage {value!r}, but this data's funnel is {list(names)}{hint}")
    raise ParameterError(f"{name}: unknown stage {value!r}; the funnel's stages are {list(names)}{hint}")


def by(data, value) -> list[str]:
    """``by`` as a list of funnel columns (``None`` -> ``[]``), each checked to exist (a unique match ignoring case
    counts)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(c, str) for c in items):
        raise ParameterError(
            f"by must be a column name or a list of them, such as by='source'; got {value!r} ({type(value).__name__})"
        )
    columns = funnel_columns(data)
    folded = {}
    for column in columns:
        folded.setdefault(column.casefold(), []).append(column)
    out = []
    for item in items:
        if item in columns:
            out.append(item)
        elif len(folded.get(item.casefold(), [])) == 1:
            out.append(folded[item.casefold()][0])
        else:
            choices = [c for c in columns if not c.endswith(("_at", "_index"))]
            raise ParameterError(
                f"by={item!r} is not a column of the data; choose from {choices}{did_you_mean(item, choices)}"
            )
    for column in out:
        _check_labels(data, column)
    return out


#: what pandas infers for a column whose values can label a group (text, numbers, dates, flags)
_LABEL_KINDS = {
    "string", "empty", "integer", "floating", "mixed-integer-float", "decimal", "boolean", "categorical",
    "datetime64", "datetime", "date", "timedelta64", "timedelta", "period",
}  # fmt: skip


def _check_labels(data, column: str) -> None:
    """A loaded table's ``by`` column must hold labels: a dict or list in a cell cannot name a group."""
    tables = [getattr(data, name, None) for name in ("leads", "opportunities")]
    for table in tables:
        if not isinstance(table, pd.DataFrame) or column not in table.columns or table[column].dtype != object:
            continue
        if pd.api.types.infer_dtype(table[column], skipna=True) in _LABEL_KINDS:
            continue
        odd = next((v for v in table[column] if not pd.api.types.is_scalar(v)), None)  # only on this rare path
        if odd is not None:
            raise ParameterError(
                f"by={column!r}: the column holds {type(odd).__name__} values such as {str(odd)[:60]!r}, which "
                "cannot name a group; group by a column of text, numbers or dates"
            )


def funnel_columns(data) -> list[str]:
    """The columns of the data's funnel view; an engine's dataset names them without bringing its rows to Python."""
    columns = getattr(data, "funnel_columns", None)
    return list(data.funnel.columns if columns is None else columns)


def date(value, *, name: str) -> pd.Timestamp | None:
    """A date or moment as a UTC Timestamp (naive values are UTC); text must be ISO year-month-day.

    Day-first or month-first text ("03/04/2025") is refused, never guessed.

    Examples
    --------
    >>> date("2025-06-30", name="start")
    Timestamp('2025-06-30 00:00:00+0000', tz='UTC')
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = pd.Timestamp(dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            raise ParameterError(
                f"{name}={value!r} is not a date funnelkit can read without guessing; write it year-month-day, "
                f"such as {name}={DATE_EXAMPLE}"
            ) from None
    elif isinstance(value, (dt.date, np.datetime64)) and not pd.isna(value):
        moment = pd.Timestamp(value)
    else:
        raise ParameterError(
            f"{name} must be a date, such as {name}={DATE_EXAMPLE}; got {value!r} ({type(value).__name__})"
        )
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def fiscal_year_start(value) -> int:
    """The first month of the fiscal year, 1-12."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= 12:
        raise ParameterError(f"fiscal_year_start must be a month number 1-12, such as 1 (January); got {value!r}")
    return int(value)


def non_negative(value, *, name: str) -> float | None:
    """A number of days or a tolerance: 0 or more (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ParameterError(f"{name} must be 0 or more (a number); got {value!r}")
    return value


#: How each parameter name is checked: the declared constraints of the vocabulary.
_RULES: dict[str, Callable] = {
    "by": lambda data, v, what: by(data, v),
    "period": lambda data, v, what: period(v),
    "from_stage": lambda data, v, what: stage(data, v, name="from_stage", what=what),
    "to_stage": lambda data, v, what: stage(data, v, name="to_stage", what=what),
    "stage": lambda data, v, what: stage(data, v, name="stage", what=what),
    "start": lambda data, v, what: date(v, name="start"),
    "end": lambda data, v, what: date(v, name="end"),
    "fiscal_year_start": lambda data, v, what: fiscal_year_start(v),
}


def check(data, *, what: str | None = None, **values) -> SimpleNamespace:
    """Every parameter checked and normalised by the vocabulary's rules; ``data`` checked to be a Dataset.

    Returns the values as attributes (``p.by`` a list, ``p.period`` an upper-case
    code, ``p.start`` a UTC Timestamp, ...). ``start`` must come before ``end``.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> p = check(data, by="Source", period="q", from_stage="MQL", start="2025-01-01")
    >>> p.by, p.period, p.from_stage, str(p.start)
    (['source'], 'Q', 'mql', '2025-01-01 00:00:00+00:00')
    """
    dataset(data)
    return check_options(data, what=what, **values)


def check_options(data, *, what: str | None = None, **values) -> SimpleNamespace:
    """:func:`check` without checking what ``data`` is: for the metrics of an engine's dataset
    (:class:`funnelkit.EngineDataset`), which are its methods and offer the same ``stages`` and funnel columns."""
    out = {name: _RULES[name](data, value, what) for name, value in values.items()}
    start, end = out.get("start"), out.get("end")
    if start is not None and end is not None and start >= end:
        raise ParameterError(f"start ({start:%Y-%m-%d}) must come before end ({end:%Y-%m-%d})")
    return SimpleNamespace(**out)


def renamed(**old_to_new: str):
    """Let a function take its parameters' old names for one release, with a DeprecationWarning naming the new one."""

    def wrap(function):
        @functools.wraps(function)
        def call(*args, **kwargs):
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise ParameterError(f"{function.__name__}(): give {new}= only ({old}= is its old name)")
                warnings.warn(
                    f"{function.__name__}(): {old}= is now named {new}=; the old name stops working in the next "
                    "release",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return call

    return wrap
