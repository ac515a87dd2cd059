"""Time to close on the engine: per group, counts of closes and of open (censored) deals per distinct duration.

The engine returns one row per group and distinct number of days (per day
when the CRM exports dates; finer when it exports times); Kaplan-Meier
quartiles and the plain median of closed deals are worked out from those
counts in Python, giving what the in-memory metric gives from the rows.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import stats
from ..metrics._common import check_choice
from ..schema import Stages, stage_column
from ._common import by_columns, fetch, group_keys, sorted_groups, with_period
from .periods import days_between, days_until
from .statistics import km_curve_from_counts, km_quantiles_from_counts, median_from_counts

COLUMNS = ["n", "n_closed", "n_censored", "median", "q25", "q75", "closed_median"]


def start_column(stages: Stages, start: str) -> str:
    """``opportunity``: deal creation; ``lead``: the first stage; or any stage's entry."""
    if start == "opportunity":
        return "opportunity_created_at"
    if start == "lead":
        return stage_column(stages.first)
    check_choice("start", start, ("opportunity", "lead", *stages.names))
    return stage_column(start)


def duration_counts(
    funnel: ir.Table, stages: Stages, as_of: pd.Timestamp, *, start: str, keys_of, period=None, fiscal_year_start=1
) -> tuple[pd.DataFrame, list[str]]:
    """Per group and distinct duration (days): ``_closed`` (events) and ``_open`` (censored at as_of)."""
    begin = funnel[start_column(stages, start)]
    f = funnel
    has_deal = f["opportunity_created_at"].notnull() | f["is_closed"] | f["opportunity_id"].notnull()
    frame = f.filter(has_deal & begin.notnull())
    begin = frame[begin.get_name()]
    closed = frame["is_closed"] & frame["closed_at"].notnull()
    days = ibis.ifelse(closed, days_between(frame["closed_at"], begin), days_until(as_of, begin))
    keys = with_period(keys_of(frame), begin, period, fiscal_year_start)
    # a close before the start is a data error: left out (the loader flags such deals)
    rows = frame.mutate(**keys, _days=days, _closed_flag=closed.cast("int64")).filter(lambda t: t["_days"] >= 0)
    cols = list(keys)
    counts = rows.group_by([*cols, "_days"]).aggregate(
        _closed=rows["_closed_flag"].sum(), _open=(1 - rows["_closed_flag"]).sum()
    )
    return sorted_groups(fetch(counts), [*cols, "_days"]), cols


def time_to_close(
    funnel: ir.Table,
    stages: Stages,
    as_of: pd.Timestamp,
    *,
    start: str = "opportunity",
    by=None,
    period: str | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.time_to_close` over an engine's funnel view; same options, same columns and numbers."""
    by = by_columns(funnel, by)
    counts, cols = duration_counts(
        funnel, stages, as_of, start=start, keys_of=lambda t: group_keys(t, by), period=period,
        fiscal_year_start=fiscal_year_start,
    )  # fmt: skip
    groups = counts.groupby(cols, dropna=False) if cols else [((), counts)]
    rows = []
    for key, group in groups:  # one Kaplan-Meier fit per group, on its counts
        days, closed, still_open = group["_days"], group["_closed"], group["_open"]
        q25, median, q75 = km_quantiles_from_counts(days, closed, still_open)
        row = dict(zip(cols, key if isinstance(key, tuple) else (key,), strict=True))
        row.update(
            n=int(closed.sum() + still_open.sum()),
            n_closed=int(closed.sum()),
            n_censored=int(still_open.sum()),
            median=median,
            q25=q25,
            q75=q75,
            closed_median=median_from_counts(days, closed),
        )
        rows.append(row)
    if not cols and counts.empty:
        rows = [dict(n=0, n_closed=0, n_censored=0, median=np.nan, q25=np.nan, q75=np.nan, closed_median=np.nan)]
    out = pd.DataFrame(rows, columns=[*cols, *COLUMNS])
    out["small_sample"] = out["n"] < stats.SMALL_N
    return out


def km_curve(funnel: ir.Table, stages: Stages, as_of: pd.Timestamp, *, start: str = "opportunity", by=None):
    """:func:`funnelkit.km_curve` over an engine's funnel view: ``by`` columns, ``days``, ``survival``, ``n``."""
    by = by_columns(funnel, by)
    counts, cols = duration_counts(funnel, stages, as_of, start=start, keys_of=lambda t: group_keys(t, by))
    groups = counts.groupby(cols, dropna=False) if cols else [((), counts)]
    parts = [pd.DataFrame(columns=[*by, "days", "survival", "n"])]
    for key, group in groups:
        days, survival = km_curve_from_counts(group["_days"], group["_closed"], group["_open"])
        curve = pd.DataFrame({"days": days, "survival": survival})
        for column, value in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
            curve[column] = value
        curve["n"] = int(group["_closed"].sum() + group["_open"].sum())
        parts.append(curve)
    return pd.concat(parts, ignore_index=True)[[*by, "days", "survival", "n"]]
