"""Sales velocity: how much revenue the pipeline produces per day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..dataset import Dataset
from ..errors import NotMeasurableError
from ._common import add_note, by_columns, core, counted, days_between, group_keys, period_labels


def velocity(data: Dataset, *, period: str = "Q", by=None, fiscal_year_start: int = 1) -> pd.DataFrame:
    """Sales velocity per period of opportunity creation.

    velocity = opportunities x win rate x average won deal size / median cycle days

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``period``, ``opportunities``, ``won``,
        ``closed``, ``win_rate``, ``avg_deal_size``, ``cycle_days`` (median
        days to close of the closed ones), ``velocity_per_day``; ``note``
        when opportunities without a created date were left out.

    Raises
    ------
    NotMeasurableError
        When no opportunity has a created date (or there are none).
    """
    by = by_columns(data, by)
    f = core(data, by)
    opps = f[f["opportunity_created_at"].notna()]
    left_out = _require_created(f, opps)
    keys = group_keys(opps, by)
    keys["period"] = period_labels(opps["opportunity_created_at"], period, fiscal_year_start=fiscal_year_start)
    cycle = days_between(opps["closed_at"], opps["opportunity_created_at"]).where(opps["is_closed"])
    table = keys.assign(
        opportunities=1,
        won=opps["is_won"].astype(int),
        closed=opps["is_closed"].astype(int),
        _won_amount=opps["amount"].where(opps["is_won"]),
        _cycle=cycle.where(cycle >= 0),
    )
    out = (
        table.groupby(list(keys.columns), dropna=False)
        .agg(
            opportunities=("opportunities", "sum"),
            won=("won", "sum"),
            closed=("closed", "sum"),
            avg_deal_size=("_won_amount", "mean"),
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
