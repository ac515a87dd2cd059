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
from .periods import days_between, days_until, period_key, period_label, span_to_sort, timestamp_literal

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
    facts = _step_facts(funnel, stages, pairs, start, end, cohorts=basis == "cohort", window=window)
    _require_some_dates(stages, pairs, facts)
    if basis == "cohort":
        parts = _cohort_steps(funnel, stages, as_of, pairs, facts, window, by, period, start, end, fiscal_year_start)
    else:
        parts = [_period_step(funnel, stages, a, b, by, period, start, end, fiscal_year_start) for a, b in pairs]
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


def _number(condition: ir.BooleanValue) -> ir.IntegerValue:
    return condition.cast("int64").sum()


def _step_facts(f: ir.Table, stages: Stages, pairs, start, end, *, cohorts: bool, window) -> list[dict]:
    """What every step needs to know before its groups are counted.

    Per step ``a -> b``, of those who reached ``a``: how many (``n``), how many
    dated, how many with a date of their own (``own``; asked only where some
    are undated), how many reached ``b``; for cohorts also of the entrants
    (dated, in the dates asked for): how many, how many reached ``b``, the
    latest entry and, without a ``window``, the 75th percentile of their time
    to ``b`` (``horizon``).

    Who reached a stage depends only on a row's entry and furthest stage, so
    one query counts rows per pair of the two (a few dozen groups) with each
    stage's dated entries and latest entry, and the steps' counts are sums of
    those groups; the horizons are a second, grouped query.
    """
    census = _census(f, stages, pairs, start, end)
    facts = [_census_fact(census, stages, a, b) for a, b in pairs]
    partly_dated = [i for i, fact in enumerate(facts) if fact["dated"] < fact["n"]]
    if partly_dated:
        _add_own_dates(f, stages, pairs, facts, partly_dated)
    if cohorts:
        timed = [i for i, fact in enumerate(facts) if fact["converted"]] if window is None else []
        horizons = _horizons(f, stages, pairs, timed, start, end) if timed else {}
        for i, fact in enumerate(facts):
            fact["horizon"] = horizons.get(i, np.nan)
    return facts


def _census(f: ir.Table, stages: Stages, pairs, start, end) -> pd.DataFrame:
    """Rows per entry and furthest stage, with each step's first stage's dated entries, entrants (dated and in
    the dates asked for) and latest entrant."""
    measures = {"_rows": f.count()}
    for a in dict.fromkeys(a for a, _ in pairs):
        k, at = stages.index(a), stage_at(f, a)
        asked = in_window(at, start, end) if start is not None or end is not None else None
        measures |= {
            f"_dated_{k}": at.count(),
            f"_entrants_{k}": at.count(where=asked),
            f"_latest_{k}": at.max(where=asked),
        }
    return fetch(f.group_by(["entry_index", "furthest_index"]).aggregate(**measures))


def _census_fact(census: pd.DataFrame, stages: Stages, a: str, b: str) -> dict:
    """A step's counts (:func:`_step_facts`) from the census groups that reached ``a``, and ``b``."""
    i, j = stages.index(a), stages.index(b)
    entry, furthest = census["entry_index"], census["furthest_index"]
    reached_a = ((entry <= i) & (furthest >= i)).fillna(False).astype(bool)
    reached_b = reached_a & ((entry <= j) & (furthest >= j)).fillna(False).astype(bool)
    latest = census.loc[reached_a, f"_latest_{i}"].dropna()
    return {
        "n": int(census.loc[reached_a, "_rows"].sum()),
        "dated": int(census.loc[reached_a, f"_dated_{i}"].sum()),
        "own": 0,
        "reached_b": int(census.loc[reached_b, "_rows"].sum()),
        "entrants": int(census.loc[reached_a, f"_entrants_{i}"].sum()),
        "converted": int(census.loc[reached_b, f"_entrants_{i}"].sum()),
        "latest": latest.max() if len(latest) else pd.NaT,
    }


def _add_own_dates(f: ir.Table, stages: Stages, pairs, facts: list[dict], steps: list[int]) -> None:
    """How many of those who reached a step's first stage entered it on a date of their own: dated, and not
    on the same moment as the next stage when they skipped stages (that date was filled in from a later one)."""
    measures = {}
    for i in steps:
        a, b = pairs[i]
        a_at, b_at = stage_at(f, a), stage_at(f, b)
        own = a_at.notnull() & ((f["skipped_stages"] == 0) | ibis.coalesce(a_at != b_at, True))
        measures[f"own_{i}"] = _number(reached(f, stages, a) & own)
    row = fetch(f.aggregate(**measures)).iloc[0]
    for i in steps:
        facts[i]["own"] = 0 if pd.isna(row[f"own_{i}"]) else int(row[f"own_{i}"])


def _horizons(f: ir.Table, stages: Stages, pairs, steps: list[int], start, end) -> dict[int, float]:
    """Per step: the 75th percentile of the converted entrants' days from ``a`` to ``b`` (negative as 0).

    Taken over the times in the unit the engine sorts fastest (:func:`span_to_sort`) and turned into
    days once, not per row: the same days as over days (to the last digit where the percentile falls
    between two times, which it interpolates).
    """
    times, to_days = [], float
    for i in steps:
        a, b = pairs[i]
        a_at = stage_at(f, a)
        converted = f.filter(
            reached(f, stages, a) & reached(f, stages, b) & a_at.notnull() & in_window(a_at, start, end)
        )
        span, to_days = span_to_sort(stage_at(converted, b), stage_at(converted, a))
        times.append(converted.select(_step=ibis.literal(i, "int64"), _span=ibis.ifelse(span < 0, 0, span)))
    times = _union(times)
    found = fetch(times.group_by("_step").aggregate(_horizon=times["_span"].quantile(0.75)))
    return {
        int(step): np.nan if pd.isna(value) else to_days(float(value))
        for step, value in zip(found["_step"], found["_horizon"], strict=True)
    }


def _require_some_dates(stages: Stages, pairs, facts: list[dict]) -> None:
    """Stop when no step has a dated entrant, with the words of :func:`funnelkit.conversion`."""
    if any(fact["dated"] for fact in facts):
        return
    firsts = list(dict.fromkeys(a for a, _ in pairs))
    named = _Named(stages)
    origins = "; ".join(f"{a}: {date_origin(named, a)}" for a in firsts)
    raise NotMeasurableError(
        f"conversion is measured from the date each lead or deal entered a stage, and this export has no "
        f"date of entry into {' or '.join(firsts)} ({origins}). Map those date columns (a mapping file), or "
        "use fk.dropoff(data) for how many reached each stage, which needs no dates",
        missing=tuple(stage_column(a) for a in firsts),
    )


def _horizon(fact: dict, window) -> float:
    """How long a step's cohorts are followed: the window, else the step's 75th-percentile time to convert."""
    if window is not None:
        return window.total_seconds() / 86400
    if pd.isna(fact["horizon"]):  # no known step time: unknown when some converted
        return np.nan if fact["converted"] else 0.0
    return float(fact["horizon"])


def _cohort_steps(f, stages, as_of, pairs, facts, window, by, period, start, end, fiscal_year_start) -> list:
    """Every step's cohort table; the groups of all measurable steps are counted in one query."""
    parts, horizons = {}, {}
    for i, ((a, b), fact) in enumerate(zip(pairs, facts, strict=True)):
        if not fact["n"]:
            parts[i] = _empty_step(a, b, by, period, f"no lead or deal reached {a}")
        elif fact["dated"] < fact["n"] and not fact["own"]:
            everyone = f.filter(reached(f, stages, a))
            parts[i] = _all_time_step(everyone, stages, a, b, by, period, _undated_reason(stages, fact, a, b))
        elif not fact["entrants"]:
            parts[i] = _empty_step(a, b, by, period, f"no lead or deal entered {a} in the dates asked for")
        else:
            horizons[i] = _horizon(fact, window)
    if horizons:
        entrants = {i: (*pairs[i], h) for i, h in horizons.items()}
        # with periods, only the latest periods can hold someone censored by the horizon: their rows (those
        # from each step's cutoff on, whole periods) are counted per time for Kaplan-Meier, the others per group
        narrow = bool(period) and as_of is not None
        cutoffs = {i: _censoring_cutoff(as_of, h, period) for i, h in horizons.items()} if narrow else None
        rows = _entrant_rows(f, stages, as_of, entrants, window, by, period, start, end, fiscal_year_start,
                             cutoffs=cutoffs)  # fmt: skip
        counts = _counts_and_km(rows, by, period, fiscal_year_start, narrow=narrow)
        group_cols = [*by, *(["period"] if period else [])]
        for i, horizon in horizons.items():
            step = counts[counts["_step"] == i].drop(columns="_step")
            parts[i] = _cohort_table(step, group_cols, as_of, *pairs[i], facts[i], horizon, window, period,
                                     fiscal_year_start)  # fmt: skip
    return [parts[i] for i in range(len(pairs))]


#: what :func:`_step_rows` gives each entrant besides its step and groups
KM_COLUMNS = ("_t", "_within", "_event", "_converted", "_unknown_flag")


def _union(tables: list[ir.Table]) -> ir.Table:
    return tables[0].union(*tables[1:]) if len(tables) > 1 else tables[0]


#: the longest period of each kind, in days (a fiscal quarter spans at most 92)
_LONGEST_PERIOD = {"W": 7, "M": 31, "Q": 92, "Y": 366}


def _censoring_cutoff(as_of: pd.Timestamp, horizon: float, period: str) -> pd.Timestamp:
    """A moment before the start of every period that can hold an entrant censored by the horizon.

    Censored entrants entered at most ``horizon`` days before ``as_of``; their
    period began at most one period's length earlier (a day more for rounding).
    Periods that began before the cutoff are read whole or not at all.
    """
    km_horizon = 0.0 if np.isnan(horizon) else horizon
    return as_of - pd.Timedelta(days=km_horizon + _LONGEST_PERIOD[period] + 1)


def _entrant_rows(f, stages, as_of, steps: dict, window, by, period, start, end, fiscal_year_start, *,
                  cutoffs: dict | None) -> ir.Table:  # fmt: skip
    """One row per entrant of each step ``i`` in ``steps`` (``i: (a, b, horizon)``): its step, groups, time to
    conversion or to as_of (``_t``; every time past the step's horizon in one bucket), and whether it converted
    (in the window). With ``cutoffs`` (step: moment), each row carries its step's (``_since``).

    Each step reads its own stage columns; what follows is one pipeline over all steps' entrants (a step's
    horizon is a column of its rows), so the query grows by a few lines per step, not by a copy of it all.
    """
    per_step = []
    for i, (a, b, horizon) in steps.items():
        a_at = stage_at(f, a)
        entrants = f.filter(reached(f, stages, a) & a_at.notnull() & in_window(a_at, start, end))
        a_at = stage_at(entrants, a)
        keys = group_keys(entrants, by)
        if period:  # grouped by a number; each group's label is read from its first entry (see _counts_and_km)
            keys |= {"_period_key": period_key(a_at, period, fiscal_year_start=fiscal_year_start), "_first_at": a_at}
        if cutoffs is not None:
            keys["_since"] = timestamp_literal(cutoffs[i], rounding="ceil")
        per_step.append(entrants.select(
            _step=ibis.literal(i, "int64"),
            **keys,
            # every step's cumulative rate is unknown anyway where it has no horizon
            _horizon=ibis.literal(0.0 if np.isnan(horizon) else float(horizon), "float64"),
            _gap=days_between(stage_at(entrants, b), a_at),
            _follow_up=days_until(as_of, a_at),
            _got_there=reached(entrants, stages, b),
        ))  # fmt: skip
    rows = _union(per_step)
    groups = [c for c in rows.columns if c not in ("_horizon", "_gap", "_follow_up", "_got_there")]
    # built in stages, each reading the last one's columns: an expression written once is computed once
    # (Ibis would repeat it at every use, a dozen times a row)
    rows = rows.select(*groups, "_horizon", "_follow_up", "_got_there", _lag=_clipped(rows["_gap"]))
    # time to conversion, or to as_of for those who have not converted (yet)
    known = rows["_got_there"] & rows["_lag"].notnull()
    rows = rows.select(
        *groups, "_horizon", "_got_there", "_lag",
        _duration=ibis.ifelse(known, rows["_lag"], _clipped(rows["_follow_up"])),
    )  # fmt: skip
    got_there, lag, duration, horizon = rows["_got_there"], rows["_lag"], rows["_duration"], rows["_horizon"]
    converted = got_there
    if window is not None:
        converted = got_there & ibis.coalesce(lag <= window.total_seconds() / 86400, False)
    within = duration <= horizon
    return rows.select(
        *groups,
        # every duration past the horizon in one bucket: at risk, never a factor
        _t=ibis.ifelse(within, duration, horizon + 1.0).cast("float64"),
        _within=within.cast("int64"),
        _event=got_there.cast("int64"),
        _converted=converted.cast("int64"),
        # reached b by status alone: converted, but when is unknown
        _unknown_flag=(got_there & lag.isnull()).cast("int64"),
    )


def _clipped(days: ir.FloatingValue) -> ir.FloatingValue:
    """Negative days as 0; a missing value stays missing, as pandas' clip keeps NaN."""
    return ibis.ifelse(days < 0, 0.0, days)


def _counts_and_km(rows: ir.Table, by: list[str], period, fiscal_year_start: int, *, narrow: bool):
    """Per step and group: ``entered``, ``converted``, ``_unknown`` (converted at an unknown time) and the
    Kaplan-Meier share converted by the step's horizon.

    The product-limit estimate is ``1 - prod(1 - d_t / n_t)`` over the distinct
    times ``t`` up to the horizon, where ``n_t`` members are still at risk and
    ``d_t`` convert (later times only count as at risk); with no conversion at
    all in a group it is 0, as :func:`funnelkit.stats.km_probability` says.
    In a group where nobody is censored by the horizon (every cohort but those
    still entering lately) the product telescopes, ``n_t - d_t`` being the next
    ``n``: it is the share converted by the horizon, a plain count. One pass
    counts the members of every group per distinct time (the groups' totals
    are sums of those), and the product sums logarithms over them; with
    periods (``narrow``), only the latest periods can hold someone censored,
    and the rows before their step's cutoff (``_since``; the periods from it on
    are read whole) share one time per group: counted, never timed.
    """
    groups = ["_step", *by, *(["_period_key"] if period else [])]
    counts = {
        "entered": rows.count(),
        "converted": rows["_converted"].sum(),
        "_unknown": rows["_unknown_flag"].sum(),
        "_events": rows["_event"].sum(),
        "_events_by_horizon": (rows["_event"] * rows["_within"]).sum(),
        **({"_first_at": rows["_first_at"].min()} if period else {}),
    }
    times = {"_t": rows["_t"], "_within": rows["_within"]}
    if narrow:
        recent = rows["_first_at"] >= rows["_since"]
        times = {name: ibis.ifelse(recent, value, -1) for name, value in times.items()}
    per_time = rows.group_by(*groups, **times).aggregate(**counts)
    totals = per_time.group_by(groups).aggregate(**{
        name: per_time[name].min() if name == "_first_at" else per_time[name].sum() for name in counts
    })  # fmt: skip
    timed = per_time.filter(per_time["_within"] >= 0)
    km = _log_survival(timed, groups)
    joined = totals.left_join(km, [totals[c].identical_to(km[c]) for c in groups]).select(
        *totals.columns, "_log_survival", "_extinct", "_censored"
    )
    if period:  # one label per group, not per row
        joined = joined.mutate(period=period_label(joined["_first_at"], period, fiscal_year_start=fiscal_year_start))
    out = fetch(joined)
    through_times = out["_censored"].fillna(0) > 0
    survival = out["_log_survival"].fillna(0.0).astype(float).map(math.exp)
    survival = survival.where(out["_extinct"].fillna(0) == 0, 0.0)
    converted_share = (1.0 - survival).where(through_times, out["_events_by_horizon"] / out["entered"])
    out["cumulative_rate"] = converted_share.where(out["_events"].fillna(0) > 0, 0.0).astype(float)
    return out[["_step", *by, *(["period"] if period else []), "entered", "converted", "_unknown", "cumulative_rate"]]


def _log_survival(per_time: ir.Table, groups: list[str]) -> ir.Table:
    """Per group, from its members counted per time ``_t`` (``entered``, of whom ``_events`` converted;
    ``_within`` the horizon or not): the sum of ``log(1 - d_t / n_t)`` over its distinct times up to the horizon,
    ``_extinct`` when some ``d_t = n_t`` (survival 0), and how many were censored by the horizon (``_censored``)."""
    # at risk at t: every member whose time is t or later (one running sum, latest time first)
    from_latest = ibis.cumulative_window(group_by=groups, order_by=ibis.desc("_t"))
    per_time = per_time.mutate(_n=per_time["entered"].sum().over(from_latest))
    factor = (per_time["_n"] - per_time["_events"]).cast("float64") / per_time["_n"].cast("float64")
    counts_here = (per_time["_within"] == 1) & (per_time["_events"] > 0)
    return per_time.group_by(groups).aggregate(
        _log_survival=ibis.ifelse(counts_here & (factor > 0), factor.ln(), 0.0).sum(),
        _extinct=ibis.ifelse(counts_here & (factor <= 0), 1, 0).max(),
        _censored=ibis.ifelse(per_time["_within"] == 1, per_time["entered"] - per_time["_events"], 0).sum(),
    )


def _cohort_table(counts, group_cols, as_of, a, b, fact, horizon, window, period, fiscal_year_start) -> pd.DataFrame:
    """A step's cohort table from its groups' counts: Wilson intervals, horizon, maturity and notes."""
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
        latest = as_of if pd.isna(fact["latest"]) else _utc(fact["latest"])
        counts["mature"] = bool(latest + pd.to_timedelta(horizon, unit="D") <= as_of)
    counts.insert(0, "to_stage", b)
    counts.insert(0, "from_stage", a)
    out = counts[["from_stage", "to_stage", *group_cols, *COHORT_COLUMNS]].copy()
    return _cohort_notes(out, counts["_unknown"].to_numpy(), fact, a, b, window)


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
