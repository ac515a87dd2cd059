"""Win rate: won / (won + lost), narrow and broad."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError
from ..units import Unit, declare
from ._common import NOTE, add_note, core, counted, date_window, days_between, group_keys, period_labels
from ._engines import runs_on_engines

#: Units of the columns of :func:`win_rate`.
WIN_RATE_UNITS = dict(won=Unit.COUNT, lost=Unit.COUNT, closed=Unit.COUNT, stalled=Unit.COUNT, rate=Unit.RATE,
                      ci_low=Unit.RATE, ci_high=Unit.RATE, broad_rate=Unit.RATE)  # fmt: skip


@runs_on_engines
def win_rate(
    data: Dataset,
    *,
    by=None,
    period: str | None = None,
    stall_days: float | None = None,
    start=None,
    end=None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Share of closed deals that were won, by period of close.

    Parameters
    ----------
    data : Dataset
    by : str or list of str, optional
        Funnel columns to break down by.
    period : {"W", "M", "Q", "Y"}, optional
        Period of the close date (fiscal quarters follow ``fiscal_year_start``).
    stall_days : float, optional
        Also give the broad win rate, which counts deals still open more than
        this many days after creation (at ``data.as_of``) as lost. It needs
        the opportunities' created date: without it ``stalled`` and
        ``broad_rate`` are empty and the ``note`` says "not measurable".
    start, end : date-like, optional
        Only deals closed in [start, end).

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``period`` (when asked), ``won``,
        ``lost``, ``closed``, ``rate`` (narrow: won / closed), ``ci_low``,
        ``ci_high`` (Wilson 95%), ``small_sample``; with ``stall_days`` also
        ``stalled`` (open deals past the threshold, counted once, in the
        period of as_of) and ``broad_rate`` = won / (closed + stalled).
        ``note`` is added when something could not be counted: closed deals
        without a close date (in no period; their row's ``period`` is empty),
        open deals without a created date (not measurable as stalled).

    Raises
    ------
    NotMeasurableError
        When no deal has closed (in ``[start, end)``), or the export has no deals.

    Warns with :class:`~funnelkit.SmallSampleWarning` when, without ``by``
    or ``period``, the single rate rests on fewer than 20 closed deals.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.win_rate(data)  # two closed deals: warns SmallSampleWarning
    >>> print(table[["won", "lost", "rate"]].to_string(index=False))
     won  lost  rate
       1     1   0.5
    """
    p = params.check(data, by=by, period=period, start=start, end=end, fiscal_year_start=fiscal_year_start)
    by, period, start, end, fiscal_year_start = p.by, p.period, p.start, p.end, p.fiscal_year_start
    stall_days = params.non_negative(stall_days, name="stall_days")
    f = core(data, by)
    closed = date_window(f[f[fn.IS_CLOSED]], fn.CLOSED_AT, start, end)
    if not len(closed):
        raise _nothing_closed(f, start, end)
    keys = group_keys(closed, by)
    if period:
        keys["period"] = period_labels(closed[fn.CLOSED_AT], period, fiscal_year_start=fiscal_year_start)
    table = keys.assign(won=closed[fn.IS_WON].astype(int), lost=closed[fn.IS_LOST].astype(int))
    cols = list(keys.columns)
    counts = (
        table.groupby(cols, dropna=False)[["won", "lost"]].sum().reset_index()
        if cols
        else (table[["won", "lost"]].sum().to_frame().T)
    )
    counts["closed"] = counts["won"] + counts["lost"]
    stats.add_rate(counts, "won", "closed")
    if stall_days is not None:
        counts = _broad(data, counts, by, period, stall_days, fiscal_year_start)
    if not cols:
        stats.warn_small(int(counts["closed"].iloc[0]), "the win rate")
    undated = int(closed[fn.CLOSED_AT].isna().sum())
    if period and undated:
        add_note(
            counts,
            f"{counted(undated, 'closed deal')} with no close date, in no period (the row without a period)",
            counts["period"].isna().to_numpy(),
        )
    return declare(counts.astype({"won": "int64", "lost": "int64", "closed": "int64"}), **WIN_RATE_UNITS)


def _nothing_closed(f: pd.DataFrame, start, end) -> NotMeasurableError:
    deals = int((f[fn.OPPORTUNITY_ID].notna() | f[fn.IS_CLOSED]).sum())
    if not deals:
        return NotMeasurableError(
            "the win rate needs deals, and this export has none: load the opportunities export too",
            missing=("opportunities",),
        )
    if start is not None or end is not None:
        closed = int(f[fn.IS_CLOSED].sum())
        return NotMeasurableError(
            f"no deal closed between start={_day(start)} and end={_day(end)} ({closed:,} closed at other times"
            f"{' or have no close date' if f.loc[f[fn.IS_CLOSED], fn.CLOSED_AT].isna().any() else ''})",
            missing=(fn.CLOSED_AT,),
        )
    return NotMeasurableError(
        f"the win rate needs closed deals, and none of the {counted(deals, 'deal')} has closed (won or lost) yet",
        missing=(fn.IS_CLOSED,),
    )


def _day(moment) -> str:
    return "(none)" if moment is None else f"{moment:%Y-%m-%d}"


def _broad(data, counts, by, period, stall_days, fiscal_year_start) -> pd.DataFrame:
    f = core(data, by)
    open_deals = (f[fn.OPPORTUNITY_ID].notna() | f[fn.OPPORTUNITY_CREATED_AT].notna()) & ~f[fn.IS_CLOSED]
    dated = open_deals & f[fn.OPPORTUNITY_CREATED_AT].notna()
    if open_deals.any() and not dated.any():
        counts["stalled"] = pd.Series(pd.NA, index=counts.index, dtype="Int64")
        counts["broad_rate"] = np.nan
        return add_note(
            counts,
            f"stalled deals and the broad rate: not measurable: no opportunity created date (created_at) "
            f"for the {counted(int(open_deals.sum()), 'open deal')}",
        )
    stalled = f.iloc[:0]
    if dated.any():  # else no deal is open: none stalled
        age = days_between(pd.Series(data.as_of, index=f.index), f[fn.OPPORTUNITY_CREATED_AT])
        stalled = f[dated & (age > stall_days)]
    keys = group_keys(stalled, by)
    if period and len(stalled):
        as_of = pd.Series(data.as_of, index=stalled.index)
        keys["period"] = period_labels(as_of, period, fiscal_year_start=fiscal_year_start)
    cols = [*by, "period"] if period else by
    if cols and len(stalled):
        extra = keys.assign(stalled=1).groupby(cols, dropna=False)["stalled"].sum().reset_index()
        counts = counts.merge(extra, on=cols, how="outer").fillna({"won": 0, "lost": 0, "closed": 0})
    else:
        counts["stalled"] = len(stalled)
    counts["stalled"] = counts["stalled"].fillna(0).astype("Int64")
    add_broad_rate(counts)
    undated = int((open_deals & ~dated).sum())
    if undated:
        add_note(counts, f"{counted(undated, 'open deal')} with no created date, not counted as stalled")
    return counts


def add_broad_rate(counts: pd.DataFrame) -> pd.DataFrame:
    """Add ``broad_rate`` = won / (closed + stalled) to ``counts`` (in place); missing where that is 0 or
    ``stalled`` is (not measurable)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        total = counts["closed"] + counts["stalled"].astype("float64")
        counts["broad_rate"] = np.where(total > 0, counts["won"] / total, np.nan)
    return counts


def total_over_groups(table: pd.DataFrame) -> pd.DataFrame:
    """The win rate per period of the whole data, from :func:`win_rate`'s table of the same options with ``by``.

    Counts add up over the groups of a period; rates and intervals are worked
    out again from the sums. The notes of :func:`win_rate` are about a whole
    period or all of the data (closed deals without a close date, open deals
    without a created date), the same on every group's row of a period. So
    the result is the table ``win_rate`` gives without ``by`` (the same
    ``period``, ``stall_days``, ``start``, ``end``), without asking the data
    again: the funnel review shows both.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`win_rate`'s table with ``by`` and ``period``.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`win_rate` without the ``by`` columns, one row per period.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("data/sample", cache=False)
    >>> by_source = fk.win_rate(data, by="source", period="Q")
    >>> total_over_groups(by_source).equals(fk.win_rate(data, period="Q"))
    True
    """
    periods = table.groupby("period", dropna=False, sort=True)
    out = periods[["won", "lost", "closed"]].sum().reset_index()
    stats.add_rate(out, "won", "closed")
    if "stalled" in table:  # missing on every row when not measurable, else counted on every row
        out["stalled"] = periods["stalled"].sum(min_count=1).reset_index(drop=True).astype("Int64")
        add_broad_rate(out)
    some_closed = out["closed"] > 0
    if not some_closed.all():  # a period with stalled deals only: no rate, as win_rate leaves it
        for column in ("rate", "ci_low", "ci_high"):
            out[column] = out[column].where(some_closed)
        out["small_sample"] = out["small_sample"].astype(object).where(some_closed)
    if NOTE in table:
        out[NOTE] = periods[NOTE].first().reset_index(drop=True)
    return declare(out, **WIN_RATE_UNITS)
