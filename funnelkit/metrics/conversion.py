"""Stage-to-stage conversion, overall conversion and where the funnel loses people."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from ..dataset import Dataset
from ..schema import stage_column
from ._common import (
    by_columns,
    check_choice,
    core,
    date_window,
    days_between,
    group_keys,
    period_end,
    period_labels,
    stage_pairs,
    to_timedelta,
)
from ._money import currencies

BASES = ("cohort", "period")


def conversion(
    data: Dataset,
    *,
    basis: str = "cohort",
    window=None,
    by=None,
    period: str | None = None,
    from_stage: str | None = None,
    to_stage: str | None = None,
    start=None,
    end=None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Conversion between consecutive funnel stages (or one chosen pair).

    Parameters
    ----------
    data : Dataset
    basis : {"cohort", "period"}
        ``cohort`` (default): of the entities that entered ``from_stage`` in a
        period, how many reached ``to_stage`` (within ``window`` if given).
        ``period``: how many entered each stage in the period (counts per
        period; the ratio is not a proportion and gets no interval).
    window : str or Timedelta, optional
        Count a conversion only if it happened within this time (e.g. "90D").
    by : str or list of str, optional
        Funnel columns to break down by (``source``, ``owner``, a segment).
    period : {"W", "M", "Q", "Y"}, optional
        Period of entry into ``from_stage``; quarters follow ``fiscal_year_start``.
    from_stage, to_stage : str, optional
        One pair instead of every consecutive pair.
    start, end : date-like, optional
        Only entities that entered ``from_stage`` in [start, end).
    fiscal_year_start : int
        First month of the fiscal year.

    Returns
    -------
    pandas.DataFrame
        Columns: ``from_stage``, ``to_stage``, the ``by`` columns, ``period``
        (when asked), ``entered``, ``converted``, ``rate``, ``ci_low``,
        ``ci_high`` (Wilson 95%), ``small_sample`` (entered < 20), and for the
        cohort basis ``cumulative_rate`` (Kaplan-Meier estimate that counts
        not-yet-converted members of young cohorts as censored at
        ``data.as_of``), ``horizon_days`` (the time the cumulative rate looks
        ahead: ``window``, else the 75th percentile of observed step times,
        the "stall line")
        and ``mature`` (the cohort's period ended at least ``horizon_days``
        before ``data.as_of``: its plain rate is final).

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.conversion(data, from_stage="mql", to_stage="sql")
    >>> print(table[["entered", "converted", "rate"]].to_string(index=False))
     entered  converted  rate
           4          3  0.75
    """
    check_choice("basis", basis, BASES)
    window = to_timedelta(window, "window")
    by = by_columns(data, by)
    parts = []
    for a, b in stage_pairs(data, from_stage, to_stage):
        if basis == "cohort":
            parts.append(_cohort_step(data, a, b, window, by, period, start, end, fiscal_year_start))
        else:
            parts.append(_period_step(data, a, b, by, period, start, end, fiscal_year_start))
    return pd.concat(parts, ignore_index=True)


def overall_conversion(data: Dataset, **options) -> pd.DataFrame:
    """First stage to won: :func:`conversion` for that one pair; same options and columns.

    Warns with :class:`~funnelkit.SmallSampleWarning` when, without ``by``
    or ``period``, the single rate rests on fewer than 20 entrants.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.overall_conversion(data)  # 6 leads: warns SmallSampleWarning
    >>> print(table[["from_stage", "to_stage", "entered", "converted"]].to_string(index=False))
    from_stage to_stage  entered  converted
          lead      won        6          1
    """
    names = data.stages.names
    table = conversion(data, from_stage=names[0], to_stage=names[-1], **options)
    if len(table) == 1:
        stats.warn_small(int(table["entered"].iloc[0]), f"the overall {names[0]} -> {names[-1]} rate")
    return table


def _entrants(data: Dataset, a: str, b: str, start, end, by=()) -> pd.DataFrame:
    """Entities that entered stage ``a``: only the two stage times and ``by``."""
    f = core(data, by, columns=[stage_column(a), stage_column(b)])
    entered = data.reached(a).to_numpy() & f[stage_column(a)].notna().to_numpy()
    frame = f[entered]
    return date_window(frame, stage_column(a), start, end)


def _cohort_step(data, a, b, window, by, period, start, end, fiscal_year_start) -> pd.DataFrame:
    f = _entrants(data, a, b, start, end, by)
    a_at, b_at = f[stage_column(a)], f[stage_column(b)]
    lag = days_between(b_at, a_at).clip(lower=0)
    reached = data.reached(b)[f.index].to_numpy()
    converted = reached
    if window is not None:
        converted = reached & (lag <= window.total_seconds() / 86400).to_numpy()
    horizon = window.total_seconds() / 86400 if window is not None else _horizon(lag[reached])
    # time to conversion, or to as_of for those who have not converted (yet)
    follow_up = days_between(pd.Series(data.as_of, index=f.index), a_at)
    duration = np.where(reached & lag.notna().to_numpy(), lag, follow_up)
    table = pd.DataFrame(
        {"entered": 1, "converted": converted, "_duration": duration, "_event": reached},
        index=f.index,
    )
    keys = group_keys(f, by)
    if period:
        keys["period"] = period_labels(a_at, period, fiscal_year_start=fiscal_year_start)
    group_cols = list(keys.columns)
    table = pd.concat([keys, table], axis=1)
    if group_cols:
        grouped = table.groupby(group_cols, dropna=False, sort=True)
        counts = grouped[["entered", "converted"]].sum().reset_index()
        cumulative = grouped.apply(
            lambda g: stats.km_probability(g["_duration"], g["_event"], horizon),
            include_groups=False,
        )
        counts["cumulative_rate"] = cumulative.to_numpy()
    else:
        counts = pd.DataFrame({"entered": [len(table)], "converted": [int(table["converted"].sum())]})
        counts["cumulative_rate"] = stats.km_probability(table["_duration"], table["_event"], horizon)
    counts["converted"] = counts["converted"].astype("int64")
    counts["entered"] = counts["entered"].astype("int64")
    stats.add_rate(counts, "converted", "entered")
    counts["horizon_days"] = horizon
    if period:
        ends = period_end(counts["period"], period, fiscal_year_start=fiscal_year_start)
        counts["mature"] = (ends + pd.to_timedelta(horizon, unit="D") <= data.as_of).to_numpy()
    else:
        latest = a_at.max() if len(a_at) else data.as_of
        counts["mature"] = bool(latest + pd.to_timedelta(horizon, unit="D") <= data.as_of)
    counts.insert(0, "to_stage", b)
    counts.insert(0, "from_stage", a)
    ordered = ["from_stage", "to_stage", *group_cols, "entered", "converted", "rate", "ci_low", "ci_high",
               "small_sample", "cumulative_rate", "horizon_days", "mature"]  # fmt: skip
    return counts[ordered]


def _horizon(lags: pd.Series) -> float:
    lags = lags.dropna()
    return float(np.quantile(lags, 0.75)) if len(lags) else 0.0


def _period_step(data, a, b, by, period, start, end, fiscal_year_start) -> pd.DataFrame:
    f = core(data, by)
    rows = []
    for stage, name in ((a, "entered"), (b, "converted")):
        at = f[stage_column(stage)]
        frame = date_window(f[at.notna() & data.reached(stage)], stage_column(stage), start, end)
        keys = group_keys(frame, by)
        if period:
            keys["period"] = period_labels(frame[stage_column(stage)], period, fiscal_year_start=fiscal_year_start)
        group_cols = list(keys.columns)
        counted = keys.assign(**{name: 1})
        rows.append(counted.groupby(group_cols, dropna=False)[name].sum() if group_cols else counted[name].sum())
    if by or period:
        table = pd.concat(rows, axis=1).fillna(0).astype("int64").reset_index()
    else:
        table = pd.DataFrame({"entered": [int(rows[0])], "converted": [int(rows[1])]})
    with np.errstate(divide="ignore", invalid="ignore"):
        table["rate"] = np.where(table["entered"] > 0, table["converted"] / table["entered"], np.nan)
    table["small_sample"] = table["entered"] < stats.SMALL_N
    table.insert(0, "to_stage", b)
    table.insert(0, "from_stage", a)
    return table


def dropoff(data: Dataset, *, by=None) -> pd.DataFrame:
    """Where the funnel loses people: per stage, who stopped there and why.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``stage``, ``reached``, ``stopped``
        (furthest stage reached is this one), ``lost`` (closed lost),
        ``disqualified``, ``still_open`` (neither: may still move on),
        ``stopped_share`` (stopped / reached), ``lost_value`` (amount of the
        deals lost at this stage, when amounts exist; missing when the data's
        amounts are in several currencies, which are never added).
    """
    by = by_columns(data, by)
    f = core(data, by)
    keys = group_keys(f, by)
    # a status meaning disqualified counts as much as a disqualified date (dated or not)
    disqualified = f["is_disqualified"].fillna(False) if "is_disqualified" in f else pd.Series(False, index=f.index)
    parts = []
    for i, stage in enumerate(data.stages.names):
        reached = data.reached(stage)
        stopped = reached & (f["furthest_index"] == i)
        lost = stopped & f["is_lost"]
        disq = stopped & disqualified & ~f["is_lost"]
        table = keys.assign(
            reached=reached,
            stopped=stopped,
            lost=lost,
            disqualified=disq,
            still_open=stopped & ~lost & ~disq & ~f["is_won"],
            lost_value=f["amount"].where(lost, 0.0).fillna(0.0),
        )
        summed = table.groupby(by, dropna=False).sum().reset_index() if by else table.sum().to_frame().T
        summed.insert(len(by), "stage", stage)
        parts.append(summed)
    out = pd.concat(parts, ignore_index=True)
    for column in ("reached", "stopped", "lost", "disqualified", "still_open"):
        out[column] = out[column].astype("int64")
    out["lost_value"] = out["lost_value"].astype(float) if len(currencies(f)) <= 1 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        out["stopped_share"] = np.where(out["reached"] > 0, out["stopped"] / out["reached"], np.nan)
    return out
