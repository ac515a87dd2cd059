"""What a lead is worth, per source: won revenue per lead and per MQL, and ROI given spend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..dataset import Dataset
from ..errors import ParameterError
from ..schema import stage_column
from ._common import by_columns, core, days_between, group_keys


def lead_value(
    data: Dataset,
    *,
    by="source",
    spend: pd.DataFrame | None = None,
    matured_only: bool = True,
    maturity_days: float | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Won revenue per lead, per MQL and per won deal, by source (or any ``by``).

    Parameters
    ----------
    data : Dataset
    by : str or list of str
        Default ``"source"`` (a lead's original source; see ``source_basis``).
    spend : DataFrame, optional
        Marketing spend with columns ``source``, ``period`` (quarter labels as
        :func:`funnelkit.metrics.period_labels` writes them, e.g. "2025 Q1")
        and ``spend``. Adds cost per lead, cost per won deal and ROI.
    matured_only : bool
        Count only leads created at least ``maturity_days`` before
        ``data.as_of``, so young leads that have not had time to close do not
        drag the value down (default True).
    maturity_days : float, optional
        Default: the 75th percentile of observed days from lead to won.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``currency``, ``leads``, ``mqls`` (when
        the funnel has an ``mql`` stage), ``won``, ``won_revenue``,
        ``revenue_per_lead``, ``revenue_per_mql``, ``avg_deal_size``,
        ``matured_before`` (the cut-off date used, or NaT), and with ``spend``
        also ``spend``, ``cost_per_lead``, ``cost_per_won``, ``roi``
        ((won revenue - spend) / spend). Revenue is never summed across
        currencies: each currency is its own row.
    """
    by = by_columns(data, by)
    f = core(data, by)
    first_at = f[stage_column(data.stages.first)]
    leads = f[f["entity"].eq("lead") & first_at.notna()]
    cutoff = pd.NaT
    if matured_only and len(leads):
        if maturity_days is None:
            won = leads[leads["is_won"]]
            lags = days_between(won["closed_at"], won[stage_column(data.stages.first)]).dropna()
            maturity_days = float(np.quantile(lags, 0.75)) if len(lags) else 0.0
        cutoff = data.as_of - pd.Timedelta(days=maturity_days)
        leads = leads[leads[stage_column(data.stages.first)] <= cutoff]
    keys = group_keys(leads, by)
    currency = leads["currency"].where(leads["is_won"])
    table = keys.assign(
        leads=1,
        won=leads["is_won"].astype(int),
        won_revenue=leads["amount"].where(leads["is_won"], 0.0).fillna(0.0),
        _currency=currency,
    )
    if "mql" in data.stages.names:
        table["mqls"] = data.reached("mql")[leads.index].astype(int)
    agg = {c: "sum" for c in ("leads", "won", "won_revenue", "mqls") if c in table}
    out = table.groupby(by, dropna=False).agg(agg).reset_index() if by else table.agg(agg).to_frame().T
    out = _split_currencies(table, by, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["revenue_per_lead"] = out["won_revenue"] / out["leads"].where(out["leads"] > 0)
        if "mqls" in out:
            out["revenue_per_mql"] = out["won_revenue"] / out["mqls"].where(out["mqls"] > 0)
        out["avg_deal_size"] = out["won_revenue"] / out["won"].where(out["won"] > 0)
    out["matured_before"] = cutoff
    if spend is not None:
        out = _with_spend(out, spend, by, fiscal_year_start)
    return out


def _split_currencies(table, by, out) -> pd.DataFrame:
    currencies = table["_currency"].dropna().unique()
    if len(currencies) <= 1:
        out.insert(len(by), "currency", currencies[0] if len(currencies) else None)
        return out
    # several currencies: revenue per currency, counts repeated on each row
    revenue = (
        table.dropna(subset=["_currency"])
        .groupby([*by, "_currency"], dropna=False)[["won", "won_revenue"]]
        .sum()
        .reset_index()
        .rename(columns={"_currency": "currency"})
    )
    counts = out.drop(columns=["won", "won_revenue"])
    merged = counts.merge(revenue, on=by, how="left") if by else counts.merge(revenue, how="cross")
    return merged


def _with_spend(out, spend, by, fiscal_year_start) -> pd.DataFrame:
    required = {"source", "spend"}
    if not required <= set(spend.columns):
        raise ParameterError(
            f"spend needs columns {sorted(required)} (and optionally 'period'); got {list(spend.columns)}"
        )
    if by != ["source"]:
        raise ParameterError("spend can only be joined when by='source'")
    totals = spend.groupby("source")["spend"].sum()
    out["spend"] = out["source"].map(totals).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cost_per_lead"] = out["spend"] / out["leads"].where(out["leads"] > 0)
        out["cost_per_won"] = out["spend"] / out["won"].where(out["won"] > 0)
        out["roi"] = (out["won_revenue"] - out["spend"]) / out["spend"].where(out["spend"] > 0)
    return out
