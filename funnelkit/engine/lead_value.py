"""Lead value on the engine: leads, MQLs, won deals and won revenue per group and currency."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from .. import _params as params
from ..errors import ParameterError
from ..metrics.lead_value import require_leads, spend_per_source, value_table
from ..schema import stage_column
from ._common import fetch, group_keys, reached, sorted_groups
from .periods import days_between, period_label, timestamp_literal

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
    """:func:`funnelkit.lead_value` over an engine's funnel view.

    Returns the same columns, numbers and notes as the in-memory metric: the
    ``by`` columns, ``currency``, ``leads``, ``mqls`` (when the funnel has an
    ``mql`` stage), ``won``, ``won_without_amount``, ``won_revenue``,
    ``revenue_per_lead``, ``revenue_per_mql``, ``avg_deal_size``,
    ``matured_before``, and with ``spend`` (a small pandas table, matched to
    per-source, per-period lead counts that come back from the engine) the
    cost columns; ``note`` when leads without a created date were left
    out. Raises :class:`~funnelkit.NotMeasurableError` as it does.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")                  # doctest: +SKIP
    >>> data.lead_value(by="source", matured_only=False)       # doctest: +SKIP
    """
    by = params.check_options(data, by=by, fiscal_year_start=fiscal_year_start).by
    spend_period = params.period(spend_period, name="spend_period", required=True)
    maturity_days = params.non_negative(maturity_days, name="maturity_days")
    funnel, stages, as_of = data.funnel_table, data.stages, data.as_of
    for needed in ("amount", "currency"):
        if needed not in funnel.columns:
            raise ParameterError(f"lead_value needs the opportunities' {needed!r} column, which these tables lack")
    first_at = stage_column(stages.first)
    f = funnel
    lead_rows = f.filter(f["entity"] == "lead")
    leads = lead_rows.filter(lead_rows[first_at].notnull())
    cutoff = pd.NaT
    n_leads, n_dated, typical_days_to_win = _lead_facts(lead_rows, first_at)
    if matured_only and n_dated:
        if maturity_days is None:
            maturity_days = typical_days_to_win
        cutoff = as_of - pd.Timedelta(days=maturity_days)
        leads = leads.filter(leads[first_at] <= timestamp_literal(cutoff))
    costs = None
    if spend is not None:
        costs = spend_per_source(spend, by, spend_period, fiscal_year_start, cutoff)
    table = _sums(leads, by, stages, spend_period if costs is not None else None, fiscal_year_start, first_at)
    if costs is not None:
        table = _in_paid_periods(table, spend, costs)
    left_out = require_leads(n_leads, n_dated, int(table["leads"].sum()), cutoff, paid=costs is not None)
    return value_table(table, by, _currencies(table), cutoff=cutoff, costs=costs, left_out=left_out)


def _sums(leads: ir.Table, by, stages, spend_period, fiscal_year_start: int, first_at: str) -> pd.DataFrame:
    """Leads, MQLs, won deals and revenue per group and currency (and per period of spend, with spend)."""
    keys = group_keys(leads, by)
    if spend_period is not None:
        keys["_spend_period"] = period_label(leads[first_at], spend_period, fiscal_year_start=fiscal_year_start)
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
    return sorted_groups(table, [*by, *(["_spend_period"] if spend_period else []), "_currency"])


def _in_paid_periods(table: pd.DataFrame, spend: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """Rows of sources with spend only in the (kept) periods their spend covers (funnelkit.lead_value's rule)."""
    paid = pd.MultiIndex.from_frame(costs[["source", "period"]])
    in_paid_period = pd.MultiIndex.from_arrays([table["source"].astype("str"), table["_spend_period"]]).isin(paid)
    without_spend = ~table["source"].isin(spend["source"].astype("str")).to_numpy()
    return table[in_paid_period | without_spend].drop(columns="_spend_period").reset_index(drop=True)


def _lead_facts(lead_rows: ir.Table, first_at: str) -> tuple[int, int, float]:
    """How many leads there are, how many have a created date, and the 75th percentile of days from creation
    to a won close of those (0 when nothing was won), in one aggregate query."""
    created = lead_rows[first_at]
    won = lead_rows["is_won"] & created.notnull()
    lag = days_between(lead_rows["closed_at"], created)
    row = fetch(
        lead_rows.aggregate(
            n=lead_rows.count(),
            dated=created.notnull().cast("int64").sum(),
            q=ibis.ifelse(won, lag, ibis.null("float64")).quantile(0.75),
        )
    ).iloc[0]
    dated, typical = row["dated"], row["q"]
    return int(row["n"]), int(0 if pd.isna(dated) else dated), 0.0 if pd.isna(typical) else float(typical)


def _currencies(table: pd.DataFrame) -> list:
    """The currencies of won deals with an amount, sorted (``None`` last: amounts that name none)."""
    with_amount = table[table["_won_with_amount"] > 0]["_currency"]
    found = sorted(with_amount.dropna().unique().tolist())
    return [*found, None] if with_amount.isna().any() else found
