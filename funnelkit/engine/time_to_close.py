"""Time to close on the engine: per group, counts of closes and of open (censored) deals per distinct duration.

The engine returns one row per group and distinct number of days (per day
when the CRM exports dates; finer when it exports times); Kaplan-Meier
quartiles and the plain median of closed deals are worked out from those
counts in Python, giving what the in-memory metric gives from the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import _params as params
from .. import stats
from ..errors import NotMeasurableError
from ..metrics._common import add_note, check_choice, counted
from ..metrics.time_to_close import DURATION_UNITS, describe_start, start_choices
from ..schema import Stages, stage_column
from ..units import declare
from ._common import fetch, group_keys, sorted_groups, with_period
from .periods import days_between, days_until
from .statistics import km_curve_from_counts, km_quantiles_from_counts, median_from_counts

if TYPE_CHECKING:
    from .dataset import EngineDataset

COLUMNS = ["n", "n_closed", "n_censored", "median", "q25", "q75", "closed_median"]


def start_column(stages: Stages, start: str) -> str:
    """``opportunity``: deal creation; ``lead``: the first stage; or any stage's entry (``start`` checked)."""
    if start == "opportunity":
        return "opportunity_created_at"
    if start == "lead":
        return stage_column(stages.first)
    return stage_column(start)


def _deals(funnel: ir.Table) -> ir.Table:
    return funnel.filter(is_deal(funnel))


def is_deal(funnel: ir.Table) -> ir.BooleanValue:
    """Whether a funnel row is a deal, for days to close: an opportunity id, a created date or a close."""
    f = funnel
    return f["opportunity_created_at"].notnull() | f["is_closed"] | f["opportunity_id"].notnull()


def start_tests(funnel: ir.Table, stages: Stages) -> dict[str, ir.BooleanValue]:
    """Each ``start=`` of :func:`start_options`, in funnel order, with the test of a row having a date of its own
    for it (not one borrowed from the next stage); of the deals (:func:`is_deal`), those it counts."""
    f = funnel
    names = stages.names
    tests = {"opportunity": f["opportunity_created_at"].notnull()}
    for stage, later in zip(names[:-1], names[1:], strict=True):
        if stage == stages.opportunity and stage != stages.first:
            continue  # the opportunity stage's date is the deal's creation, listed above
        name = "lead" if stage == stages.first and stage != stages.opportunity else stage
        a_at, b_at = f[stage_column(stage)], f[stage_column(later)]
        tests[name] = a_at.notnull() & ((f["skipped_stages"] == 0) | ibis.coalesce(a_at != b_at, True))
    return tests


def start_options(funnel: ir.Table, stages: Stages) -> list[tuple[str, int]]:
    """:func:`funnelkit.metrics.time_to_close.start_options` in one aggregate query: each ``start=`` with how
    many deals have a date of their own for it (not one borrowed from the next stage), in funnel order."""
    deals = _deals(funnel)
    counts = {name: own.cast("int64").sum() for name, own in start_tests(deals, stages).items()}
    row = fetch(deals.aggregate(**counts)).fillna(0).iloc[0]
    return [(name, int(row[name])) for name in counts]


def _no_start_dates(funnel: ir.Table, stages: Stages, start: str) -> NotMeasurableError:
    """Which ``start=`` would work instead, with how many deals each would count (the in-memory message)."""
    column = start_column(stages, start)
    what = "the opportunities' created date (created_at)" if start == "opportunity" else column
    named = _Named(stages)
    others = [(name, n) for name, n in start_options(funnel, stages) if n and name != start]
    if others:
        ways = ", or ".join(
            f"from_stage={name!r} ({describe_start(named, name)}) for {n:,} deal{'s' * (n != 1)}"
            for name, n in others[:3]
        )
        instead = f"time to close can be measured from {ways}"
    else:
        instead = "no other start date is filled either: map a created date or stage dates for the deals"
    return NotMeasurableError(
        f"time to close with from_stage={start!r} needs {what}, which no deal in this export has; {instead}",
        missing=(column,),
    )


class _Named:
    """What :func:`describe_start` reads of a dataset: its stages."""

    def __init__(self, stages: Stages):
        self.stages = stages


def _left_out(funnel: ir.Table, stages: Stages, as_of: pd.Timestamp, start: str) -> list[str]:
    """Sentences counting the deals that cannot be measured (the result's ``note``); stops with
    :class:`NotMeasurableError` when no deal is left, as the in-memory metric does."""
    deals = _deals(funnel)
    begin = deals[start_column(stages, start)]
    undated_close = deals["is_closed"] & deals["closed_at"].isnull()
    # no as_of means no timestamp at all: no deal has a start date, and the error below says so
    moment = pd.Timestamp(0, tz="UTC") if as_of is None else as_of
    days = ibis.ifelse(deals["is_closed"], days_between(deals["closed_at"], begin), days_until(moment, begin))
    measured = begin.notnull() & ~undated_close
    row = fetch(
        deals.aggregate(
            deals=deals.count(),
            no_begin=begin.isnull().cast("int64").sum(),
            undated_close=(undated_close & begin.notnull()).cast("int64").sum(),
            before_start=(measured & (days < 0)).cast("int64").sum(),
            valid=(measured & (days >= 0)).cast("int64").sum(),
        )
    ).fillna(0).iloc[0]  # fmt: skip
    if not int(row["deals"]):
        raise NotMeasurableError(
            "time to close needs opportunities (deals), and this export has none: load the opportunities export too",
            missing=("opportunities",),
        )
    if int(row["no_begin"]) == int(row["deals"]):
        raise _no_start_dates(funnel, stages, start)
    said = describe_start(_Named(stages), start)
    left_out = []
    if row["no_begin"]:
        left_out.append(f"{counted(int(row['no_begin']), 'deal')} with no date for {said}")
    if row["undated_close"]:
        left_out.append(f"{counted(int(row['undated_close']), 'closed deal')} with no close date")
    if row["before_start"]:
        left_out.append(f"{counted(int(row['before_start']), 'deal')} closing before {said}")
    if not row["valid"]:
        raise NotMeasurableError(
            f"time to close from {said} has no deal to measure: " + "; ".join(left_out),
            missing=(start_column(stages, start), "closed_at"),
        )
    return left_out


def duration_counts(
    funnel: ir.Table, stages: Stages, as_of: pd.Timestamp, *, start: str, keys_of, period=None, fiscal_year_start=1
) -> tuple[pd.DataFrame, list[str]]:
    """Per group and distinct duration (days): ``_closed`` (events) and ``_open`` (censored at as_of)."""
    frame = _deals(funnel)
    begin = frame[start_column(stages, start)]
    # a closed deal without a close date has no duration: left out, and counted in the note
    frame = frame.filter(begin.notnull() & ~(frame["is_closed"] & frame["closed_at"].isnull()))
    begin = frame[begin.get_name()]
    closed = frame["is_closed"]
    days = ibis.ifelse(closed, days_between(frame["closed_at"], begin), days_until(as_of, begin))
    keys = with_period(keys_of(frame), begin, period, fiscal_year_start)
    # a close before the start is a data error: left out (the loader flags such deals)
    rows = frame.mutate(**keys, _days=days, _closed_flag=closed.cast("int64")).filter(lambda t: t["_days"] >= 0)
    cols = list(keys)
    counts = rows.group_by([*cols, "_days"]).aggregate(
        _closed=rows["_closed_flag"].sum(), _open=(1 - rows["_closed_flag"]).sum()
    )
    return sorted_groups(fetch(counts), [*cols, "_days"]), cols


def _left_out_note(table: pd.DataFrame, left_out: list[str]) -> pd.DataFrame:
    if left_out:
        add_note(table, "left out: " + "; ".join(left_out))
    return table


@params.renamed(start="from_stage")
def time_to_close(
    data: EngineDataset,
    *,
    from_stage: str = "opportunity",
    by=None,
    period: str | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.time_to_close` on the engine: the same options, checks, columns, numbers and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")             # doctest: +SKIP
    >>> data.time_to_close(from_stage="lead", by="source")  # doctest: +SKIP
    """
    p = params.check_options(data, by=by, period=period, fiscal_year_start=fiscal_year_start)
    by, period, fiscal_year_start = p.by, p.period, p.fiscal_year_start
    start = check_choice("from_stage", from_stage, start_choices(data))
    funnel, stages, as_of = data.funnel_table, data.stages, data.as_of
    left_out = _left_out(funnel, stages, as_of, start)
    counts, cols = duration_counts(
        funnel, stages, as_of, start=start, keys_of=lambda t: group_keys(t, by), period=period,
        fiscal_year_start=fiscal_year_start,
    )  # fmt: skip
    groups = counts.groupby(cols, dropna=False) if cols else [((), counts)]
    rows = []
    for key, group in groups:  # one Kaplan-Meier fit per group, on its counts
        days, closed, still_open = group["_days"], group["_closed"], group["_open"]
        q25, median, q75 = km_quantiles_from_counts(days, closed, still_open)
        row = dict(zip(cols, key if isinstance(key, tuple) else (key,), strict=True))
        row.update(
            n=int(closed.sum() + still_open.sum()),
            n_closed=int(closed.sum()),
            n_censored=int(still_open.sum()),
            median=median,
            q25=q25,
            q75=q75,
            closed_median=median_from_counts(days, closed),
        )
        rows.append(row)
    if not cols and counts.empty:
        rows = [dict(n=0, n_closed=0, n_censored=0, median=np.nan, q25=np.nan, q75=np.nan, closed_median=np.nan)]
    out = pd.DataFrame(rows, columns=[*cols, *COLUMNS])
    out["small_sample"] = out["n"] < stats.SMALL_N
    return declare(_left_out_note(out, left_out), **DURATION_UNITS)


@params.renamed(start="from_stage")
def km_curve(data: EngineDataset, *, from_stage: str = "opportunity", by=None) -> pd.DataFrame:
    """:func:`funnelkit.km_curve` on the engine: ``by`` columns, ``days``, ``survival``, ``n`` (and ``note``)."""
    by = params.check_options(data, by=by).by
    start = check_choice("from_stage", from_stage, start_choices(data))
    funnel, stages, as_of = data.funnel_table, data.stages, data.as_of
    left_out = _left_out(funnel, stages, as_of, start)
    counts, cols = duration_counts(funnel, stages, as_of, start=start, keys_of=lambda t: group_keys(t, by))
    groups = counts.groupby(cols, dropna=False) if cols else [((), counts)]
    parts = [pd.DataFrame(columns=[*by, "days", "survival", "n"])]
    for key, group in groups:
        days, survival = km_curve_from_counts(group["_days"], group["_closed"], group["_open"])
        curve = pd.DataFrame({"days": days, "survival": survival})
        for column, value in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
            curve[column] = value
        curve["n"] = int(group["_closed"].sum() + group["_open"].sum())
        parts.append(curve)
    # the empty first part keeps the columns when there is no group; without dtypes it would make them objects
    curve = pd.concat(parts, ignore_index=True)[[*by, "days", "survival", "n"]]
    curve = _left_out_note(curve.astype({"days": "float64", "survival": "float64", "n": "int64"}), left_out)
    return declare(curve, **DURATION_UNITS)
