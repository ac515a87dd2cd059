"""Win rate: won / (won + lost), narrow and broad."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from ..dataset import Dataset
from ._common import by_columns, core, date_window, days_between, group_keys, period_labels


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
        this many days after creation (at ``data.as_of``) as lost.
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
    by = by_columns(data, by)
    f = core(data, by)
    closed = date_window(f[f["is_closed"]], "closed_at", start, end)
    keys = group_keys(closed, by)
    if period:
        keys["period"] = period_labels(closed["closed_at"], period, fiscal_year_start=fiscal_year_start)
    table = keys.assign(won=closed["is_won"].astype(int), lost=closed["is_lost"].astype(int))
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
    return counts.astype({"won": "int64", "lost": "int64", "closed": "int64"})


def _broad(data, counts, by, period, stall_days, fiscal_year_start) -> pd.DataFrame:
    f = core(data, by)
    has_opp = f["opportunity_created_at"].notna() & ~f["is_closed"]
    age = days_between(pd.Series(data.as_of, index=f.index), f["opportunity_created_at"])
    stalled = f[has_opp & (age > stall_days)]
    keys = group_keys(stalled, by)
    if period:
        as_of = pd.Series(data.as_of, index=stalled.index)
        keys["period"] = period_labels(as_of, period, fiscal_year_start=fiscal_year_start)
    cols = list(keys.columns)
    if cols:
        extra = keys.assign(stalled=1).groupby(cols, dropna=False)["stalled"].sum().reset_index()
        counts = counts.merge(extra, on=cols, how="outer").fillna({"won": 0, "lost": 0, "closed": 0})
    else:
        counts["stalled"] = len(stalled)
    counts["stalled"] = counts["stalled"].fillna(0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        total = counts["closed"] + counts["stalled"]
        counts["broad_rate"] = np.where(total > 0, counts["won"] / total, np.nan)
    return counts
