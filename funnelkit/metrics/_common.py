"""Shared helpers of the metrics: periods with fiscal years, ``by=`` groups, validation."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .._arrow import labels as text_labels
from ..dataset import Dataset
from ..errors import ParameterError
from ..schema import stage_column

PERIODS = params.PERIODS

#: Column that says, on the rows of a metric's table that could not be measured in full, why.
#: A table has it only when some row needs it; a metric that can measure nothing raises
#: :class:`~funnelkit.NotMeasurableError` instead of returning an empty table.
NOTE = "note"


def check_choice(name: str, value, allowed: Iterable) -> str:
    """``value`` as written in ``allowed`` (any case), else a ParameterError with a "did you mean"."""
    return params.choice(name, value, allowed)


def by_columns(data: Dataset, by) -> list[str]:
    """``by`` as a list of funnel columns, each checked to exist (see :func:`funnelkit._params.by`)."""
    return params.by(data, by)


#: The funnel columns metrics read (the declared view without the text that only describes an entity).
CORE_COLUMNS = tuple(c.name for c in fn.COLUMNS if c.name not in (fn.SOURCE_BASIS, fn.STATUS, fn.LOST_REASON))


def core(data: Dataset, by=(), *, columns=None) -> pd.DataFrame:
    """The funnel table narrowed to the columns metrics read (or to ``columns``), plus ``by``.

    Filtering rows of the full funnel copies every column it holds (names,
    e-mails...); on millions of rows that dominates a metric's time.
    """
    f = data.funnel
    wanted = [*(columns if columns is not None else (*CORE_COLUMNS, *data.stages.columns)), *by]
    return f[[c for c in dict.fromkeys(wanted) if c in f.columns]]


def group_keys(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The ``by`` columns with missing values shown as "(not set)" so no row drops out."""
    keys = frame[by].copy()
    for column in by:
        if keys[column].dtype == object or pd.api.types.is_string_dtype(keys[column]):
            keys[column] = keys[column].fillna("(not set)")
    return keys


def period_labels(stamps: pd.Series, period: str, *, fiscal_year_start: int = 1) -> pd.Series:
    """Label each timestamp with its period.

    Quarters and years follow the fiscal year, named by the calendar year in
    which it ends: with ``fiscal_year_start=2``, February 2025 - January 2026
    is FY2026 and February-April 2025 is "FY2026 Q1". With the default
    calendar year the labels are "2025 Q1", "2025". Months are "2025-03";
    weeks are labelled by their Monday, "2025-03-03".

    Examples
    --------
    >>> s = pd.Series(pd.to_datetime(["2025-01-15", "2025-02-01", "2025-12-31"], utc=True))
    >>> period_labels(s, "Q").tolist()
    ['2025 Q1', '2025 Q1', '2025 Q4']
    >>> period_labels(s, "Q", fiscal_year_start=2).tolist()
    ['FY2025 Q4', 'FY2026 Q1', 'FY2026 Q4']
    """
    period = params.period(period, required=True)
    fiscal_year_start = params.fiscal_year_start(fiscal_year_start)
    # Label each distinct period once: a million timestamps fall in a few dozen quarters.
    if period == "W":
        key = (stamps.dt.normalize() - pd.to_timedelta(stamps.dt.day_of_week, unit="D")).dt.tz_localize(None)
        codes, firsts = pd.factorize(key)
        firsts = pd.Series(pd.DatetimeIndex(firsts).tz_localize("UTC"))
    else:
        codes, months = pd.factorize(stamps.dt.year * 12 + stamps.dt.month - 1)
        months = np.asarray(months, dtype=np.int64)
        firsts = pd.Series(pd.to_datetime({"year": months // 12, "month": months % 12 + 1, "day": 1}, utc=True))
    return text_labels(codes, _labels(firsts, period, fiscal_year_start).tolist(), stamps.index)


def _labels(stamps: pd.Series, period: str, fiscal_year_start: int) -> pd.Series:
    valid = stamps.notna()
    if period == "M":
        labels = stamps.dt.strftime("%Y-%m")
    elif period == "W":
        labels = stamps.dt.strftime("%Y-%m-%d")
    else:
        shifted_month = (stamps.dt.month - fiscal_year_start) % 12  # 0 = first fiscal month
        fiscal_year = stamps.dt.year + (stamps.dt.month >= fiscal_year_start).astype(int)
        if fiscal_year_start == 1:
            fiscal_year = stamps.dt.year
        prefix = "" if fiscal_year_start == 1 else "FY"
        year = prefix + fiscal_year.astype("Int64").astype(str)
        quarter = " Q" + (shifted_month // 3 + 1).astype("Int64").astype(str)
        labels = year if period == "Y" else year + quarter
    return labels.where(valid).astype("str")


def period_bounds(labels: pd.Series, stamps: pd.Series) -> pd.DataFrame:
    """First and last timestamp seen for each period label (for maturity checks)."""
    frame = pd.DataFrame({"period": labels, "at": stamps}).dropna()
    return frame.groupby("period")["at"].agg(period_start="min", period_end="max")


def period_end(labels: pd.Series, period: str, *, fiscal_year_start: int = 1) -> pd.Series:
    """Exclusive end of each labelled period, as a UTC timestamp."""
    ends = {label: _end_of(label, period, fiscal_year_start) for label in labels.dropna().unique()}
    return labels.map(ends).astype("datetime64[ns, UTC]")


def _end_of(label: str, period: str, fiscal_year_start: int) -> pd.Timestamp:
    if period == "M":
        return pd.Timestamp(label + "-01", tz="UTC") + pd.offsets.MonthBegin(1)
    if period == "W":
        return pd.Timestamp(label, tz="UTC") + pd.Timedelta(days=7)
    year = int(label.split()[0].removeprefix("FY"))
    first_year = year if fiscal_year_start == 1 else year - 1
    start = pd.Timestamp(year=first_year, month=fiscal_year_start, day=1, tz="UTC")
    if period == "Y":
        return start + pd.DateOffset(years=1)
    quarter = int(label.split("Q")[-1])
    return start + pd.DateOffset(months=3 * quarter)


def date_window(frame: pd.DataFrame, column: str, start=None, end=None) -> pd.DataFrame:
    """Rows whose ``column`` falls in [start, end) (UTC); no filter when both are None."""
    if start is None and end is None:
        return frame
    stamps = frame[column]
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= (stamps >= _utc(start)).to_numpy()
    if end is not None:
        keep &= (stamps < _utc(end)).to_numpy()
    return frame[keep]


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def to_timedelta(value, name: str) -> pd.Timedelta | None:
    if value is None:
        return None
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise ParameterError(f"{name} must be a duration such as '90D' or '30min'; got {value!r}") from None
    if delta <= pd.Timedelta(0):
        raise ParameterError(f"{name} must be positive; got {value!r}")
    return delta


def days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 86400.0


def stage_pairs(data: Dataset, from_stage=None, to_stage=None) -> list[tuple[str, str]]:
    names = data.stages.names
    if from_stage is not None or to_stage is not None:
        a = names[0] if from_stage is None else from_stage
        b = names[-1] if to_stage is None else to_stage
        if data.stages.index(b) <= data.stages.index(a):
            raise ParameterError(f"to_stage {b!r} must come after from_stage {a!r} in {list(names)}")
        return [(a, b)]
    return list(zip(names[:-1], names[1:], strict=True))


def counted(n: int, noun: str) -> str:
    """``counted(1, "open deal")`` -> "1 open deal"; ``counted(2_089, "opportunity")`` -> "2,089 opportunities"."""
    if n == 1:
        return f"1 {noun}"
    return f"{n:,} " + (noun[:-1] + "ies" if noun.endswith("y") else noun + "s")


def add_note(table: pd.DataFrame, text: str, rows=None) -> pd.DataFrame:
    """Append ``text`` to the ``note`` column on ``rows`` (a boolean mask; default every row), in place."""
    if NOTE not in table:
        table[NOTE] = pd.Series(pd.NA, index=table.index, dtype="str")
    mask = np.ones(len(table), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    current = table.loc[mask, NOTE]
    table.loc[mask, NOTE] = current.where(current.isna(), current + "; ").fillna("") + text
    return table


def own_dates(frame: pd.DataFrame, stage: str, later: str) -> pd.Series:
    """Rows whose ``stage`` date is their own, not borrowed from the next stage ``later``.

    The funnel fills a skipped stage with the next stage's time; such a date
    says when the entity moved on, not when it entered. An entity that skipped
    no stage, or whose two dates differ, has its own date.
    """
    a_at, b_at = frame[stage_column(stage)], frame[stage_column(later)]
    return a_at.notna() & ((frame[fn.SKIPPED_STAGES] == 0) | (a_at != b_at).fillna(True))


def date_origin(data: Dataset, stage: str) -> str:
    """Where a stage's date comes from in an export, in words (for messages).

    Examples
    --------
    >>> from funnelkit.dataset import Dataset
    >>> from funnelkit.schema import LEAD_COLUMNS, OPPORTUNITY_COLUMNS
    >>> empty = Dataset(pd.DataFrame(columns=list(LEAD_COLUMNS)), pd.DataFrame(columns=list(OPPORTUNITY_COLUMNS)))
    >>> date_origin(empty, "mql")
    'a date for the mql stage (mql_at)'
    """
    if stage == data.stages.opportunity:
        return "the opportunities' created date (created_at)"
    if stage == data.stages.first:
        return "the leads' created date (created_at)"
    if stage == data.stages.won:
        return "the close date of won deals (closed_at)"
    return f"a date for the {stage} stage ({stage_column(stage)})"


def require_stage(data: Dataset, stage: str, what: str) -> str:
    """``stage`` as the funnel names it (any case), or a ParameterError saying ``what`` needs it."""
    return params.stage(data, stage, what=what)


def require_column(data: Dataset, column: str, what: str) -> pd.Series:
    f = data.funnel
    if column not in f.columns or f[column].notna().sum() == 0:
        raise ParameterError(
            f"{what} needs the column {column!r}, which this export does not fill; "
            "map it with a mapping file if your CRM has it"
        )
    return f[column]
