"""Sales velocity on the engine: counts and won amounts per group and period, cycle days as counts per value."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import _params as params
from ..errors import NotMeasurableError
from ..metrics._common import add_note, counted
from ..metrics._money import choose_currency
from ..metrics.velocity import VELOCITY_UNITS
from ..units import declare
from ._common import fetch, group_keys, sorted_groups, with_period
from .periods import days_between
from .statistics import median_from_counts

if TYPE_CHECKING:
    from .dataset import EngineDataset

SUMS = ["opportunities", "won", "closed", "won_without_amount", "_amount_sum", "_amount_n"]


def velocity(
    data: EngineDataset,
    *,
    period: str = params.DEFAULT_PERIOD,
    by=params.DEFAULT_BY,
    currency: str | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.velocity` on the engine: the same options, checks, columns, numbers, notes and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")     # doctest: +SKIP
    >>> data.velocity(by="source", period="Q")    # doctest: +SKIP
    """
    p = params.check_options(data, by=by, period=params.period(period, required=True),
                             fiscal_year_start=fiscal_year_start)  # fmt: skip
    by, period, fiscal_year_start = p.by, p.period, p.fiscal_year_start
    f = data.funnel_table
    created = "opportunity_created_at"
    opps = f.filter(f[created].notnull())
    left_out = _require_created(f)
    code = None
    if "currency" not in by:
        code, rows = choose_currency(_currency_pairs(opps), currency, what="velocity (revenue per day)")
        if rows is not None:  # several currencies: the deals in the one asked for
            opps = opps.filter(ibis.coalesce(opps["currency"] == code, False))
    keys = with_period(group_keys(opps, by), opps[created], period, fiscal_year_start)
    cols = list(keys)
    won, amount = opps["is_won"], opps["amount"]
    sums = {
        "opportunities": opps.count(),
        "won": won.cast("int64").sum(),
        "closed": opps["is_closed"].cast("int64").sum(),
        "won_without_amount": (won & amount.isnull()).cast("int64").sum(),
        "_amount_sum": ibis.ifelse(won, amount, ibis.null("float64")).sum(),
        "_amount_n": (won & amount.notnull()).cast("int64").sum(),
    }
    counts = sorted_groups(fetch(opps.group_by(**keys).aggregate(**sums)), cols)
    # regrouped in pandas so the groups line up exactly as the in-memory metric aligns them
    out = counts.groupby(cols, dropna=False).agg(**{c: (c, "sum") for c in SUMS}).reset_index()
    out = out.astype({c: "int64" for c in SUMS if c != "_amount_sum"})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["avg_deal_size"] = (out.pop("_amount_sum") / out["_amount_n"].where(out["_amount_n"] > 0)).astype(float)
    out = out.drop(columns="_amount_n")
    out = out.merge(_cycle_medians(opps, keys), on=cols, how="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["win_rate"] = out["won"] / out["closed"].where(out["closed"] > 0)
        out["velocity_per_day"] = (
            out["opportunities"]
            * out["win_rate"]
            * out["avg_deal_size"]
            / out["cycle_days"].where(out["cycle_days"] > 0)
        )
    columns = [*cols, "opportunities", "won", "closed", "won_without_amount", "avg_deal_size", "cycle_days",
               "win_rate", "velocity_per_day"]  # fmt: skip
    out = out[columns]
    if "currency" not in by:
        out.insert(len(by) + 1, "currency", pd.Series(code, index=out.index, dtype="str"))
    return declare(add_note(out, left_out) if left_out else out, **VELOCITY_UNITS)


def _currency_pairs(opps: ir.Table) -> pd.DataFrame:
    """One row per distinct (has an amount, currency): what :func:`choose_currency` reads of the deals."""
    pairs = opps.select(
        amount=ibis.ifelse(opps["amount"].notnull(), 1.0, ibis.null("float64")), currency=opps["currency"]
    ).distinct()
    return fetch(pairs)


def _cycle_medians(opps: ir.Table, keys: dict) -> pd.DataFrame:
    """Median days from creation to close of the closed deals per group (counts per distinct value)."""
    cycle = days_between(opps["closed_at"], opps["opportunity_created_at"])
    closed = opps.filter(opps["is_closed"] & (cycle >= 0))
    rows = closed.mutate(**keys, _cycle=days_between(closed["closed_at"], closed["opportunity_created_at"]))
    cols = list(keys)
    counts = sorted_groups(fetch(rows.group_by([*cols, "_cycle"]).aggregate(_n=rows.count())), [*cols, "_cycle"])
    medians = [
        {**dict(zip(cols, key, strict=True)), "cycle_days": median_from_counts(group["_cycle"], group["_n"])}
        for key, group in counts.groupby(cols, dropna=False, sort=True)
    ]
    frame = pd.DataFrame(medians, columns=[*cols, "cycle_days"])
    for column in cols:  # merge keys of one dtype with the counts
        frame[column] = frame[column].astype(counts[column].dtype)
    return frame.astype({"cycle_days": "float64"})


def _require_created(f: ir.Table) -> str:
    """Stop when no opportunity has a created date, in the words of :func:`funnelkit.velocity` (one query)."""
    is_deal = f["opportunity_id"].notnull() | f["is_closed"]
    row = fetch(
        f.aggregate(
            deals=is_deal.cast("int64").sum(), dated=f["opportunity_created_at"].notnull().cast("int64").sum()
        )
    ).fillna(0).iloc[0]  # fmt: skip
    deals, dated = int(row["deals"]), int(row["dated"])
    if not deals:
        raise NotMeasurableError(
            "sales velocity needs opportunities, and this export has none: load the opportunities export too",
            missing=("opportunities",),
        )
    if not dated:
        raise NotMeasurableError(
            "sales velocity is counted per period of opportunity creation and needs the days to close from it, "
            f"and none of the {counted(deals, 'opportunity')} has a created date (created_at): map it; "
            "fk.win_rate and fk.time_to_close(start=...) work without it",
            missing=("created_at",),
        )
    undated = deals - dated
    return f"{counted(undated, 'opportunity')} with no created date left out" if undated > 0 else ""
