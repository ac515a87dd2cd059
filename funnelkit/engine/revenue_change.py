"""The revenue change on the engine: leads, opportunities and won deals of two periods counted there."""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from .. import _params as params
from .. import schema as s
from ..metrics._common import _end_of, period_labels
from ..metrics.revenue_change import _no_dated_opportunity, _periods, change_table
from ._common import fetch, group_keys, in_window
from .periods import period_key, period_label

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

    Small queries: per ``by`` group, currency and kind of row the counts and
    won revenue of the two periods compared, each period asked as its span of
    time, never by labelling every row (without ``by``, of the rows dated in
    either period only: at 1M leads 0.03 s instead of 0.06 s); before it, unless both periods are
    named, the periods anything is dated in (grouped by a number, each
    labelled once). Named periods are checked by the same counts (anything
    dated in each), and only a period the data lacks asks which there are,
    to say so. The Shapley split runs in Python on the counts.

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

    dates = (first_col, opp_col, s.CLOSED_AT)
    asked = bool(current and previous) and _written_as_labels(previous, current, period, fiscal_year_start)
    if not asked:
        current, previous = _periods(_seen(f, dates, period, fiscal_year_start), current, previous)

    spans = {label: _span(label, period, fiscal_year_start) for label in (previous, current)}
    rows = f
    if not by:  # rows dated in neither period add only zeros (with a breakdown they keep its groups in the table)
        both = (min(start for start, _ in spans.values()), max(end for _, end in spans.values()))
        rows = f.filter(reduce(or_, (ibis.coalesce(in_window(f[column], *both), False) for column in dates)))

    def within(column: str, label: str):
        return ibis.coalesce(in_window(rows[column], *spans[label]), False)  # no date: in no period

    is_lead, is_won = rows["entity"] == "lead", ibis.coalesce(rows[s.IS_WON], False)
    amount = rows[s.AMOUNT]
    priced = amount.notnull()
    sums = {}
    for i, when in enumerate((previous, current)):
        won_then = is_won & within(s.CLOSED_AT, when)
        if with_leads:  # else no lead is counted (zeros are added below: a constant cannot be summed)
            sums[f"leads{i}"] = (is_lead & within(first_col, when)).cast("int64").sum()
        sums[f"opportunities{i}"] = within(opp_col, when).cast("int64").sum()
        sums[f"won{i}"] = (won_then & priced).cast("int64").sum()
        sums[f"unpriced{i}"] = (won_then & ~priced).cast("int64").sum()
        sums[f"revenue{i}"] = ibis.ifelse(won_then & priced, amount, 0.0).sum()
        if asked:  # whether the period asked for is one of the data's: anything dated in it
            sums[f"_dated{i}"] = reduce(or_, (within(column, when) for column in dates)).cast("int64").sum()
    # a deal row: dated in some period as an opportunity, or won with a close date
    deal = rows[opp_col].notnull() | (is_won & rows[s.CLOSED_AT].notnull())
    keys = {**group_keys(rows, by), "_currency": rows[s.CURRENCY], "_deal": deal}
    counts = fetch(rows.group_by(**keys).aggregate(**sums))
    if asked and not (counts["_dated0"].sum() and counts["_dated1"].sum()):
        _periods(_seen(f, dates, period, fiscal_year_start), current, previous)  # says which there are
    counts = counts.drop(columns=["_dated0", "_dated1"], errors="ignore")
    if not with_leads:
        counts = counts.assign(leads0=0, leads1=0)
    whole = {c: "int64" for c in sums if not c.startswith(("revenue", "_dated"))}
    counts = counts.astype({**whole, "revenue0": "float64", "revenue1": "float64", "_deal": "bool"})
    return change_table(counts, by, with_leads=with_leads, previous=previous, current=current)


def _seen(f: ir.Table, columns: tuple[str, ...], period: str, fiscal_year_start: int) -> set[str]:
    """The periods anything is dated in (by any of ``columns``), grouped by a number and each labelled once."""
    seen = None
    for column in columns:
        dated = f.filter(f[column].notnull())
        firsts = dated.group_by(_key=period_key(dated[column], period, fiscal_year_start=fiscal_year_start))
        firsts = firsts.aggregate(_first=dated[column].min())
        labels = firsts.select(_label=period_label(firsts["_first"], period, fiscal_year_start=fiscal_year_start))
        seen = labels if seen is None else seen.union(labels, distinct=True)
    return set(fetch(seen)["_label"].dropna())


def _written_as_labels(previous: str, current: str, period: str, fiscal_year_start: int) -> bool:
    """Whether ``previous`` and ``current`` are periods as funnelkit labels them, so that the counts' query can
    tell whether the data holds them (else the labels the data holds are asked first, to say which there are)."""
    try:
        starts = [_span(label, period, fiscal_year_start)[0] for label in (previous, current)]
    except (ValueError, IndexError):
        return False
    labels = period_labels(pd.Series(starts), period, fiscal_year_start=fiscal_year_start)
    return labels.tolist() == [previous, current]


#: how long each kind of period lasts, back from its end
_LENGTH = {"W": pd.DateOffset(days=7), "M": pd.DateOffset(months=1), "Q": pd.DateOffset(months=3),
           "Y": pd.DateOffset(years=1)}  # fmt: skip


def _span(label: str, period: str, fiscal_year_start: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The labelled period as ``[start, end)`` (UTC)."""
    end = _end_of(label, period, fiscal_year_start)
    return end - _LENGTH[period], end
