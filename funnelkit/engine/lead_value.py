"""Lead value on the engine: leads, MQLs, won deals and won revenue per group and currency."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..schema import Stages, stage_column
from ._common import by_columns, fetch, group_keys, reached, sorted_groups
from .periods import days_between, timestamp_literal


def lead_value(
    funnel: ir.Table,
    stages: Stages,
    as_of: pd.Timestamp,
    *,
    by="source",
    spend: pd.DataFrame | None = None,
    matured_only: bool = True,
    maturity_days: float | None = None,
    spend_period: str = "Q",
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.lead_value` over an engine's funnel view, without ``spend`` (not yet on the engine).

    Returns the same columns and numbers as the in-memory metric: the ``by``
    columns, ``currency``, ``leads``, ``mqls`` (when the funnel has an ``mql``
    stage), ``won``, ``won_revenue``, ``revenue_per_lead``,
    ``revenue_per_mql``, ``avg_deal_size``, ``matured_before``.
    """
    del spend_period, fiscal_year_start  # they only shape spend, which the engine does not take yet
    if spend is not None:
        raise ParameterError(
            "lead_value on an engine does not take spend yet; compute it on a loaded dataset (fk.lead_value)"
        )
    for needed in ("amount", "currency"):
        if needed not in funnel.columns:
            raise ParameterError(f"lead_value needs the opportunities' {needed!r} column, which these tables lack")
    by = by_columns(funnel, by)
    first_at = stage_column(stages.first)
    f = funnel
    leads = f.filter((f["entity"] == "lead") & f[first_at].notnull())
    cutoff = pd.NaT
    if matured_only:
        count = int(fetch(leads.aggregate(n=leads.count()))["n"].iloc[0])
        if count:
            if maturity_days is None:
                maturity_days = _typical_days_to_win(leads, first_at)
            cutoff = as_of - pd.Timedelta(days=maturity_days)
            leads = leads.filter(leads[first_at] <= timestamp_literal(cutoff))
    keys = group_keys(leads, by)
    won = leads["is_won"]
    sums = {
        "leads": leads.count(),
        "won": won.cast("int64").sum(),
        "won_revenue": ibis.ifelse(won, ibis.coalesce(leads["amount"], 0.0), 0.0).sum(),
    }
    if "mql" in stages.names:
        sums["mqls"] = reached(leads, stages, "mql").cast("int64").sum()
    currency = ibis.ifelse(won, leads["currency"], ibis.null("string"))
    table = fetch(leads.group_by(**keys, _currency=currency).aggregate(**sums))
    table = sorted_groups(table, [*by, "_currency"])
    agg = {c: "sum" for c in ("leads", "won", "won_revenue", "mqls") if c in table}
    if by:
        out = table.groupby(by, dropna=False).agg(agg).reset_index()
    else:
        out = table.agg(agg).to_frame().T if len(table) else _no_leads(agg)
    out = _split_currencies(table, by, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["revenue_per_lead"] = out["won_revenue"] / out["leads"].where(out["leads"] > 0)
        if "mqls" in out:
            out["revenue_per_mql"] = out["won_revenue"] / out["mqls"].where(out["mqls"] > 0)
        out["avg_deal_size"] = out["won_revenue"] / out["won"].where(out["won"] > 0)
    out["matured_before"] = cutoff
    return out


def _no_leads(agg: dict) -> pd.DataFrame:
    """The one row of zeros the in-memory metric gives when no lead is counted."""
    return pd.DataFrame({c: [0.0] for c in agg})


def _typical_days_to_win(leads: ir.Table, first_at: str) -> float:
    """75th percentile of days from lead creation to a won close (0 when nothing was won)."""
    won = leads.filter(leads["is_won"])
    lag = days_between(won["closed_at"], won[first_at])
    value = fetch(won.aggregate(q=lag.quantile(0.75)))["q"].iloc[0]
    return 0.0 if pd.isna(value) else float(value)


def _split_currencies(table: pd.DataFrame, by: list[str], out: pd.DataFrame) -> pd.DataFrame:
    """Revenue is never summed across currencies: with several, one row per group and currency."""
    won_in = table[table["_currency"].notna() & (table["won"] > 0)]
    currencies = won_in["_currency"].unique()
    if len(currencies) <= 1:
        out.insert(len(by), "currency", currencies[0] if len(currencies) else None)
        return out
    revenue = (
        won_in.groupby([*by, "_currency"], dropna=False)[["won", "won_revenue"]]
        .sum()
        .reset_index()
        .rename(columns={"_currency": "currency"})
    )
    counts = out.drop(columns=["won", "won_revenue"])
    return counts.merge(revenue, on=by, how="left") if by else counts.merge(revenue, how="cross")
