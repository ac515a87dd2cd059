"""What a lead is worth, per source: won revenue per lead and per MQL, and ROI given spend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from ..dataset import Dataset
from ..errors import NotMeasurableError, ParameterError
from ..schema import stage_column
from ..units import Unit, declare
from ._common import (
    add_note,
    core,
    counted,
    days_between,
    group_keys,
    period_end,
    period_labels,
)
from ._engines import runs_on_engines
from ._money import currencies, won_without_amount

#: Units of the columns of :func:`lead_value`.
LEAD_VALUE_UNITS = dict(leads=Unit.COUNT, mqls=Unit.COUNT, won=Unit.COUNT, won_without_amount=Unit.COUNT,
                        won_revenue=Unit.MONEY, revenue_per_lead=Unit.MONEY, revenue_per_mql=Unit.MONEY,
                        avg_deal_size=Unit.MONEY, matured_before=Unit.TIMESTAMP, spend=Unit.MONEY,
                        spend_periods=Unit.COUNT, cost_per_lead=Unit.MONEY, cost_per_won=Unit.MONEY,
                        roi=Unit.RATIO)  # fmt: skip


@runs_on_engines
def lead_value(
    data: Dataset,
    *,
    by=params.DEFAULT_BY,
    spend: pd.DataFrame | None = None,
    spend_period: str = params.DEFAULT_PERIOD,
    matured_only: bool = True,
    maturity_days: float | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Won revenue per lead, per MQL and per won deal, by source (or any ``by``).

    Parameters
    ----------
    data : Dataset
    by : str or list of str, optional
        Funnel columns to value leads by, such as ``"source"`` (a lead's
        original source; see ``source_basis``); default none: every lead together.
    spend : DataFrame, optional
        Marketing spend with columns ``source``, ``period`` and ``spend`` (one
        currency, the revenue's). Needs ``by="source"``. Adds cost per lead,
        cost per won deal and ROI. So that cost and value describe the same
        leads, a source with spend counts only its leads created in the
        periods its spend covers (and, with ``matured_only``, only periods
        that ended before the maturity cut-off; spend of younger periods is
        left out too). Sources without spend rows keep all their leads.
    spend_period : {"W", "M", "Q", "Y"}
        The kind of period in ``spend["period"]``, labelled as
        :func:`funnelkit.metrics.period_labels` writes them ("2025 Q1", or
        "FY2026 Q1" with a fiscal year; "2025-03" for months).
    matured_only : bool
        Count only leads created at least ``maturity_days`` before
        ``data.as_of``, so young leads that have not had time to close do not
        drag the value down (default True).
    maturity_days : float, optional
        Default: the 75th percentile of observed days from lead to won.
    fiscal_year_start : int
        First month of the fiscal year (for ``spend`` period labels).

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``currency``, ``leads``, ``mqls`` (when
        the funnel has an ``mql`` stage), ``won``, ``won_without_amount``
        (won deals with a blank amount: counted in ``won``, left out of every
        revenue figure), ``won_revenue`` (missing when every won deal of the
        row lacks an amount), ``revenue_per_lead``, ``revenue_per_mql``,
        ``avg_deal_size`` (over the won deals with an amount),
        ``matured_before`` (the cut-off date used, or NaT), and with ``spend``
        also ``spend``, ``spend_periods`` (periods of spend counted),
        ``cost_per_lead``, ``cost_per_won``, ``roi`` ((won revenue - spend) /
        spend). Revenue is never summed across currencies: with several, each
        currency is its own row (lead counts repeat on each), and ``spend``
        is refused. ``note`` is added when leads without a created date
        were left out.

    Raises
    ------
    NotMeasurableError
        When there is no lead to value: the export has no leads, no lead has
        a created date, or none is old enough (``matured_only``) or in the
        periods the spend covers.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.lead_value(data, by="source", matured_only=False)
    >>> print(table[["source", "leads", "won", "won_revenue"]].to_string(index=False))
        source  leads  won  won_revenue
       Partner      1    0          0.0
    Trade Show      2    1      12345.0
           Web      3    0          0.0
    """
    p = params.check(data, by=by, fiscal_year_start=fiscal_year_start)
    by, fiscal_year_start = p.by, p.fiscal_year_start
    spend_period = params.period(spend_period, name="spend_period", required=True)
    maturity_days = params.non_negative(maturity_days, name="maturity_days")
    first_at = stage_column(data.stages.first)
    f = core(data, by, columns=[fn.ENTITY, first_at, fn.IS_WON, fn.AMOUNT, fn.CURRENCY, fn.CLOSED_AT, fn.SOURCE])
    leads = f[f[fn.ENTITY].eq("lead") & f[first_at].notna()]
    cutoff = pd.NaT
    if matured_only and len(leads):
        if maturity_days is None:
            maturity_days = _typical_days_to_win(leads, first_at)
        cutoff = data.as_of - pd.Timedelta(days=maturity_days)
        leads = leads[leads[first_at] <= cutoff]
    costs = None
    if spend is not None:
        costs = spend_per_source(spend, by, spend_period, fiscal_year_start, cutoff)
        leads = _leads_in_paid_periods(leads, spend, first_at, costs, spend_period, fiscal_year_start)
    all_leads = f[fn.ENTITY].eq("lead").to_numpy()
    n_dated = int((all_leads & f[first_at].notna().to_numpy()).sum())
    left_out = require_leads(int(all_leads.sum()), n_dated, len(leads), cutoff, paid=spend is not None)
    keys = group_keys(leads, by)
    won = leads[fn.IS_WON].astype(bool)
    table = keys.assign(
        leads=1,
        won=won.astype(int),
        won_without_amount=won_without_amount(leads).astype(int),
        won_revenue=leads[fn.AMOUNT].where(won, 0.0).fillna(0.0),
        _currency=leads[fn.CURRENCY].where(won),
    )
    if "mql" in data.stages.names:
        table["mqls"] = data.reached("mql")[leads.index].astype(int)
    return value_table(table, by, currencies(leads[won]), cutoff=cutoff, costs=costs, left_out=left_out)


def value_table(table: pd.DataFrame, by: list[str], found: list, *, cutoff, costs, left_out: str) -> pd.DataFrame:
    """Lead value from per-row (or per-group) counts and sums: shared by the pandas metric and the engine's.

    ``table`` has the ``by`` columns, ``_currency`` (of won deals), ``leads``,
    ``won``, ``won_without_amount``, ``won_revenue`` and ``mqls`` (when the
    funnel has an mql stage); ``found`` the currencies of won revenue.
    """
    agg = {c: "sum" for c in ("leads", "won", "won_without_amount", "won_revenue", "mqls") if c in table}
    out = table.groupby(by, dropna=False).agg(agg).reset_index() if by else table.agg(agg).to_frame().T
    out = split_currencies(table, by, out, found)
    # won deals without an amount count as won but stay out of revenue: a group whose every
    # won deal lacks one has no revenue figure, not a revenue of 0
    with_amount = out["won"] - out["won_without_amount"]
    out["won_revenue"] = out["won_revenue"].where((with_amount > 0) | (out["won"] == 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["revenue_per_lead"] = out["won_revenue"] / out["leads"].where(out["leads"] > 0)
        if "mqls" in out:
            out["revenue_per_mql"] = out["won_revenue"] / out["mqls"].where(out["mqls"] > 0)
        out["avg_deal_size"] = out["won_revenue"] / with_amount.where(with_amount > 0)
    out["matured_before"] = cutoff
    if costs is not None:
        out = with_costs(out, costs)
    return declare(add_note(out, left_out) if left_out else out, **LEAD_VALUE_UNITS)


def require_leads(n_leads: int, n_dated: int, n_counted: int, cutoff, *, paid: bool) -> str:
    """Stop when no lead is left to value, saying why; else what was left out, for the ``note``.

    ``n_leads`` leads in the export, ``n_dated`` of them with a created date,
    ``n_counted`` left after the maturity cut-off and the spend's periods.
    """
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
        if paid:
            why = f"no lead was created{young} in the periods the spend covers"
            fix = "give spend for the periods the leads were created in, or pass matured_only=False"
        else:
            why = f"no lead was created{young}"
            fix = "pass matured_only=False (young leads then drag the value down) or a smaller maturity_days="
        raise NotMeasurableError(f"lead value has no lead to count: {why}; {fix}", missing=("created_at",))
    return f"{counted(undated, 'lead')} with no created date left out" if undated else ""


def _typical_days_to_win(leads: pd.DataFrame, first_at: str) -> float:
    """75th percentile of days from lead creation to a won close (0 when nothing was won)."""
    won = leads[leads[fn.IS_WON]]
    lags = days_between(won[fn.CLOSED_AT], won[first_at]).dropna()
    return float(np.quantile(lags, 0.75)) if len(lags) else 0.0


def split_currencies(table, by, out, found: list) -> pd.DataFrame:
    """One row per group, or per group and currency when won revenue is in several (``found``)."""
    if len(found) <= 1:
        out.insert(len(by), fn.CURRENCY, found[0] if found else None)
        return out
    # several currencies: revenue per currency (won deals of no known currency on a row of their
    # own), lead counts repeated on each row
    money = ["won", "won_without_amount", "won_revenue"]
    revenue = (
        table[table["won"] > 0]
        .groupby([*by, "_currency"], dropna=False)[money]
        .sum()
        .reset_index()
        .rename(columns={"_currency": fn.CURRENCY})
    )
    counts = out.drop(columns=money)
    merged = counts.merge(revenue, on=by, how="left") if by else counts.merge(revenue, how="cross")
    merged[money] = merged[money].fillna(0)  # a group without won deals
    merged[["won", "won_without_amount"]] = merged[["won", "won_without_amount"]].astype("int64")
    return merged[[*by, fn.CURRENCY, *[c for c in out.columns if c not in by]]]


def spend_per_source(spend, by, spend_period, fiscal_year_start, cutoff) -> pd.DataFrame:
    """Spend rows checked and, with a maturity cut-off, only periods that ended before it."""
    required = {fn.SOURCE, "period", "spend"}
    if not isinstance(spend, pd.DataFrame) or not required <= set(spend.columns):
        got = list(spend.columns) if isinstance(spend, pd.DataFrame) else type(spend).__name__
        raise ParameterError(f"spend must be a DataFrame with columns {sorted(required)}; got {got}")
    if by != [fn.SOURCE]:
        raise ParameterError(f"spend is given per source, so it needs by='source'; got by={by}")
    rows = spend[[fn.SOURCE, "period", "spend"]].astype({fn.SOURCE: "str", "period": "str", "spend": "float64"})
    ends = _checked_period_ends(rows["period"], spend_period, fiscal_year_start)
    if cutoff is not pd.NaT:
        rows = rows[(ends <= cutoff).to_numpy()]
    return rows


def _checked_period_ends(labels: pd.Series, period: str, fiscal_year_start: int) -> pd.Series:
    """Exclusive end of each labelled period; a label funnelkit would not write is an error."""
    try:
        ends = period_end(labels, period, fiscal_year_start=fiscal_year_start)
        relabelled = period_labels(ends - pd.Timedelta(seconds=1), period, fiscal_year_start=fiscal_year_start)
    except (ValueError, IndexError):
        relabelled = None
    if relabelled is None or not (relabelled.to_numpy() == labels.to_numpy()).all():
        example = period_labels(pd.Series([pd.Timestamp("2025-03-01", tz="UTC")]), period,
                                fiscal_year_start=fiscal_year_start).iloc[0]  # fmt: skip
        bad = sorted(set(labels) - set(relabelled if relabelled is not None else []))[:5]
        raise ParameterError(
            f"spend['period'] must hold {period!r} labels like {example!r} "
            f"(fiscal_year_start={fiscal_year_start}); got {bad}"
        )
    return ends


def _leads_in_paid_periods(leads, spend, first_at, costs, spend_period, fiscal_year_start) -> pd.DataFrame:
    """Leads of sources with spend only in the (kept) periods their spend covers."""
    created = period_labels(leads[first_at], spend_period, fiscal_year_start=fiscal_year_start)
    paid = pd.MultiIndex.from_frame(costs[[fn.SOURCE, "period"]])
    in_paid_period = pd.MultiIndex.from_arrays([leads[fn.SOURCE].astype("str"), created]).isin(paid)
    without_spend = ~leads[fn.SOURCE].isin(spend[fn.SOURCE].astype("str")).to_numpy()
    return leads[in_paid_period | without_spend]


def with_costs(out: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    currencies = out[fn.CURRENCY].dropna().unique()
    if len(currencies) > 1:
        raise ParameterError(
            f"won revenue is in several currencies ({sorted(currencies)}) and spend in one: "
            "filter the data to one currency before comparing them"
        )
    per_source = costs.groupby(fn.SOURCE).agg(spend=("spend", "sum"), spend_periods=("period", "nunique"))
    out = out.join(per_source, on=fn.SOURCE)
    out["spend_periods"] = out["spend_periods"].astype("Int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cost_per_lead"] = out["spend"] / out["leads"].where(out["leads"] > 0)
        out["cost_per_won"] = out["spend"] / out["won"].where(out["won"] > 0)
        out["roi"] = (out["won_revenue"] - out["spend"]) / out["spend"].where(out["spend"] > 0)
    return out
