"""Sales velocity: how much revenue the pipeline produces per day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from ..dataset import Dataset
from ..errors import NotMeasurableError
from ..units import Unit, declare
from ._common import add_note, core, counted, days_between, group_keys, period_labels
from ._engines import runs_on_engines
from ._money import choose_currency, won_without_amount

#: Units of the columns of :func:`velocity`.
VELOCITY_UNITS = dict(opportunities=Unit.COUNT, won=Unit.COUNT, closed=Unit.COUNT, won_without_amount=Unit.COUNT,
                      win_rate=Unit.RATE, avg_deal_size=Unit.MONEY, cycle_days=Unit.DAYS,
                      velocity_per_day=Unit.MONEY)  # fmt: skip


@runs_on_engines
def velocity(
    data: Dataset,
    *,
    period: str = params.DEFAULT_PERIOD,
    by=params.DEFAULT_BY,
    currency: str | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Sales velocity per period of opportunity creation.

    velocity = opportunities x win rate x average won deal size / median cycle days

    Velocity is revenue per day, so it is measured in one currency: the data's
    one currency, or with amounts in several, the deals in ``currency``
    (opportunities, win rate, deal size and cycle of those deals alone; deals
    whose currency is unknown are in none of them). ``by="currency"`` gives a
    row per currency instead.

    Parameters
    ----------
    data : Dataset
    period : {"W", "M", "Q", "Y"}
    by : str or list of str, optional
    currency : str, optional
        Needed when the amounts are in several currencies (else a
        :class:`~funnelkit.ParameterError` lists them).
    fiscal_year_start : int

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``period``, ``currency``, ``opportunities``,
        ``won``, ``closed``, ``win_rate``, ``won_without_amount`` (won deals with a
        blank amount: in ``won`` and the win rate, not in the deal size),
        ``avg_deal_size`` (over won deals with an amount), ``cycle_days``
        (median days to close of the closed ones), ``velocity_per_day``;
        ``note`` when opportunities without a created date were left out.

    Raises
    ------
    NotMeasurableError
        When no opportunity has a created date (or there are none).
    """
    p = params.check(data, by=by, period=params.period(period, required=True), fiscal_year_start=fiscal_year_start)
    by, period, fiscal_year_start = p.by, p.period, p.fiscal_year_start
    f = core(data, by)
    opps = f[f[fn.OPPORTUNITY_CREATED_AT].notna()]
    left_out = _require_created(f, opps)
    code = None
    if fn.CURRENCY not in by:
        code, rows = choose_currency(opps, currency, what="velocity (revenue per day)")
        opps = opps if rows is None else opps[rows]
    keys = group_keys(opps, by)
    keys["period"] = period_labels(opps[fn.OPPORTUNITY_CREATED_AT], period, fiscal_year_start=fiscal_year_start)
    cycle = days_between(opps[fn.CLOSED_AT], opps[fn.OPPORTUNITY_CREATED_AT]).where(opps[fn.IS_CLOSED])
    table = keys.assign(
        opportunities=1,
        won=opps[fn.IS_WON].astype(int),
        closed=opps[fn.IS_CLOSED].astype(int),
        _without_amount=won_without_amount(opps).astype(int),
        _won_amount=opps[fn.AMOUNT].where(opps[fn.IS_WON]),
        _cycle=cycle.where(cycle >= 0),
    )
    out = (
        table.groupby(list(keys.columns), dropna=False)
        .agg(
            opportunities=("opportunities", "sum"),
            won=("won", "sum"),
            closed=("closed", "sum"),
            won_without_amount=("_without_amount", "sum"),
            avg_deal_size=("_won_amount", "mean"),  # the mean skips blank amounts
            cycle_days=("_cycle", "median"),
        )
        .reset_index()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["win_rate"] = out["won"] / out["closed"].where(out["closed"] > 0)
        out["velocity_per_day"] = (
            out["opportunities"]
            * out["win_rate"]
            * out["avg_deal_size"]
            / out["cycle_days"].where(out["cycle_days"] > 0)
        )
    if fn.CURRENCY not in by:
        out.insert(len(by) + 1, fn.CURRENCY, pd.Series(code, index=out.index, dtype="str"))
    return declare(add_note(out, left_out) if left_out else out, **VELOCITY_UNITS)


def _require_created(f: pd.DataFrame, opps: pd.DataFrame) -> str:
    """Stop when no opportunity has a created date (velocity counts by it); else who is left out."""
    deals = int((f[fn.OPPORTUNITY_ID].notna() | f[fn.IS_CLOSED]).sum())
    if not deals:
        raise NotMeasurableError(
            "sales velocity needs opportunities, and this export has none: load the opportunities export too",
            missing=("opportunities",),
        )
    if not len(opps):
        raise NotMeasurableError(
            "sales velocity is counted per period of opportunity creation and needs the days to close from it, "
            f"and none of the {counted(deals, 'opportunity')} has a created date (created_at): map it; "
            "fk.win_rate and fk.time_to_close(start=...) work without it",
            missing=("created_at",),
        )
    undated = deals - len(opps)
    return f"{counted(undated, 'opportunity')} with no created date left out" if undated > 0 else ""
