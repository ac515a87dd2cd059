"""Time to close as a distribution, with open deals censored rather than dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError
from ..i18n import N_
from ..schema import stage_column
from ..units import Unit, declare
from ._common import (
    add_note,
    check_choice,
    core,
    counted,
    days_between,
    group_keys,
    own_dates,
    period_labels,
)
from ._engines import runs_on_engines

#: Units of the columns of :func:`time_to_close`, :func:`km_curve` and :func:`stage_durations`.
DURATION_UNITS = dict(n=Unit.COUNT, n_closed=Unit.COUNT, n_censored=Unit.COUNT, median=Unit.DAYS, q25=Unit.DAYS,
                      q75=Unit.DAYS, closed_median=Unit.DAYS, days=Unit.DAYS, survival=Unit.RATE,
                      backward_moves=Unit.COUNT)  # fmt: skip


def _start_column(data: Dataset, start: str) -> str:
    """``opportunity``: deal creation; ``lead``: the first stage; or any stage's entry."""
    if start == "opportunity":
        return fn.OPPORTUNITY_CREATED_AT
    if start == "lead":
        return stage_column(data.stages.first)
    return stage_column(check_choice("from_stage", start, start_choices(data)))


def start_choices(data: Dataset) -> tuple[str, ...]:
    """What days to close can be counted from: deal creation, lead creation, or entry into a stage."""
    return tuple(dict.fromkeys(("opportunity", "lead", *data.stages.names)))


def describe_start(data: Dataset, start: str) -> str:
    """What days are counted from, in words: "the opportunity's creation", "entry into engaging"."""
    first = data.stages.first
    if start == "opportunity" or (start in ("lead", first) and first == data.stages.opportunity):
        return N_("the opportunity's creation")  # an opportunity-only funnel starts at the deal's creation
    if start in ("lead", first):
        return N_("the lead's creation")
    return f"entry into {start}"


def _deals(data: Dataset, by=()) -> pd.DataFrame:
    f = core(data, by)
    return f[(f[fn.OPPORTUNITY_CREATED_AT].notna() | f[fn.IS_CLOSED] | f[fn.OPPORTUNITY_ID].notna()).to_numpy()]


def start_options(data: Dataset) -> list[tuple[str, int]]:
    """Each ``start=`` with how many deals have a date of their own for it, in funnel order.

    A stage date that every deal only borrows from the next stage (a skipped
    stage) is not counted: it is that next stage's date.
    """
    deals = _deals(data)
    names = data.stages.names
    options = [("opportunity", int(deals[fn.OPPORTUNITY_CREATED_AT].notna().sum()))]
    for stage, later in zip(names[:-1], names[1:], strict=True):
        if stage == data.stages.opportunity and stage != data.stages.first:
            continue  # the opportunity stage's date is the deal's creation, listed above
        name = "lead" if stage == data.stages.first and stage != data.stages.opportunity else stage
        options.append((name, int(own_dates(deals, stage, later).sum())))
    return options


def default_start(data: Dataset) -> str:
    """Deal creation when the export has it, else the first stage deals have dates of their own for."""
    for start, n in start_options(data):
        if n:
            return start
    return "opportunity"


def _no_start_dates(data: Dataset, start: str) -> NotMeasurableError:
    """Which ``start=`` would work instead, with how many deals each would count."""
    column = _start_column(data, start)
    what = "the opportunities' created date (created_at)" if start == "opportunity" else column
    others = [(name, n) for name, n in start_options(data) if n and name != start]
    if others:
        ways = ", or ".join(
            f"from_stage={name!r} ({describe_start(data, name)}) for {n:,} deal{'s' * (n != 1)}"
            for name, n in others[:3]
        )
        instead = f"time to close can be measured from {ways}"
    else:
        instead = "no other start date is filled either: map a created date or stage dates for the deals"
    return NotMeasurableError(
        f"time to close with from_stage={start!r} needs {what}, which no deal in this export has; {instead}",
        missing=(column,),
    )


def _durations(data: Dataset, start: str, by=()) -> tuple[pd.DataFrame, list[str]]:
    """Per deal: days from start to close (closed) or to as_of (open, censored), and
    sentences counting the deals left out (for the result's ``note``)."""
    begin_col = _start_column(data, start)
    deals = _deals(data, by)
    if not len(deals):
        raise NotMeasurableError(
            "time to close needs opportunities (deals), and this export has none: load the opportunities export too",
            missing=("opportunities",),
        )
    has_begin = deals[begin_col].notna().to_numpy()
    if not has_begin.any():
        raise _no_start_dates(data, start)
    undated_close = (deals[fn.IS_CLOSED] & deals[fn.CLOSED_AT].isna()).to_numpy()
    frame = deals[has_begin & ~undated_close]
    closed = frame[fn.IS_CLOSED].to_numpy()
    end = frame[fn.CLOSED_AT].where(closed, data.as_of)
    days = days_between(end, frame[begin_col])
    # a close before the start is a data error: left out (the loader flags such deals)
    valid = (days >= 0).to_numpy()
    left_out = []
    if (~has_begin).any():
        left_out.append(f"{counted(int((~has_begin).sum()), 'deal')} with no date for {describe_start(data, start)}")
    if (undated_close & has_begin).any():
        left_out.append(f"{counted(int((undated_close & has_begin).sum()), 'closed deal')} with no close date")
    if (~valid).any():
        left_out.append(f"{counted(int((~valid).sum()), 'deal')} closing before {describe_start(data, start)}")
    if not valid.any():
        raise NotMeasurableError(
            f"time to close from {describe_start(data, start)} has no deal to measure: " + "; ".join(left_out),
            missing=(begin_col, fn.CLOSED_AT),
        )
    frame = frame[valid].assign(_days=days[valid].to_numpy(), _closed=closed[valid], _begin=frame[begin_col][valid])
    return frame, left_out


def _left_out_note(table: pd.DataFrame, left_out: list[str]) -> pd.DataFrame:
    """The deals :func:`_durations` could not measure, said on every row of the result."""
    if left_out:
        add_note(table, "left out: " + "; ".join(left_out))
    return table


@runs_on_engines
@params.renamed(start="from_stage")
def time_to_close(
    data: Dataset,
    *,
    from_stage: str = "opportunity",
    by=None,
    period: str | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Median and quartiles of days to close, open deals right-censored at ``data.as_of``.

    Parameters
    ----------
    data : Dataset
    from_stage : str
        Count from opportunity creation (``"opportunity"``, default), from
        lead creation (``"lead"``), or from entry into any named stage (for an
        export without deal creation dates, e.g. ``"engaging"``). Its old
        name ``start=`` works until the next release, with a DeprecationWarning
        (``start`` and ``end`` name dates everywhere else).
    by : str or list of str, optional
    period : {"W", "M", "Q", "Y"}, optional
        Period of the start date (a cohort of deals).

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``period`` (when asked), ``n`` (deals),
        ``n_closed``, ``n_censored`` (still open), ``median``, ``q25``,
        ``q75`` (Kaplan-Meier, days; NaN when too few deals have closed to
        say), ``closed_median`` (plain median of closed deals only, for
        comparison: it is biased low when many deals are open),
        ``small_sample``; ``note`` when some deals are left out (no start
        date, closed without a close date, closed before the start): how many.

    Raises
    ------
    NotMeasurableError
        When no deal has a ``from_stage`` date (the message names the ``from_stage=``
        that would work and for how many deals), or the export has no deals.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> print(fk.time_to_close(data)[["n", "n_closed", "n_censored", "closed_median"]].to_string(index=False))
     n  n_closed  n_censored  closed_median
     3         2           1           28.5
    """
    p = params.check(data, by=by, period=period, fiscal_year_start=fiscal_year_start)
    by, period, fiscal_year_start = p.by, p.period, p.fiscal_year_start
    frame, left_out = _durations(data, check_choice("from_stage", from_stage, start_choices(data)), by)
    keys = group_keys(frame, by)
    if period:
        keys["period"] = period_labels(frame["_begin"], period, fiscal_year_start=fiscal_year_start)
    cols = list(keys.columns)
    table = pd.concat([keys, frame[["_days", "_closed"]]], axis=1)
    groups = table.groupby(cols, dropna=False) if cols else [((), table)]
    rows = []
    for key, group in groups:  # one Kaplan-Meier fit per group
        q25, median, q75 = stats.km_quantiles(group["_days"], group["_closed"])
        closed_days = group.loc[group["_closed"], "_days"]
        row = dict(zip(cols, key if isinstance(key, tuple) else (key,), strict=True))
        row.update(
            n=len(group),
            n_closed=int(group["_closed"].sum()),
            n_censored=int((~group["_closed"]).sum()),
            median=median,
            q25=q25,
            q75=q75,
            closed_median=float(closed_days.median()) if len(closed_days) else np.nan,
        )
        rows.append(row)
    out = pd.DataFrame(
        rows,
        columns=[*cols, "n", "n_closed", "n_censored", "median", "q25", "q75", "closed_median"],
    )
    out["small_sample"] = out["n"] < stats.SMALL_N
    return declare(_left_out_note(out, left_out), **DURATION_UNITS)


@runs_on_engines
@params.renamed(start="from_stage")
def km_curve(data: Dataset, *, from_stage: str = "opportunity", by=None) -> pd.DataFrame:
    """Kaplan-Meier curve of time to close: share of deals still open after ``days``.

    Parameters
    ----------
    data : Dataset
    from_stage : str
        What days are counted from, as in :func:`time_to_close` (old name ``start=``).
    by : str or list of str, optional

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``days``, ``survival``, ``n`` (deals in the group);
        ``note`` as in :func:`time_to_close`.

    Raises
    ------
    NotMeasurableError
        As :func:`time_to_close`.
    """
    by = params.check(data, by=by).by
    frame, left_out = _durations(data, check_choice("from_stage", from_stage, start_choices(data)), by)
    keys = group_keys(frame, by)
    table = pd.concat([keys, frame[["_days", "_closed"]]], axis=1)
    groups = table.groupby(by, dropna=False) if by else [((), table)]
    parts = [pd.DataFrame(columns=[*by, "days", "survival", "n"])]
    for key, group in groups:
        curve = stats.km_curve(group["_days"], group["_closed"])
        for column, value in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
            curve[column] = value
        curve["n"] = len(group)
        parts.append(curve)
    # the empty first part keeps the columns when there is no group; without dtypes it would make them objects
    curve = pd.concat(parts, ignore_index=True)[[*by, "days", "survival", "n"]]
    curve = _left_out_note(curve.astype({"days": "float64", "survival": "float64", "n": "int64"}), left_out)
    return declare(curve, **DURATION_UNITS)


@runs_on_engines
def stage_durations(data: Dataset, *, by=None) -> pd.DataFrame:
    """Days spent in each stage (first entry to the next stage's first entry) and backward moves.

    Read from the stage log (:attr:`Dataset.events`), so only dates an entity
    really has count: a skipped stage (reached without a date of its own) has
    no duration, and neither has the stage before it. A recycled entity counts
    at its first entry of each stage.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``stage``, ``next_stage``, ``n``,
        ``median``, ``q25``, ``q75`` (days), ``backward_moves`` (times a deal
        returned from a later stage to this one, from stage history); ``note``
        on the steps no entity has both dates for.

    Raises
    ------
    NotMeasurableError
        When no step has a single entity with both of its dates.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.stage_durations(data)
    >>> print(table[["stage", "next_stage", "n", "median"]].round(1).to_string(index=False))
          stage  next_stage  n  median
           lead         mql  4     1.0
            mql         sql  2     4.5
            sql opportunity  2     4.0
    opportunity         won  1    34.0
    """
    by = params.check(data, by=by).by
    f = data.funnel
    entries = _first_entries(data)
    keys = group_keys(f, by).reset_index(drop=True)
    backward = _backward_moves(data)
    parts = []
    names = data.stages.names
    for a, b in zip(names[:-1], names[1:], strict=True):
        days = pd.Series(days_between(entries[b], entries[a]).to_numpy())
        ok = (days >= 0).to_numpy()  # both dates present, in order
        table = keys[ok].assign(_days=days[ok])
        parts.append(labelled_step(_quartiles(table, by), by, a, b, backward))
    return durations_table(parts, names)


def labelled_step(summary: pd.DataFrame, by: list[str], stage: str, next_stage: str, backward) -> pd.DataFrame:
    """One step's quartiles with its ``stage``, ``next_stage`` and ``backward_moves``; shared with the engine."""
    summary.insert(len(by), "next_stage", next_stage)
    summary.insert(len(by), "stage", stage)
    summary["backward_moves"] = int(backward.get(stage, 0))
    return summary


def durations_table(parts: list[pd.DataFrame], names) -> pd.DataFrame:
    """The steps' summaries as one table, a note on each step nobody has both dates for; shared with the engine."""
    out = pd.concat(parts, ignore_index=True)
    if not (out["n"] > 0).any():
        raise NotMeasurableError(
            "time in each stage needs two dated stages per lead or deal (the date it entered a stage and "
            f"the date it entered the next), and no lead or deal in this export has both for any step of "
            f"{' > '.join(names)}; map the stage date columns, or see fk.dropoff(data) for counts without dates",
            missing=tuple(stage_column(n) for n in names),
        )
    unmeasured = out.groupby(["stage", "next_stage"], sort=False)["n"].transform("sum").to_numpy() == 0
    for a, b in out.loc[unmeasured, ["stage", "next_stage"]].drop_duplicates().itertuples(index=False):
        rows = (out["stage"] == a).to_numpy() & unmeasured
        add_note(out, f"no lead or deal has dates of its own for both {a} and {b}", rows)
    return declare(out, **DURATION_UNITS)


def _first_entries(data: Dataset) -> pd.DataFrame:
    """First entry time per stage (columns) for each row of the funnel view: :attr:`Dataset.stage_entries`."""
    return data.stage_entries


def _quartiles(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``n``, ``median``, ``q25``, ``q75`` of ``_days`` per ``by`` group (one row without ``by``)."""
    if by:
        grouped = table.groupby(by, dropna=False)["_days"]
        return grouped.agg(
            n="size", median="median", q25=lambda d: d.quantile(0.25), q75=lambda d: d.quantile(0.75)
        ).reset_index()
    d = table["_days"]
    return pd.DataFrame({"n": [len(d)], "median": [d.median()], "q25": [d.quantile(0.25)], "q75": [d.quantile(0.75)]})


def _backward_moves(data: Dataset) -> pd.Series:
    """Count of returns to each stage from a later one, from stage history events.

    Entries of one entity at the same moment are taken in funnel order, as
    the engine takes them: the order rows happen to have in a file is no
    evidence of a move back.
    """
    ev = data.history
    ev = ev[ev["stage"].isin(data.stages.names)]
    if ev.empty:
        return pd.Series(dtype="int64")
    position = {name: i for i, name in enumerate(data.stages.names)}
    ev = ev.assign(_position=ev["stage"].map(position)).sort_values([fn.ENTITY_ID, "at", "_position"], kind="stable")
    index = ev["_position"].to_numpy()
    same = ev[fn.ENTITY_ID].to_numpy()[1:] == ev[fn.ENTITY_ID].to_numpy()[:-1]
    back = np.concatenate([[False], same & (index[1:] < index[:-1])])
    return ev.loc[back, "stage"].value_counts()
