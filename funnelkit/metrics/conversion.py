"""Stage-to-stage conversion, overall conversion and where the funnel loses people."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError
from ..schema import stage_column
from ..units import Unit, declare
from ._common import (
    add_note,
    check_choice,
    core,
    counted,
    date_origin,
    date_window,
    days_between,
    group_keys,
    own_dates,
    period_end,
    period_labels,
    stage_pairs,
    to_timedelta,
)
from ._engines import runs_on_engines
from ._money import currencies

BASES = ("cohort", "period")

#: Units of the columns of :func:`conversion` (and :func:`overall_conversion`).
CONVERSION_UNITS = dict(entered=Unit.COUNT, converted=Unit.COUNT, rate=Unit.RATE, ci_low=Unit.RATE, ci_high=Unit.RATE,
                        cumulative_rate=Unit.RATE, horizon_days=Unit.DAYS)  # fmt: skip
#: The counts of :func:`dropoff`, per group and stage.
DROPOFF_COUNTS = ("reached", "stopped", "lost", "disqualified", "still_open")
#: Units of the columns of :func:`dropoff`.
DROPOFF_UNITS = dict(reached=Unit.COUNT, stopped=Unit.COUNT, lost=Unit.COUNT, disqualified=Unit.COUNT,
                     still_open=Unit.COUNT, stopped_share=Unit.RATE, lost_value=Unit.MONEY)  # fmt: skip


@runs_on_engines
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

    One definition, shared with :func:`dropoff` and :func:`funnelkit.plan`:
    the rate of a step ``a -> b`` is the share of the entities that reached
    ``a`` which went on to reach ``b``. Cohorts (``period``,
    ``start``/``end``) and ``window`` need the date each entity entered
    ``a``; when every entrant has one, a step's ``entered`` over all time (no
    ``period``, ``start``, ``end``) is dropoff's ``reached`` of ``a``. When
    some entities reached ``a`` with no date (by their status alone, or
    because the export records no date for that stage):

    * if others have a date of their own, the cohorts count the dated ones and
      the ``note`` of the step says how many are left out and gives the
      all-time rate;
    * if none has a date of its own (every date there is was borrowed from the
      next stage, so only those who moved on have one: a cohort rate would
      read 100%), the step is one row over all time (``period`` empty), with a
      ``note`` saying why.

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
        ``data.as_of``; NaN when the time of some conversions is unknown),
        ``horizon_days`` (the time the cumulative rate looks
        ahead: ``window``, else the 75th percentile of observed step times,
        the "stall line")
        and ``mature`` (the cohort's period ended at least ``horizon_days``
        before ``data.as_of``: its plain rate is final; False when that is
        unknown). ``note`` is added when some step could not be measured in
        full: it says why on that step's rows.

    Raises
    ------
    NotMeasurableError
        When no step asked for has a single dated entrant (an export without
        created or stage dates): :func:`dropoff` counts stages without dates.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.conversion(data, from_stage="mql", to_stage="sql")
    >>> print(table[["entered", "converted", "rate"]].to_string(index=False))
     entered  converted  rate
           4          3  0.75
    """
    p = params.check(data, by=by, period=period, from_stage=from_stage, to_stage=to_stage, start=start, end=end,
                     fiscal_year_start=fiscal_year_start)  # fmt: skip
    by, period, start, end, fiscal_year_start = p.by, p.period, p.start, p.end, p.fiscal_year_start
    basis = check_choice("basis", basis, BASES)
    window = to_timedelta(window, "window")
    pairs = stage_pairs(data, p.from_stage, p.to_stage)
    _require_some_dates(data, pairs)
    parts = []
    for a, b in pairs:
        if basis == "cohort":
            parts.append(_cohort_step(data, a, b, window, by, period, start, end, fiscal_year_start))
        else:
            parts.append(_period_step(data, a, b, by, period, start, end, fiscal_year_start))
    return declare(pd.concat(parts, ignore_index=True), **CONVERSION_UNITS)


@runs_on_engines
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
    names = params.dataset(data).stages.names
    table = conversion(data, from_stage=names[0], to_stage=names[-1], **options)
    if len(table) == 1:
        stats.warn_small(int(table["entered"].iloc[0]), f"the overall {names[0]} -> {names[-1]} rate")
    return table


def _require_some_dates(data: Dataset, pairs) -> None:
    """Stop when no step has a dated entrant: nothing to put in a cohort, nothing to window."""
    f = data.funnel
    for a, _ in pairs:
        if (data.reached(a) & f[stage_column(a)].notna()).any():
            return
    stages = list(dict.fromkeys(a for a, _ in pairs))
    origins = "; ".join(f"{a}: {date_origin(data, a)}" for a in stages)
    raise NotMeasurableError(
        f"conversion is measured from the date each lead or deal entered a stage, and this export has no "
        f"date of entry into {' or '.join(stages)} ({origins}). Map those date columns (a mapping file), or "
        "use fk.dropoff(data) for how many reached each stage, which needs no dates",
        missing=tuple(stage_column(a) for a in stages),
    )


def _reached(data: Dataset, a: str, b: str, by) -> tuple[pd.DataFrame, np.ndarray]:
    """Every entity that reached ``a`` (its two stage times, ``skipped_stages``, ``by``) and
    whether each reached ``b``."""
    f = core(data, by, columns=[stage_column(a), stage_column(b), fn.SKIPPED_STAGES])
    reached_a = data.reached(a).to_numpy()
    return f[reached_a], data.reached(b).to_numpy()[reached_a]


def _cohort_step(data, a, b, window, by, period, start, end, fiscal_year_start) -> pd.DataFrame:
    everyone, reached_all = _reached(data, a, b, by)
    dated = everyone[stage_column(a)].notna().to_numpy()
    if not len(everyone):
        return _empty_step(a, b, by, period, f"no lead or deal reached {a}")
    if not dated.all() and not own_dates(everyone[dated], a, b).any():
        return _all_time_step(everyone, reached_all, a, b, by, period, _undated_reason(data, everyone, a, b))
    f = date_window(everyone[dated], stage_column(a), start, end)
    if not len(f):
        return _empty_step(a, b, by, period, f"no lead or deal entered {a} in the dates asked for")
    a_at, b_at = f[stage_column(a)], f[stage_column(b)]
    lag = days_between(b_at, a_at).clip(lower=0)
    reached = data.reached(b)[f.index].to_numpy()
    # reached b by status alone: converted, but when is unknown
    unknown_time = reached & lag.isna().to_numpy()
    converted = reached
    if window is not None:
        converted = reached & (lag <= window.total_seconds() / 86400).to_numpy()
    horizon = window.total_seconds() / 86400 if window is not None else _horizon(lag[reached], reached.any())
    # time to conversion, or to as_of for those who have not converted (yet)
    follow_up = days_between(pd.Series(data.as_of, index=f.index), a_at)
    duration = np.where(reached & lag.notna().to_numpy(), lag, follow_up)
    table = pd.DataFrame(
        {"entered": 1, "converted": converted, "_duration": duration, "_event": reached, "_unknown": unknown_time},
        index=f.index,
    )
    keys = group_keys(f, by)
    if period:
        keys["period"] = period_labels(a_at, period, fiscal_year_start=fiscal_year_start)
    group_cols = list(keys.columns)
    table = pd.concat([keys, table], axis=1)
    if group_cols:
        grouped = table.groupby(group_cols, dropna=False, sort=True)
        counts = grouped[["entered", "converted", "_unknown"]].sum().reset_index()
        cumulative = grouped.apply(
            lambda g: stats.km_probability(g["_duration"], g["_event"], horizon),
            include_groups=False,
        )
        counts["cumulative_rate"] = cumulative.to_numpy()
    else:
        counts = pd.DataFrame(
            {"entered": [len(table)], "converted": [int(table["converted"].sum())],
             "_unknown": [int(table["_unknown"].sum())]}
        )  # fmt: skip
        counts["cumulative_rate"] = stats.km_probability(table["_duration"], table["_event"], horizon)
    counts["cumulative_rate"] = counts["cumulative_rate"].where(counts["_unknown"] == 0)
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
    return _cohort_notes(counts[ordered].copy(), counts["_unknown"].to_numpy(), dated, reached_all, a, b, window)


def _cohort_notes(out, unknown, dated, reached_all, a, b, window) -> pd.DataFrame:
    """Say on a step's cohorts who they leave out: undated entrants, conversions of unknown time."""
    if unknown.any():
        within = "; within the window they count as not converted" if window is not None else ""
        add_note(
            out,
            f"{int(unknown.sum()):,} reached {b} with no {b} date: when they converted is unknown, "
            f"so their cohort has no cumulative rate{within}",
            unknown > 0,
        )
    if not dated.all():
        n, x = len(dated), int(reached_all.sum())
        add_note(
            out,
            f"{int((~dated).sum()):,} of {n:,} that reached {a} have no {a} date and are in no cohort; "
            f"over all time {x:,} of {n:,} ({x / n:.0%}) reached {b}",
        )
    return out


def _undated_reason(data: Dataset, everyone: pd.DataFrame, a: str, b: str) -> str:
    """Why a step has no cohorts: its entrants have no date of entry of their own."""
    borrowed = int(everyone[stage_column(a)].notna().sum())
    return undated_step_reason(len(everyone), borrowed, a, date_origin(data, a))


def undated_step_reason(n: int, borrowed: int, a: str, origin: str) -> str:
    """The note of a step counted over all time: ``n`` reached ``a``, ``borrowed`` of them with a later
    stage's date; ``origin`` says where cohorts' dates come from (:func:`~funnelkit.metrics._common.date_origin`).
    One text for both engines."""
    if borrowed:
        why = (
            f"{n - borrowed:,} of {n:,} that reached {a} have no {a} date, and the dates of the other "
            f"{borrowed:,} are borrowed from a later stage, so only those who moved on have one (a rate per "
            f"cohort would read 100%)"
        )
    else:
        why = f"none of the {n:,} that reached {a} has a {a} date"
    return (
        f"not measurable per period of entry: {why}; this row counts every entrant over all time, as "
        f"dropoff does (period, start, end and window not applied). Cohorts need {origin}"
    )


def _all_time_step(everyone, reached_b, a, b, by, period, reason) -> pd.DataFrame:
    """One row per ``by`` group over all time: every entrant of ``a``, dated or not."""
    keys = group_keys(everyone, by)
    table = keys.assign(entered=1, converted=reached_b.astype("int64"))
    if by:
        counts = table.groupby(by, dropna=False, sort=True)[["entered", "converted"]].sum().reset_index()
    else:
        counts = table[["entered", "converted"]].sum().to_frame().T
    return _step_table(counts.astype({"entered": "int64", "converted": "int64"}), a, b, by, period, reason)


def _empty_step(a, b, by, period, reason) -> pd.DataFrame:
    counts = pd.DataFrame({**{c: [pd.NA] for c in by}, "entered": [0], "converted": [0]})
    return _step_table(counts, a, b, by, period, reason)


def _step_table(counts, a, b, by, period, reason) -> pd.DataFrame:
    """A step's rows that are not cohorts: counts with their rate, no cumulative rate, and why."""
    stats.add_rate(counts, "converted", "entered")
    if period:
        counts.insert(len(by), "period", pd.Series(pd.NA, index=counts.index, dtype="str"))
    counts["cumulative_rate"] = np.nan
    counts["horizon_days"] = np.nan
    counts["mature"] = False
    counts.insert(0, "to_stage", b)
    counts.insert(0, "from_stage", a)
    return add_note(counts, reason)


def _horizon(lags: pd.Series, any_converted: bool = False) -> float:
    """75th percentile of the known step times; NaN when every conversion's time is unknown."""
    lags = lags.dropna()
    if len(lags):
        return float(np.quantile(lags, 0.75))
    return np.nan if any_converted else 0.0


def _period_step(data, a, b, by, period, start, end, fiscal_year_start) -> pd.DataFrame:
    f = core(data, by)
    rows = []
    undated = {}
    for stage, name in ((a, "entered"), (b, "converted")):
        at = f[stage_column(stage)]
        undated[stage] = int((data.reached(stage) & at.isna()).sum())
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
    if not len(table):
        empty = {**{c: [pd.NA] for c in by}, **({"period": [pd.NA]} if period else {})}
        table = pd.DataFrame({**empty, "entered": [0], "converted": [0], "rate": [np.nan], "small_sample": [True]})
        asked = " in the dates asked for" if start is not None or end is not None else ""
        table = add_note(table, f"no dated entry into {a} or {b}{asked}")
        table.insert(0, "to_stage", b)
        table.insert(0, "from_stage", a)
    for stage, n in undated.items():
        if n:
            add_note(table, f"{n:,} reached {stage} with no {stage} date and are counted in no period")
    return table


@runs_on_engines
def dropoff(data: Dataset, *, by=None) -> pd.DataFrame:
    """Where the funnel loses people: per stage, who stopped there and why.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``stage``, ``reached``, ``stopped``
        (furthest stage reached is this one), ``lost`` (closed lost),
        ``disqualified``, ``still_open`` (neither: may still move on),
        ``stopped_share`` (stopped / reached), ``lost_value`` (amount of the
        deals lost at this stage; lost deals without an amount are left out
        and counted in ``note``, and where none has one the value is missing,
        never 0; missing too when the data's amounts are in several
        currencies, which are never added). ``reached``
        needs no dates: a stage reached by status alone counts, so the share of
        one stage's ``reached`` that reached the next is the all-time rate of
        :func:`conversion` for that step.

    Raises
    ------
    NotMeasurableError
        When the data holds no leads and no deals.
    """
    by = params.check(data, by=by).by
    f = core(data, by)
    if not len(f):
        raise NotMeasurableError("the data holds no leads and no deals: there is no funnel to count")
    keys = group_keys(f, by)
    # a status meaning disqualified counts as much as a disqualified date (dated or not)
    disqualified = f[fn.IS_DISQUALIFIED].fillna(False) if fn.IS_DISQUALIFIED in f else pd.Series(False, index=f.index)
    parts = []
    for i, stage in enumerate(data.stages.names):
        reached = data.reached(stage)
        stopped = reached & (f[fn.FURTHEST_INDEX] == i)
        lost = stopped & f[fn.IS_LOST]
        disq = stopped & disqualified & ~f[fn.IS_LOST]
        table = keys.assign(
            reached=reached,
            stopped=stopped,
            lost=lost,
            disqualified=disq,
            still_open=stopped & ~lost & ~disq & ~f[fn.IS_WON],
            lost_value=f[fn.AMOUNT].where(lost, 0.0).fillna(0.0),
            unpriced_lost=lost & f[fn.AMOUNT].isna(),
        )
        summed = table.groupby(by, dropna=False).sum().reset_index() if by else table.sum().to_frame().T
        summed.insert(len(by), "stage", stage)
        parts.append(summed)
    return dropoff_table(pd.concat(parts, ignore_index=True), currency_count=len(currencies(f)))


def dropoff_table(counts: pd.DataFrame, *, currency_count: int) -> pd.DataFrame:
    """The table of :func:`dropoff` from its counts per group and stage (as each engine counts them), with
    ``unpriced_lost``, the lost deals without an amount: the lost value leaves them out and says so, and is
    missing where no lost deal has an amount, or where the amounts are in several currencies (``currency_count``)."""
    out = counts.astype({c: "int64" for c in (*DROPOFF_COUNTS, "unpriced_lost")})
    unpriced = out.pop("unpriced_lost")
    unknown_value = (out["lost"] > 0) & (unpriced == out["lost"])
    out["lost_value"] = out["lost_value"].astype(float).where(~unknown_value) if currency_count <= 1 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        out["stopped_share"] = np.where(out["reached"] > 0, out["stopped"] / out["reached"], np.nan)
    for n in sorted(set(unpriced[unpriced > 0])):  # one note per distinct count, not per row
        add_note(out, f"{counted(int(n), 'lost deal')} without an amount, not in lost_value", unpriced == n)
    return declare(out, **DROPOFF_UNITS)
