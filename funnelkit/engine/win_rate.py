"""Win rate on the engine: won and lost counts per group and period of close."""

from __future__ import annotations

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import stats
from ..metrics._common import period_labels
from ._common import by_columns, fetch, group_keys, in_window, sorted_groups, with_period
from .periods import days_until


def win_rate(
    funnel: ir.Table,
    as_of: pd.Timestamp,
    *,
    by=None,
    period: str | None = None,
    stall_days: float | None = None,
    start=None,
    end=None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.win_rate` over an engine's funnel view; same options, same columns and numbers."""
    by = by_columns(funnel, by)
    f = funnel
    closed = f.filter(f["is_closed"] & in_window(f["closed_at"], start, end))
    keys = with_period(group_keys(closed, by), closed["closed_at"], period, fiscal_year_start)
    cols = list(keys)
    sums = {"won": closed["is_won"].cast("int64").sum(), "lost": closed["is_lost"].cast("int64").sum()}
    if cols:
        table = sorted_groups(fetch(closed.group_by(**keys).aggregate(**sums)), cols)
        counts = table.groupby(cols, dropna=False)[["won", "lost"]].sum().reset_index()
    else:
        table = fetch(closed.aggregate(**sums)).fillna(0).astype("int64")
        counts = table[["won", "lost"]].sum().to_frame().T
    counts["closed"] = counts["won"] + counts["lost"]
    stats.add_rate(counts, "won", "closed")
    if stall_days is not None:
        counts = _broad(funnel, as_of, counts, by, period, stall_days, fiscal_year_start)
    if not cols:
        stats.warn_small(int(counts["closed"].iloc[0]), "the win rate")
    return counts.astype({"won": "int64", "lost": "int64", "closed": "int64"})


def _broad(f, as_of, counts, by, period, stall_days, fiscal_year_start) -> pd.DataFrame:
    opened = f["opportunity_created_at"]
    stalled = f.filter(opened.notnull() & ~f["is_closed"] & (days_until(as_of, opened) > stall_days))
    keys = group_keys(stalled, by)
    cols = [*keys, "period"] if period else list(keys)
    if cols:
        extra = fetch(stalled.group_by(**keys).aggregate(stalled=stalled.count())) if keys else None
        if extra is None:  # only a period: every stalled deal is counted in the period of as_of
            extra = fetch(stalled.aggregate(stalled=stalled.count()))
        if period:
            label = period_labels(pd.Series([as_of]), period, fiscal_year_start=fiscal_year_start).iloc[0]
            extra["period"] = label
        extra = extra[extra["stalled"] > 0]
        extra = sorted_groups(extra, cols).groupby(cols, dropna=False)["stalled"].sum().reset_index()
        counts = counts.merge(extra, on=cols, how="outer").fillna({"won": 0, "lost": 0, "closed": 0})
    else:
        counts["stalled"] = int(fetch(stalled.aggregate(stalled=stalled.count()))["stalled"].iloc[0])
    counts["stalled"] = counts["stalled"].fillna(0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        total = counts["closed"] + counts["stalled"]
        counts["broad_rate"] = np.where(total > 0, counts["won"] / total, np.nan)
    return counts
