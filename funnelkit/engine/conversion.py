"""Stage-to-stage conversion on the engine: counts and the Kaplan-Meier cumulative rate per group.

Per step, the engine returns one row per group (``entered``, ``converted``,
the cumulative rate) and one row of scalars (the step's 75th-percentile time,
the latest entry); Wilson intervals and maturity are worked out in Python.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import _params as params
from .. import stats
from ..errors import NotMeasurableError
from ..metrics._common import add_note, check_choice, date_origin, period_end, stage_pairs, to_timedelta
from ..metrics.conversion import BASES, CONVERSION_UNITS, _empty_step, _step_table, undated_step_reason
from ..schema import Stages, stage_column
from ..units import declare
from ._common import fetch, group_keys, in_window, reached, sorted_groups, stage_at, with_period
from .periods import days_between, days_until

if TYPE_CHECKING:
    from .dataset import EngineDataset

COHORT_COLUMNS = ["entered", "converted", "rate", "ci_low", "ci_high", "small_sample", "cumulative_rate",
                  "horizon_days", "mature"]  # fmt: skip


def conversion(
    data: EngineDataset,
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
    """:func:`funnelkit.conversion` on the engine: the same options, checks, columns, numbers and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")              # doctest: +SKIP
    >>> data.conversion(from_stage="mql", to_stage="sql")  # doctest: +SKIP
    """
    p = params.check_options(data, by=by, period=period, from_stage=from_stage, to_stage=to_stage, start=start,
                             end=end, fiscal_year_start=fiscal_year_start)  # fmt: skip
    by, period, start, end, fiscal_year_start = p.by, p.period, p.start, p.end, p.fiscal_year_start
    basis = check_choice("basis", basis, BASES)
    window = to_timedelta(window, "window")
    pairs = stage_pairs(data, p.from_stage, p.to_stage)
    funnel, stages, as_of = data.funnel_table, data.stages, data.as_of
    _require_some_dates(funnel, stages, pairs)
    parts = []
    for a, b in pairs:
        if basis == "cohort":
            parts.append(_cohort_step(funnel, stages, as_of, a, b, window, by, period, start, end, fiscal_year_start))
        else:
            parts.append(_period_step(funnel, stages, a, b, by, period, start, end, fiscal_year_start))
    return declare(pd.concat(parts, ignore_index=True), **CONVERSION_UNITS)


def overall_conversion(data: EngineDataset, **options) -> pd.DataFrame:
    """:func:`funnelkit.overall_conversion` on the engine: first stage to won, with the same options.

    Warns with :class:`~funnelkit.SmallSampleWarning` when, without ``by``
    or ``period``, the single rate rests on fewer than 20 entrants.
    """
    names = data.stages.names
    table = conversion(data, from_stage=names[0], to_stage=names[-1], **options)
    if len(table) == 1:
        stats.warn_small(int(table["entered"].iloc[0]), f"the overall {names[0]} -> {names[-1]} rate")
    return table


class _Named:
    """What the in-memory messages read of a dataset (:func:`date_origin`): its stages."""

    def __init__(self, stages: Stages):
        self.stages = stages


def _require_some_dates(f: ir.Table, stages: Stages, pairs) -> None:
    """Stop when no step has a dated entrant, with the words of :func:`funnelkit.conversion` (one query)."""
    firsts = list(dict.fromkeys(a for a, _ in pairs))
    dated = {a: (reached(f, stages, a) & stage_at(f, a).notnull()).cast("int64").sum() for a in firsts}
    row = fetch(f.aggregate(**{f"_{i}": v for i, v in enumerate(dated.values())})).fillna(0).iloc[0]
    if row.sum() > 0:
        return
    named = _Named(stages)
    origins = "; ".join(f"{a}: {date_origin(named, a)}" for a in firsts)
    raise NotMeasurableError(
        f"conversion is measured from the date each lead or deal entered a stage, and this export has no "
        f"date of entry into {' or '.join(firsts)} ({origins}). Map those date columns (a mapping file), or "
        "use fk.dropoff(data) for how many reached each stage, which needs no dates",
        missing=tuple(stage_column(a) for a in firsts),
    )


def _census(everyone: ir.Table, a: str, b: str, stages: Stages) -> dict[str, int]:
    """Of those who reached ``a``: how many, how many dated, how many with a date of their own, how many reached b."""
    a_at, b_at = stage_at(everyone, a), stage_at(everyone, b)
    own = a_at.notnull() & ((everyone["skipped_stages"] == 0) | ibis.coalesce(a_at != b_at, True))
    row = fetch(
        everyone.aggregate(
            n=everyone.count(),
            dated=a_at.notnull().cast("int64").sum(),
            own=own.cast("int64").sum(),
            reached_b=reached(everyone, stages, b).cast("int64").sum(),
        )
    ).fillna(0).iloc[0]  # fmt: skip
    return {k: int(v) for k, v in row.items()}


def _cohort_step(f, stages, as_of, a, b, window, by, period, start, end, fiscal_year_start) -> pd.DataFrame:
    everyone = f.filter(reached(f, stages, a))
    census = _census(everyone, a, b, stages)
    if not census["n"]:
        return _empty_step(a, b, by, period, f"no lead or deal reached {a}")
    if census["dated"] < census["n"] and not census["own"]:
        return _all_time_step(everyone, stages, a, b, by, period, _undated_reason(stages, census, a, b))
    a_at = stage_at(everyone, a)
    entrants = everyone.filter(a_at.notnull() & in_window(a_at, start, end))
    a_at, b_at = stage_at(entrants, a), stage_at(entrants, b)
    gap = days_between(b_at, a_at)
    lag = ibis.ifelse(gap < 0, 0.0, gap)  # missing stays missing, as pandas' clip keeps NaN
    got_there = reached(entrants, stages, b)
    # reached b by status alone: converted, but when is unknown
    unknown = got_there & lag.isnull()
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
            n=entrants.count(),
            converted=got_there.cast("int64").sum(),
        )
    ).iloc[0]
    if not scalars["n"]:
        return _empty_step(a, b, by, period, f"no lead or deal entered {a} in the dates asked for")
    if window is not None:
        horizon = window.total_seconds() / 86400
    elif pd.isna(scalars["horizon"]):  # no known step time: unknown when some converted
        horizon = np.nan if scalars["converted"] else 0.0
    else:
        horizon = float(scalars["horizon"])

    keys = with_period(group_keys(entrants, by), a_at, period, fiscal_year_start)
    km_horizon = 0.0 if np.isnan(horizon) else horizon  # every such group's cumulative rate is unknown anyway
    counts = _counts_and_km(entrants, keys, converted, got_there, duration, km_horizon, unknown)
    group_cols = list(keys)
    counts = sorted_groups(counts, group_cols)
    counts["cumulative_rate"] = counts["cumulative_rate"].where(counts["_unknown"] == 0)
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
    out = counts[["from_stage", "to_stage", *group_cols, *COHORT_COLUMNS]].copy()
    return _cohort_notes(out, counts["_unknown"].to_numpy(), census, a, b, window)


def _cohort_notes(out, unknown, census, a, b, window) -> pd.DataFrame:
    """Say on a step's cohorts who they leave out (the notes of :func:`funnelkit.conversion`)."""
    if unknown.any():
        within = "; within the window they count as not converted" if window is not None else ""
        add_note(
            out,
            f"{int(unknown.sum()):,} reached {b} with no {b} date: when they converted is unknown, "
            f"so their cohort has no cumulative rate{within}",
            unknown > 0,
        )
    if census["dated"] < census["n"]:
        n, x = census["n"], census["reached_b"]
        add_note(
            out,
            f"{n - census['dated']:,} of {n:,} that reached {a} have no {a} date and are in no cohort; "
            f"over all time {x:,} of {n:,} ({x / n:.0%}) reached {b}",
        )
    return out


def _undated_reason(stages: Stages, census: dict, a: str, b: str) -> str:
    """Why a step has no cohorts: its entrants have no date of entry of their own."""
    return undated_step_reason(census["n"], census["dated"], a, date_origin(_Named(stages), a))


def _all_time_step(everyone, stages, a, b, by, period, reason) -> pd.DataFrame:
    """One row per ``by`` group over all time: every entrant of ``a``, dated or not."""
    keys = group_keys(everyone, by)
    sums = {"entered": everyone.count(), "converted": reached(everyone, stages, b).cast("int64").sum()}
    if by:
        counts = sorted_groups(fetch(everyone.group_by(**keys).aggregate(**sums)), by)
        counts = counts.groupby(by, dropna=False, sort=True)[["entered", "converted"]].sum().reset_index()
    else:
        counts = fetch(everyone.aggregate(**sums)).fillna(0)
    return _step_table(counts.astype({"entered": "int64", "converted": "int64"}), a, b, by, period, reason)


def _counts_and_km(entrants, keys: dict, converted, event, duration, horizon: float, unknown) -> pd.DataFrame:
    """Per group: ``entered``, ``converted``, ``_unknown`` (converted at an unknown time) and the
    Kaplan-Meier share converted by ``horizon``.

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
        _unknown_flag=unknown.cast("int64"),
    )
    group_cols = list(keys)
    per_time = rows.group_by([*group_cols, "_t"]).aggregate(
        _m=rows.count(), _d=rows["_event"].sum(), _c=rows["_converted"].sum(), _u=rows["_unknown_flag"].sum()
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
        "_unknown": per_time["_u"].sum(),
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
    out["_unknown"] = out["_unknown"].fillna(0)
    return out[[*group_cols, "entered", "converted", "_unknown", "cumulative_rate"]]


def _period_step(f, stages, a, b, by, period, start, end, fiscal_year_start) -> pd.DataFrame:
    rows = []
    undated = fetch(
        f.aggregate(**{
            f"_{i}": (reached(f, stages, stage) & stage_at(f, stage).isnull()).cast("int64").sum()
            for i, stage in enumerate((a, b))
        })
    ).fillna(0).iloc[0]  # fmt: skip
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
    if not len(table):
        empty = {**{c: [pd.NA] for c in by}, **({"period": [pd.NA]} if period else {})}
        table = pd.DataFrame({**empty, "entered": [0], "converted": [0], "rate": [np.nan], "small_sample": [True]})
        asked = " in the dates asked for" if start is not None or end is not None else ""
        table = add_note(table, f"no dated entry into {a} or {b}{asked}")
        table.insert(0, "to_stage", b)
        table.insert(0, "from_stage", a)
    for stage, n in zip((a, b), undated.tolist(), strict=True):
        if n:
            add_note(table, f"{int(n):,} reached {stage} with no {stage} date and are counted in no period")
    return table


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
