"""Win rate on the engine: won and lost counts per group and period of close."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import _params as params
from .. import stats
from ..errors import NotMeasurableError
from ..metrics._common import add_note, counted, period_labels
from ..metrics.win_rate import WIN_RATE_UNITS, _day, add_broad_rate
from ..units import declare
from ._common import fetch, group_keys, in_window, sorted_groups, with_period
from .periods import days_until

if TYPE_CHECKING:
    from .dataset import EngineDataset


def win_rate(
    data: EngineDataset,
    *,
    by=None,
    period: str | None = None,
    stall_days: float | None = None,
    start=None,
    end=None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.win_rate` on the engine: the same options, checks, columns, numbers, notes and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")      # doctest: +SKIP
    >>> data.win_rate(by="source", period="Q")     # doctest: +SKIP
    """
    p = params.check_options(data, by=by, period=period, start=start, end=end, fiscal_year_start=fiscal_year_start)
    by, period, start, end, fiscal_year_start = p.by, p.period, p.start, p.end, p.fiscal_year_start
    stall_days = params.non_negative(stall_days, name="stall_days")
    f = funnel = data.funnel_table
    as_of = data.as_of
    closed = f.filter(f["is_closed"] & in_window(f["closed_at"], start, end))
    keys = with_period(group_keys(closed, by), closed["closed_at"], period, fiscal_year_start)
    cols = list(keys)
    sums = {
        "won": closed["is_won"].cast("int64").sum(),
        "lost": closed["is_lost"].cast("int64").sum(),
        "_undated": closed["closed_at"].isnull().cast("int64").sum(),
    }
    if cols:
        table = sorted_groups(fetch(closed.group_by(**keys).aggregate(**sums)), cols)
        counts = table.groupby(cols, dropna=False)[["won", "lost", "_undated"]].sum().reset_index()
    else:
        table = fetch(closed.aggregate(**sums)).fillna(0).astype("int64")
        counts = table[["won", "lost", "_undated"]].sum().to_frame().T
    if not int((counts["won"] + counts["lost"]).sum()):
        raise _nothing_closed(f, start, end)
    undated = int(counts.pop("_undated").sum())
    counts["closed"] = counts["won"] + counts["lost"]
    stats.add_rate(counts, "won", "closed")
    if stall_days is not None:
        counts = _broad(funnel, as_of, counts, by, period, stall_days, fiscal_year_start)
    if not cols:
        stats.warn_small(int(counts["closed"].iloc[0]), "the win rate")
    if period and undated:
        add_note(
            counts,
            f"{counted(undated, 'closed deal')} with no close date, in no period (the row without a period)",
            counts["period"].isna().to_numpy(),
        )
    return declare(counts.astype({"won": "int64", "lost": "int64", "closed": "int64"}), **WIN_RATE_UNITS)


def _nothing_closed(f: ir.Table, start, end) -> NotMeasurableError:
    """Why no deal counts, in the words of :func:`funnelkit.win_rate` (one aggregate query)."""
    is_deal = f["opportunity_id"].notnull() | f["is_closed"]
    row = fetch(
        f.aggregate(
            deals=is_deal.cast("int64").sum(),
            closed=f["is_closed"].cast("int64").sum(),
            undated=(f["is_closed"] & f["closed_at"].isnull()).cast("int64").sum(),
        )
    ).fillna(0).iloc[0]  # fmt: skip
    deals = int(row["deals"])
    if not deals:
        return NotMeasurableError(
            "the win rate needs deals, and this export has none: load the opportunities export too",
            missing=("opportunities",),
        )
    if start is not None or end is not None:
        return NotMeasurableError(
            f"no deal closed between start={_day(start)} and end={_day(end)} "
            f"({int(row['closed']):,} closed at other times"
            f"{' or have no close date' if row['undated'] else ''})",
            missing=("closed_at",),
        )
    return NotMeasurableError(
        f"the win rate needs closed deals, and none of the {counted(deals, 'deal')} has closed (won or lost) yet",
        missing=("is_closed",),
    )


def _broad(f, as_of, counts, by, period, stall_days, fiscal_year_start) -> pd.DataFrame:
    opened = f["opportunity_created_at"]
    open_deals = (f["opportunity_id"].notnull() | opened.notnull()) & ~f["is_closed"]
    dated = open_deals & opened.notnull()
    totals = fetch(f.aggregate(open=open_deals.cast("int64").sum(), dated=dated.cast("int64").sum()))
    n_open, n_dated = (int(v) for v in totals.fillna(0).iloc[0][["open", "dated"]])
    if n_open and not n_dated:
        counts["stalled"] = pd.Series(pd.NA, index=counts.index, dtype="Int64")
        counts["broad_rate"] = np.nan
        return add_note(
            counts,
            f"stalled deals and the broad rate: not measurable: no opportunity created date (created_at) "
            f"for the {counted(n_open, 'open deal')}",
        )
    # no dated open deal: none stalled (and as_of, which may be unknown, is not needed)
    stalled = f.filter(dated & (days_until(as_of, opened) > stall_days)) if n_dated else f.filter(ibis.literal(False))
    keys = group_keys(stalled, by)
    cols = [*keys, "period"] if period else list(keys)
    if cols:
        extra = fetch(stalled.group_by(**keys).aggregate(stalled=stalled.count())) if keys else None
        if extra is None:  # only a period: every stalled deal is counted in the period of as_of
            extra = fetch(stalled.aggregate(stalled=stalled.count()))
        extra = extra[extra["stalled"] > 0]
        if period and len(extra):  # every stalled deal is counted in the period of as_of
            extra["period"] = period_labels(pd.Series([as_of]), period, fiscal_year_start=fiscal_year_start).iloc[0]
        elif period:
            extra["period"] = pd.Series(dtype="str")
        extra = sorted_groups(extra, cols).groupby(cols, dropna=False)["stalled"].sum().reset_index()
        if len(extra):
            counts = counts.merge(extra, on=cols, how="outer").fillna({"won": 0, "lost": 0, "closed": 0})
        else:
            counts["stalled"] = 0
    else:
        counts["stalled"] = int(fetch(stalled.aggregate(stalled=stalled.count()))["stalled"].iloc[0])
    counts["stalled"] = counts["stalled"].fillna(0).astype("Int64")
    add_broad_rate(counts)
    if n_open - n_dated:
        add_note(counts, f"{counted(n_open - n_dated, 'open deal')} with no created date, not counted as stalled")
    return counts
