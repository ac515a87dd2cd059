"""Sales velocity: how much revenue the pipeline produces per day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..dataset import Dataset
from ..errors import NotMeasurableError
from ._common import add_note, by_columns, core, counted, days_between, group_keys, period_labels
from ._money import choose_currency, won_without_amount


def velocity(
    data: Dataset, *, period: str = "Q", by=None, currency: str | None = None, fiscal_year_start: int = 1
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
    by = by_columns(data, by)
    f = core(data, by)
    opps = f[f["opportunity_created_at"].notna()]
    left_out = _require_created(f, opps)
    code = None
    if "currency" not in by:
        code, rows = choose_currency(opps, currency, what="velocity (revenue per day)")
        opps = opps if rows is None else opps[rows]
    keys = group_keys(opps, by)
    keys["period"] = period_labels(opps["opportunity_created_at"], period, fiscal_year_start=fiscal_year_start)
    cycle = days_between(opps["closed_at"], opps["opportunity_created_at"]).where(opps["is_closed"])
    table = keys.assign(
        opportunities=1,
        won=opps["is_won"].astype(int),
        closed=opps["is_closed"].astype(int),
        _without_amount=won_without_amount(opps).astype(int),
        _won_amount=opps["amount"].where(opps["is_won"]),
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
    if "currency" not in by:
        out.insert(len(by) + 1, "currency", pd.Series(code, index=out.index, dtype="str"))
    return add_note(out, left_out) if left_out else out


def _require_created(f: pd.DataFrame, opps: pd.DataFrame) -> str:
    """Stop when no opportunity has a created date (velocity counts by it); else who is left out."""
    deals = int((f["opportunity_id"].notna() | f["is_closed"]).sum())
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
