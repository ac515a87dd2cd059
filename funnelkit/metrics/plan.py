"""Lead-demand plan: the reverse funnel from a revenue quota to the leads it needs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..dataset import Dataset
from ..errors import ParameterError
from ..schema import stage_column
from ._common import days_between

STEP_RATES = ("win_rate", "sql_to_opportunity", "mql_to_sql", "lead_to_mql")
STEP_STAGES = {"win_rate": ("opportunity", "won"), "sql_to_opportunity": ("sql", "opportunity"),
               "mql_to_sql": ("mql", "sql"), "lead_to_mql": ("lead", "mql")}  # fmt: skip


def plan(
    *,
    quota: float,
    deal_size: float | None = None,
    win_rate: float | None = None,
    sql_to_opportunity: float | None = None,
    mql_to_sql: float | None = None,
    lead_to_mql: float | None = None,
    data: Dataset | None = None,
) -> pd.DataFrame:
    """Reverse funnel: how many deals, opportunities, SQLs, MQLs and leads a quota needs.

    Each count is rounded up before the next division. Rates not given are
    measured from ``data`` (all-time cohort conversion of entities old enough
    to have moved on); with ``data`` the plan also says how long before the
    close each stage must be reached (median days from the stage to won).

    Parameters
    ----------
    quota : float
        Revenue target.
    deal_size : float, optional
        Average won deal (measured from ``data`` if not given).
    win_rate, sql_to_opportunity, mql_to_sql, lead_to_mql : float, optional
        Stage rates (0-1). ``lead_to_mql`` may be left out to stop at MQLs.
    data : Dataset, optional

    Returns
    -------
    pandas.DataFrame
        One row per stage from won back to lead: ``stage``, ``needed``,
        ``rate_to_next`` (the rate used to get from this stage to the next),
        ``rate_basis`` ("given" / "measured"), ``lead_time_days`` (median days
        from this stage to won, with ``data``), and ``value_per_unit`` (quota
        / needed: what one MQL, say, is worth).

    Examples
    --------
    >>> t = plan(quota=500_000, deal_size=2_000, win_rate=0.23,
    ...          sql_to_opportunity=0.82, mql_to_sql=0.34)
    >>> t.set_index("stage")["needed"].to_dict()
    {'won': 250, 'opportunity': 1087, 'sql': 1326, 'mql': 3900}
    """
    if quota <= 0:
        raise ParameterError(f"quota must be positive; got {quota!r}")
    given = {
        "win_rate": win_rate,
        "sql_to_opportunity": sql_to_opportunity,
        "mql_to_sql": mql_to_sql,
        "lead_to_mql": lead_to_mql,
    }
    rates, basis = {}, {}
    for name, value in given.items():
        if value is not None:
            if not 0 < value <= 1:
                raise ParameterError(f"{name} must be in (0, 1]; got {value!r}")
            rates[name], basis[name] = float(value), "given"
        elif data is not None:
            rates[name], basis[name] = _measured(data, *STEP_STAGES[name]), "measured"
    if deal_size is None:
        if data is None:
            raise ParameterError("deal_size is required when no data is given to measure it from")
        deal_size = float(data.funnel.loc[data.funnel["is_won"], "amount"].mean())
    for required in ("win_rate", "sql_to_opportunity", "mql_to_sql"):
        if required not in rates or not rates[required] > 0:
            raise ParameterError(f"{required} is needed: give it, or data to measure it from")

    deals = math.ceil(quota / deal_size - 1e-9)
    rows = [("won", deals, None, None)]
    needed = deals
    for name, (stage, _) in (
        ("win_rate", ("opportunity", None)),
        ("sql_to_opportunity", ("sql", None)),
        ("mql_to_sql", ("mql", None)),
        ("lead_to_mql", ("lead", None)),
    ):
        if name not in rates or not rates[name] > 0:
            break
        needed = math.ceil(needed / rates[name] - 1e-9)
        rows.append((stage, needed, rates[name], basis[name]))
    out = pd.DataFrame(rows, columns=["stage", "needed", "rate_to_next", "rate_basis"])
    out["value_per_unit"] = quota / out["needed"]
    out["lead_time_days"] = [_lead_time(data, stage) for stage in out["stage"]] if data is not None else np.nan
    return out


def _measured(data: Dataset, a: str, b: str) -> float:
    if a not in data.stages.names or b not in data.stages.names:
        return float("nan")
    reached_a = data.reached(a)
    if b == data.stages.won:
        # closed deals only: open ones have not decided yet
        decided = reached_a & data.funnel["is_closed"]
        return float(data.funnel.loc[decided, "is_won"].mean()) if decided.any() else float("nan")
    moved = data.reached(b)[reached_a]
    return float(moved.mean()) if len(moved) else float("nan")


def _lead_time(data: Dataset, stage: str) -> float:
    if stage not in data.stages.names:
        return float("nan")
    won = data.funnel[data.funnel["is_won"]]
    days = days_between(won[stage_column(data.stages.won)], won[stage_column(stage)])
    return float(days.median()) if days.notna().any() else float("nan")
