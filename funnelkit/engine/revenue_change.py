"""The revenue change on the engine: leads, opportunities and won deals of two periods counted there."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pandas as pd

from .. import _params as params
from .. import schema as s
from ..metrics.revenue_change import _no_dated_opportunity, _periods, change_table
from ._common import fetch, group_keys
from .periods import period_label

if TYPE_CHECKING:
    from .dataset import EngineDataset


def revenue_change(
    data: EngineDataset,
    *,
    period: str = "Q",
    current: str | None = None,
    previous: str | None = None,
    by=None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.revenue_change` on the engine: the same options, checks, columns, numbers and notes.

    Two small queries: the periods anything is dated in, then per ``by``
    group, currency and kind of row the counts and won revenue of the two
    periods compared; the Shapley split runs in Python on them.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")                        # doctest: +SKIP
    >>> data.revenue_change(current="2025 Q4", previous="2025 Q3")   # doctest: +SKIP
    """
    p = params.check_options(data, by=by, period=period, fiscal_year_start=fiscal_year_start)
    by, period, fiscal_year_start = p.by, p.period, p.fiscal_year_start
    f = data.funnel_table
    stages = data.stages
    first_col, opp_col = s.stage_column(stages.first), s.stage_column(stages.opportunity)
    totals = fetch(
        f.aggregate(leads=(f["entity"] == "lead").cast("int64").sum(), dated=f[opp_col].count())
    ).fillna(0).iloc[0]  # fmt: skip
    with_leads = bool(totals["leads"]) and stages.first != stages.opportunity
    if not int(totals["dated"]):
        raise _no_dated_opportunity(data)

    def label(column: str):
        return period_label(f[column], period, fiscal_year_start=fiscal_year_start)

    seen = None
    for column in (first_col, opp_col, s.CLOSED_AT):
        labels = f.filter(f[column].notnull()).select(_label=label(column)).distinct()
        seen = labels if seen is None else seen.union(labels, distinct=True)
    current, previous = _periods(set(fetch(seen)["_label"].dropna()), current, previous)

    no_label = ibis.null("string")
    lead = ibis.ifelse(f["entity"] == "lead", label(first_col), no_label)
    opp = label(opp_col)
    won = ibis.ifelse(ibis.coalesce(f[s.IS_WON], False), label(s.CLOSED_AT), no_label)
    amount = f[s.AMOUNT]
    priced = amount.notnull()
    sums = {}
    for i, when in enumerate((previous, current)):
        won_then = ibis.coalesce(won == when, False)
        if with_leads:  # else no lead is counted (zeros are added below: a constant cannot be summed)
            sums[f"leads{i}"] = ibis.coalesce(lead == when, False).cast("int64").sum()
        sums[f"opportunities{i}"] = ibis.coalesce(opp == when, False).cast("int64").sum()
        sums[f"won{i}"] = (won_then & priced).cast("int64").sum()
        sums[f"unpriced{i}"] = (won_then & ~priced).cast("int64").sum()
        sums[f"revenue{i}"] = ibis.ifelse(won_then & priced, amount, 0.0).sum()
    keys = {**group_keys(f, by), "_currency": f[s.CURRENCY], "_deal": opp.notnull() | won.notnull()}
    counts = fetch(f.group_by(**keys).aggregate(**sums))
    if not with_leads:
        counts = counts.assign(leads0=0, leads1=0)
    whole = {c: "int64" for c in sums if not c.startswith("revenue")}
    counts = counts.astype({**whole, "revenue0": "float64", "revenue1": "float64", "_deal": "bool"})
    return change_table(counts, by, with_leads=with_leads, previous=previous, current=current)
