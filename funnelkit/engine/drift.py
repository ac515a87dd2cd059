"""Drift and mix decomposition on the engine: the in-memory metrics over the engine's rate tables.

Both read the tables of :func:`funnelkit.win_rate` and :func:`funnelkit.conversion`,
which run in the engine; drift of time to close also needs each period's
durations, which come back as counts per group, period and distinct number of
days (the Mann-Whitney test and the median are read from those counts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _params as params
from ..metrics.drift import drift_table, mix_table
from ._common import fetch, group_keys, sorted_groups, with_period
from .periods import days_between
from .statistics import median_from_counts
from .time_to_close import start_column, start_options

if TYPE_CHECKING:
    from .dataset import EngineDataset


def drift(
    data: EngineDataset,
    *,
    metric: str = "win_rate",
    period: str = params.DEFAULT_PERIOD,
    by=params.DEFAULT_BY,
    from_stage: str | None = None,
    to_stage: str | None = None,
    alpha: float = 0.05,
    correction: str = "holm",
    compare_to: str = "previous",
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.drift` on the engine: the same options, checks, columns, numbers, notes and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")          # doctest: +SKIP
    >>> data.drift(metric="conversion", by="source")   # doctest: +SKIP
    """
    p = params.check_options(data, by=by, period=params.period(period, required=True), from_stage=from_stage,
                             to_stage=to_stage, fiscal_year_start=fiscal_year_start)  # fmt: skip
    return drift_table(data, p, metric, alpha, correction, compare_to, durations=durations_by_period)


def mix_decomposition(
    data: EngineDataset,
    *,
    current: str,
    previous: str,
    by=params.DEFAULT_BY,
    metric: str = "conversion",
    from_stage: str | None = None,
    to_stage: str | None = None,
    period: str = params.DEFAULT_PERIOD,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.mix_decomposition` on the engine: the same options, checks, columns, numbers and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")                                        # doctest: +SKIP
    >>> data.mix_decomposition(current="2025 Q2", previous="2025 Q1", by="source")   # doctest: +SKIP
    """
    p = params.check_options(data, by=by, period=params.period(period, required=True), from_stage=from_stage,
                             to_stage=to_stage, fiscal_year_start=fiscal_year_start)  # fmt: skip
    return mix_table(data, p, current, previous, metric)


def default_start(data: EngineDataset) -> str:
    """:func:`funnelkit.metrics.time_to_close.default_start` in one aggregate query."""
    for start, n in start_options(data.funnel_table, data.stages):
        if n:
            return start
    return "opportunity"


def durations_by_period(data: EngineDataset, by: list[str], period: str, fiscal_year_start: int) -> pd.DataFrame:
    """Days to close of closed deals per group and period of close: ``n``, ``value`` (median), ``_sample``.

    The engine returns one row per group, period and distinct duration; each
    period's sample is those values repeated by their counts (closed deals'
    durations, not funnel rows), which the Mann-Whitney test reads.
    """
    f = data.funnel_table
    begin = f[start_column(data.stages, default_start(data))]
    closed = f.filter(f["is_closed"] & begin.notnull() & f["closed_at"].notnull())
    days = days_between(closed["closed_at"], closed[begin.get_name()])
    closed = closed.filter(days >= 0)
    keys = with_period(group_keys(closed, by), closed["closed_at"], period, fiscal_year_start)
    rows = closed.mutate(**keys, _days=days_between(closed["closed_at"], closed[begin.get_name()]))
    cols = list(keys)
    counts = sorted_groups(fetch(rows.group_by([*cols, "_days"]).aggregate(_n=rows.count())), [*cols, "_days"])
    grouped = counts.groupby(cols, dropna=False, sort=True)
    out = grouped["_n"].sum().rename("n").reset_index().astype({"n": "int64"})
    out["value"] = [median_from_counts(g["_days"], g["_n"]) for _, g in grouped]
    out["_sample"] = [np.repeat(g["_days"].to_numpy(dtype=float), g["_n"].to_numpy(dtype=np.int64)) for _, g in grouped]
    return out
