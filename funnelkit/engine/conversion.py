"""Stage-to-stage conversion on the engine: counts and the Kaplan-Meier cumulative rate per group.

Per step, the engine returns one row per group (``entered``, ``converted``,
the cumulative rate) and one row of scalars (the step's 75th-percentile time,
the latest entry); Wilson intervals and maturity are worked out in Python.
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir
import pandas as pd

from .. import stats
from ..errors import ParameterError
from ..metrics._common import check_choice, period_end, to_timedelta
from ..schema import Stages
from ._common import by_columns, fetch, group_keys, in_window, reached, sorted_groups, stage_at, with_period
from .periods import days_between, days_until

BASES = ("cohort", "period")
COHORT_COLUMNS = ["entered", "converted", "rate", "ci_low", "ci_high", "small_sample", "cumulative_rate",
                  "horizon_days", "mature"]  # fmt: skip


def conversion(
    funnel: ir.Table,
    stages: Stages,
    as_of: pd.Timestamp,
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
    """:func:`funnelkit.conversion` over an engine's funnel view; same options, same columns and numbers."""
    check_choice("basis", basis, BASES)
    window = to_timedelta(window, "window")
    by = by_columns(funnel, by)
    parts = []
    for a, b in stage_pairs(stages, from_stage, to_stage):
        if basis == "cohort":
            parts.append(_cohort_step(funnel, stages, as_of, a, b, window, by, period, start, end, fiscal_year_start))
        else:
            parts.append(_period_step(funnel, stages, a, b, by, period, start, end, fiscal_year_start))
    return pd.concat(parts, ignore_index=True)


def stage_pairs(stages: Stages, from_stage=None, to_stage=None) -> list[tuple[str, str]]:
    names = stages.names
    if from_stage is not None or to_stage is not None:
        a = names[0] if from_stage is None else from_stage
        b = names[-1] if to_stage is None else to_stage
        if stages.index(b) <= stages.index(a):
            raise ParameterError(f"to_stage {b!r} must come after from_stage {a!r} in {list(names)}")
        return [(a, b)]
    return list(zip(names[:-1], names[1:], strict=True))


def _cohort_step(f, stages, as_of, a, b, window, by, period, start, end, fiscal_year_start) -> pd.DataFrame:
    a_at, b_at = stage_at(f, a), stage_at(f, b)
    entrants = f.filter(reached(f, stages, a) & a_at.notnull() & in_window(a_at, start, end))
    a_at, b_at = entrants[a_at.get_name()], entrants[b_at.get_name()]
    gap = days_between(b_at, a_at)
    lag = ibis.ifelse(gap < 0, 0.0, gap)  # missing stays missing, as pandas' clip keeps NaN
    got_there = reached(entrants, stages, b)
    converted = got_there
    if window is not None:
        converted = got_there & ibis.coalesce(lag <= window.total_seconds() / 86400, False)
    # time to conversion, or to as_of for those who have not converted (yet)
    follow_up = days_until(as_of, a_at)
    duration = ibis.ifelse(got_there & lag.notnull(), lag, follow_up)
    duration = ibis.ifelse(duration < 0, 0.0, duration)

    scalars = fetch(
        entrants.aggregate(
            horizon=ibis.ifelse(got_there, lag, ibis.null("float64")).quantile(0.75),
            latest=a_at.max(),
        )
    ).iloc[0]
    if window is not None:
        horizon = window.total_seconds() / 86400
    else:
        horizon = 0.0 if pd.isna(scalars["horizon"]) else float(scalars["horizon"])

    keys = with_period(group_keys(entrants, by), a_at, period, fiscal_year_start)
    counts = _counts_and_km(entrants, keys, converted, got_there, duration, horizon)
    group_cols = list(keys)
    counts = sorted_groups(counts, group_cols)
    counts["converted"] = counts["converted"].astype("int64")
    counts["entered"] = counts["entered"].astype("int64")
    stats.add_rate(counts, "converted", "entered")
    counts["horizon_days"] = horizon
    if period:
        ends = period_end(counts["period"], period, fiscal_year_start=fiscal_year_start)
        counts["mature"] = (ends + pd.to_timedelta(horizon, unit="D") <= as_of).to_numpy()
    else:
        latest = as_of if pd.isna(scalars["latest"]) else _utc(scalars["latest"])
        counts["mature"] = bool(latest + pd.to_timedelta(horizon, unit="D") <= as_of)
    counts.insert(0, "to_stage", b)
    counts.insert(0, "from_stage", a)
    return counts[["from_stage", "to_stage", *group_cols, *COHORT_COLUMNS]]


def _counts_and_km(entrants, keys: dict, converted, event, duration, horizon: float) -> pd.DataFrame:
    """Per group: ``entered``, ``converted`` and the Kaplan-Meier share converted by ``horizon``.

    The product-limit estimate runs in the engine over the distinct durations up
    to the horizon (later ones only count as at risk): at each such time ``t``,
    ``n_t`` members are still at risk and ``d_t`` convert; the share converted
    is ``1 - prod(1 - d_t / n_t)``, summed as logarithms. With no conversion
    at all in a group it is 0, as :func:`funnelkit.stats.km_probability` says.
    """
    beyond = horizon + 1.0  # every duration past the horizon in one bucket: at risk, never a factor
    rows = entrants.mutate(
        **keys,
        _t=ibis.ifelse(duration <= horizon, duration, beyond),
        _event=event.cast("int64"),
        _converted=converted.cast("int64"),
    )
    group_cols = list(keys)
    per_time = rows.group_by([*group_cols, "_t"]).aggregate(
        _m=rows.count(), _d=rows["_event"].sum(), _c=rows["_converted"].sum()
    )
    running = ibis.cumulative_window(group_by=group_cols or None, order_by="_t")
    whole = ibis.window(group_by=group_cols or None)
    at_risk = per_time["_m"].sum().over(whole) - per_time["_m"].sum().over(running) + per_time["_m"]
    per_time = per_time.mutate(_n=at_risk)
    factor = (per_time["_n"] - per_time["_d"]).cast("float64") / per_time["_n"].cast("float64")
    counts_here = (per_time["_t"] <= horizon) & (per_time["_d"] > 0)
    aggregates = {
        "entered": per_time["_m"].sum(),
        "converted": per_time["_c"].sum(),
        "_events": per_time["_d"].sum(),
        "_log_survival": ibis.ifelse(counts_here & (factor > 0), factor.ln(), 0.0).sum(),
        "_extinct": ibis.ifelse(counts_here & (factor <= 0), 1, 0).max(),
    }
    grouped = per_time.group_by(group_cols).aggregate(**aggregates) if group_cols else per_time.aggregate(**aggregates)
    out = fetch(grouped)
    if out.empty or not group_cols:  # one row even when nobody entered, as the in-memory metric gives
        out = out.reindex(range(1)) if out.empty else out
    events = out["_events"].fillna(0)
    survival = (out["_log_survival"].fillna(0.0).astype(float)).map(math.exp)
    survival = survival.where(out["_extinct"].fillna(0) == 0, 0.0)
    out["cumulative_rate"] = (1.0 - survival).where(events > 0, 0.0).astype(float)
    out["entered"] = out["entered"].fillna(0)
    out["converted"] = out["converted"].fillna(0)
    return out[[*group_cols, "entered", "converted", "cumulative_rate"]]


def _period_step(f, stages, a, b, by, period, start, end, fiscal_year_start) -> pd.DataFrame:
    rows = []
    for stage, name in ((a, "entered"), (b, "converted")):
        at = stage_at(f, stage)
        frame = f.filter(at.notnull() & reached(f, stages, stage) & in_window(at, start, end))
        keys = with_period(group_keys(frame, by), frame[at.get_name()], period, fiscal_year_start)
        group_cols = list(keys)
        if group_cols:
            counted = fetch(frame.group_by(**keys).aggregate(**{name: frame.count()}))
            # regrouped in pandas so the groups line up exactly as the in-memory metric aligns them
            rows.append(sorted_groups(counted, group_cols).groupby(group_cols, dropna=False)[name].sum())
        else:
            rows.append(int(fetch(frame.aggregate(**{name: frame.count()}))[name].iloc[0]))
    if by or period:
        table = pd.concat(rows, axis=1).fillna(0).astype("int64").reset_index()
    else:
        table = pd.DataFrame({"entered": [int(rows[0])], "converted": [int(rows[1])]})
    entered = table["entered"]
    table["rate"] = (table["converted"] / entered.where(entered > 0)).astype(float)
    table["small_sample"] = table["entered"] < stats.SMALL_N
    table.insert(0, "to_stage", b)
    table.insert(0, "from_stage", a)
    return table


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
