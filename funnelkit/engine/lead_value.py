"""Lead value on the engine: leads, MQLs, won deals and won revenue per group and currency."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import _params as params
from ..errors import NotMeasurableError, ParameterError
from ..metrics._common import add_note, counted
from ..metrics.lead_value import LEAD_VALUE_UNITS
from ..schema import stage_column
from ..units import declare
from ._common import fetch, group_keys, reached, sorted_groups
from .periods import days_between, timestamp_literal

if TYPE_CHECKING:
    from .dataset import EngineDataset


def lead_value(
    data: EngineDataset,
    *,
    by=params.DEFAULT_BY,
    spend: pd.DataFrame | None = None,
    spend_period: str = params.DEFAULT_PERIOD,
    matured_only: bool = True,
    maturity_days: float | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.lead_value` over an engine's funnel view, without ``spend`` (not yet on the engine).

    Returns the same columns, numbers and notes as the in-memory metric: the
    ``by`` columns, ``currency``, ``leads``, ``mqls`` (when the funnel has an
    ``mql`` stage), ``won``, ``won_without_amount``, ``won_revenue``,
    ``revenue_per_lead``, ``revenue_per_mql``, ``avg_deal_size``,
    ``matured_before``; ``note`` when leads without a created date were left
    out. Raises :class:`~funnelkit.NotMeasurableError` as it does.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")                  # doctest: +SKIP
    >>> data.lead_value(by="source", matured_only=False)       # doctest: +SKIP
    """
    by = params.check_options(data, by=by, fiscal_year_start=fiscal_year_start).by
    # spend_period only shapes spend, which the engine does not take yet: checked all the same
    params.period(spend_period, name="spend_period", required=True)
    maturity_days = params.non_negative(maturity_days, name="maturity_days")
    if spend is not None:
        raise ParameterError(
            "lead_value on an engine does not take spend yet; compute it on a loaded dataset (fk.lead_value)"
        )
    funnel, stages, as_of = data.funnel_table, data.stages, data.as_of
    for needed in ("amount", "currency"):
        if needed not in funnel.columns:
            raise ParameterError(f"lead_value needs the opportunities' {needed!r} column, which these tables lack")
    first_at = stage_column(stages.first)
    f = funnel
    lead_rows = f.filter(f["entity"] == "lead")
    leads = lead_rows.filter(lead_rows[first_at].notnull())
    cutoff = pd.NaT
    n_leads, n_dated = _lead_counts(lead_rows, first_at)
    if matured_only and n_dated:
        if maturity_days is None:
            maturity_days = _typical_days_to_win(leads, first_at)
        cutoff = as_of - pd.Timedelta(days=maturity_days)
        leads = leads.filter(leads[first_at] <= timestamp_literal(cutoff))
    keys = group_keys(leads, by)
    won = leads["is_won"]
    no_amount = won & leads["amount"].isnull()
    sums = {
        "leads": leads.count(),
        "won": won.cast("int64").sum(),
        "won_without_amount": no_amount.cast("int64").sum(),
        "won_revenue": ibis.ifelse(won, ibis.coalesce(leads["amount"], 0.0), 0.0).sum(),
        "_won_with_amount": (won & leads["amount"].notnull()).cast("int64").sum(),
    }
    if "mql" in stages.names:
        sums["mqls"] = reached(leads, stages, "mql").cast("int64").sum()
    currency = ibis.ifelse(won, leads["currency"], ibis.null("string"))
    table = fetch(leads.group_by(**keys, _currency=currency).aggregate(**sums))
    table = sorted_groups(table, [*by, "_currency"])
    left_out = _require_leads(n_leads, n_dated, int(table["leads"].sum()), cutoff)
    agg = {c: "sum" for c in ("leads", "won", "won_without_amount", "won_revenue", "mqls") if c in table}
    out = table.groupby(by, dropna=False).agg(agg).reset_index() if by else table.agg(agg).to_frame().T
    out = _split_currencies(table, by, out, _currencies(table))
    # won deals without an amount count as won but stay out of revenue (as in funnelkit.lead_value)
    with_amount = out["won"] - out["won_without_amount"]
    out["won_revenue"] = out["won_revenue"].where((with_amount > 0) | (out["won"] == 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["revenue_per_lead"] = out["won_revenue"] / out["leads"].where(out["leads"] > 0)
        if "mqls" in out:
            out["revenue_per_mql"] = out["won_revenue"] / out["mqls"].where(out["mqls"] > 0)
        out["avg_deal_size"] = out["won_revenue"] / with_amount.where(with_amount > 0)
    out["matured_before"] = cutoff
    return declare(add_note(out, left_out) if left_out else out, **LEAD_VALUE_UNITS)


def _lead_counts(lead_rows: ir.Table, first_at: str) -> tuple[int, int]:
    """How many leads there are, and how many have a created date (one aggregate query)."""
    row = fetch(lead_rows.aggregate(n=lead_rows.count(), dated=lead_rows[first_at].notnull().cast("int64").sum()))
    return int(row["n"].iloc[0]), int(0 if pd.isna(row["dated"].iloc[0]) else row["dated"].iloc[0])


def _require_leads(n_leads: int, n_dated: int, n_counted: int, cutoff) -> str:
    """Stop when no lead is left to value, saying why (the words of :func:`funnelkit.lead_value`); else
    what was left out, for the ``note``."""
    undated = n_leads - n_dated
    if not n_leads:
        why = "this export has no leads (it holds opportunities only): load the leads export too"
        raise NotMeasurableError(f"lead value is won revenue per lead, and {why}", missing=("leads",))
    if not n_dated:
        raise NotMeasurableError(
            f"lead value counts leads from their creation, and none of the {counted(undated, 'lead')} has a created "
            "date (created_at): map the leads' created date",
            missing=("created_at",),
        )
    if not n_counted:
        young = "" if pd.isna(cutoff) else f" before {cutoff:%Y-%m-%d} (long enough before as_of to have closed)"
        fix = "pass matured_only=False (young leads then drag the value down) or a smaller maturity_days="
        raise NotMeasurableError(
            f"lead value has no lead to count: no lead was created{young}; {fix}", missing=("created_at",)
        )
    return f"{counted(undated, 'lead')} with no created date left out" if undated else ""


def _currencies(table: pd.DataFrame) -> list:
    """The currencies of won deals with an amount, sorted (``None`` last: amounts that name none)."""
    with_amount = table[table["_won_with_amount"] > 0]["_currency"]
    found = sorted(with_amount.dropna().unique().tolist())
    return [*found, None] if with_amount.isna().any() else found


def _typical_days_to_win(leads: ir.Table, first_at: str) -> float:
    """75th percentile of days from lead creation to a won close (0 when nothing was won)."""
    won = leads.filter(leads["is_won"])
    lag = days_between(won["closed_at"], won[first_at])
    value = fetch(won.aggregate(q=lag.quantile(0.75)))["q"].iloc[0]
    return 0.0 if pd.isna(value) else float(value)


def _split_currencies(table: pd.DataFrame, by: list[str], out: pd.DataFrame, found: list) -> pd.DataFrame:
    """Revenue is never summed across currencies: with several, one row per group and currency (won deals
    of no known currency on a row of their own), lead counts repeated on each row."""
    if len(found) <= 1:
        out.insert(len(by), "currency", found[0] if found else None)
        return out
    money = ["won", "won_without_amount", "won_revenue"]
    revenue = (
        table[table["won"] > 0]
        .groupby([*by, "_currency"], dropna=False)[money]
        .sum()
        .reset_index()
        .rename(columns={"_currency": "currency"})
    )
    counts = out.drop(columns=money)
    merged = counts.merge(revenue, on=by, how="left") if by else counts.merge(revenue, how="cross")
    merged[money] = merged[money].fillna(0)  # a group without won deals
    merged[["won", "won_without_amount"]] = merged[["won", "won_without_amount"]].astype("int64")
    return merged[[*by, "currency", *[c for c in out.columns if c not in by]]]
