"""Open pipeline on the engine: open deals per stage and group, their age, the stall lines, what has stalled.

The stall line of a stage is the 75th percentile of the days deals took from
their first entry into it to their first entry into the next (from the stage
log: history entries, else the tables' stage dates), computed by the engine's
exact quantile; open deals are then judged against it in the engine and only
counts, sums and quantiles per stage, group and currency come back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import _params as params
from .. import schema as s
from ..errors import NotMeasurableError
from ..metrics.pipeline import (
    PIPELINE_UNITS,
    STALLED_UNITS,
    _as_of,
    _check_open_stage,
    _deals,
    _finish_pipeline,
    _no_stall_line,
    _period,
    _positive_number,
    coverage_table,
    note_expected,
)
from ..schema import stage_column
from ..units import declare
from ._common import fetch, group_keys, in_window, reached
from .periods import days_between, days_until, timestamp_literal

if TYPE_CHECKING:
    from .dataset import EngineDataset

TIMESTAMP_UTC = "timestamp('UTC')"


def pipeline(data: EngineDataset, *, by=None, as_of=None) -> pd.DataFrame:
    """:func:`funnelkit.pipeline` on the engine: the same options, checks, columns, numbers, notes and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")   # doctest: +SKIP
    >>> data.pipeline(by="owner")               # doctest: +SKIP
    """
    by = params.check_options(data, by=by).by
    as_of = _as_of(data, as_of)
    lines = stall_lines(data)
    deals = open_deals(data, as_of, lines)
    keys = group_keys(deals, by)
    for name in (s.STAGE, s.CURRENCY):
        keys.setdefault(name, deals[name])
    amount, age = deals[s.AMOUNT], deals["age_days"]
    stalled = deals["_stalled"]
    stalled_amount = ibis.ifelse(stalled, amount, ibis.null("float64"))
    out = fetch(
        deals.group_by(**keys).aggregate(
            open=deals.count(),
            open_value=amount.sum(),
            _with_amount=amount.count(),
            _without_amount=amount.isnull().cast("int64").sum(),
            median_age_days=age.median(),
            q75_age_days=age.quantile(0.75),
            _dated=age.count(),
            stalled=stalled.cast("int64").sum(),
            _judged=deals["_judged"].cast("int64").sum(),
            stalled_value=stalled_amount.sum(),
            _stalled_with_amount=stalled_amount.count(),
        )
    )
    if not len(out):
        raise _no_open_deals(data)
    out = out.astype({"open": "int64", "open_value": "float64", "median_age_days": "float64",
                      "q75_age_days": "float64", "stalled_value": "float64"})  # fmt: skip
    out["stall_line_days"] = out[s.STAGE].map(lines.set_index(s.STAGE)["stall_line_days"]).astype(float)
    return declare(_finish_pipeline(out, lines, by), **PIPELINE_UNITS)


def stalled_deals(data: EngineDataset, *, stage: str | None = None) -> pd.DataFrame:
    """:func:`funnelkit.stalled_deals` on the engine: only the stalled deals come back, one row each.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")   # doctest: +SKIP
    >>> data.stalled_deals(stage="opportunity")  # doctest: +SKIP
    """
    lines = stall_lines(data)
    if stage is not None:
        stage = _check_open_stage(data, stage)
        lines = lines[lines[s.STAGE] == stage]
    if not lines["stall_line_days"].notna().any():
        raise _no_stall_line(data, lines)
    deals = open_deals(data, data.as_of, lines)
    stalled = deals.filter(deals["_stalled"])
    columns = [s.OPPORTUNITY_ID, s.OWNER, s.SOURCE, s.STAGE, s.AMOUNT, s.CURRENCY, "age_days", "stage_entered_at",
               "days_in_stage", "stall_line_days"]  # fmt: skip
    out = fetch(stalled.select(*columns, _order=stalled["_order"]))
    out["days_over"] = out["days_in_stage"] - out["stall_line_days"]
    # longest over the line first within each stage; ties by deal id (an engine's rows have no file order)
    out = out.sort_values(["_order", "days_over", s.OPPORTUNITY_ID], ascending=[True, False, True], kind="stable")
    out = out.drop(columns="_order").reset_index(drop=True)
    out["stage_entered_at"] = pd.to_datetime(out["stage_entered_at"], utc=True).astype(s.TIMESTAMP)
    for column in (s.OPPORTUNITY_ID, s.OWNER, s.SOURCE, s.STAGE, s.CURRENCY):
        out[column] = out[column].astype("str")
    for column in (s.AMOUNT, "age_days", "days_in_stage", "stall_line_days", "days_over"):
        out[column] = out[column].astype("float64")
    return declare(out, **STALLED_UNITS)


def coverage(
    data: EngineDataset, *, target, period_end, period_start=None, currency: str | None = None
) -> pd.DataFrame:
    """:func:`funnelkit.coverage` on the engine: deals counted and summed per stage and currency in the engine.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")                                      # doctest: +SKIP
    >>> data.coverage(target=500_000, period_end="2025-06-30", currency="USD")    # doctest: +SKIP
    """
    target = _positive_number(target, "target")
    start, end = _period(period_start, period_end)
    notes: list[str] = []
    f = data.funnel_table
    won = f.filter(f[s.IS_WON] & in_window(f[s.CLOSED_AT], start, end))
    won_money = _money_counts(won, [])
    if data.as_of >= end:  # an ended period has nothing left to go: no open deal counts
        open_money = won_money.iloc[:0].assign(**{s.STAGE: pd.Series(dtype="str")})
    else:
        open_money = _open_in_period(data, end, notes)
    return coverage_table(
        won_money,
        open_money,
        target=target,
        start=start,
        end=end,
        as_of=data.as_of,
        currency=currency,
        notes=notes,
        stage_win_rates=lambda: stage_win_rates(data),
    )


def _open_in_period(data: EngineDataset, end: pd.Timestamp, notes: list[str]) -> pd.DataFrame:
    """Open deals that can close by ``end`` per stage, currency and whether priced (expected close dates decide)."""
    deals = open_deals(data, data.as_of, None)
    o = data.opportunities
    dated = False
    if s.EXPECTED_CLOSE_AT in o.columns:
        dated = bool(fetch(o.aggregate(n=o[s.EXPECTED_CLOSE_AT].count()))["n"].fillna(0).iloc[0])
    if dated:
        expected = o.select(_opp=o[s.OPPORTUNITY_ID], _expected=o[s.EXPECTED_CLOSE_AT])
        deals = deals.left_join(expected, deals[s.OPPORTUNITY_ID] == expected["_opp"])
        later = ibis.coalesce(deals["_expected"] >= timestamp_literal(end, rounding="ceil"), False)
    else:
        later = ibis.literal(False)
    counts = _money_counts(deals.mutate(_later=later), [s.STAGE, "_later"])
    is_later = counts["_later"].astype(bool).to_numpy()
    note_expected(
        notes, open_deals=int(counts["deals"].sum()), dated=dated, later=int(counts.loc[is_later, "deals"].sum())
    )
    return counts[~is_later].drop(columns="_later").reset_index(drop=True)


def _money_counts(deals: ir.Table, keys: list[str]) -> pd.DataFrame:
    """:func:`funnelkit.metrics.pipeline.money_counts` in the engine: deals and amounts per keys, currency, priced."""
    amount = deals[s.AMOUNT]
    grouped = deals.group_by([*keys, s.CURRENCY, amount.notnull().name("_priced")])
    out = fetch(grouped.aggregate(deals=deals.count(), value=amount.sum()))
    return out.astype({"deals": "int64", "value": "float64", "_priced": "bool"})


def stage_win_rates(data: EngineDataset) -> pd.DataFrame:
    """Per stage where deals stay open: of the closed deals that reached it, the share won (one query).

    Columns: ``stage``, ``won``, ``closed``, ``win_rate``, as
    :func:`funnelkit.metrics.pipeline._stage_win_rates`.
    """
    names = list(data.stages.names)
    open_stages = names[names.index(data.stages.opportunity) : -1]
    f = data.funnel_table
    sums = {}
    for i, stage in enumerate(open_stages):
        closed = reached(f, data.stages, stage) & f[s.IS_CLOSED]
        sums[f"w{i}"] = (closed & f[s.IS_WON]).cast("int64").sum()
        sums[f"c{i}"] = closed.cast("int64").sum()
    row = fetch(f.aggregate(**sums)).fillna(0).iloc[0] if sums else {}
    table = pd.DataFrame(
        {
            s.STAGE: open_stages,
            "won": [int(row[f"w{i}"]) for i in range(len(open_stages))],
            "closed": [int(row[f"c{i}"]) for i in range(len(open_stages))],
        },
        columns=[s.STAGE, "won", "closed"],
    )
    table["win_rate"] = (table["won"] / table["closed"].where(table["closed"] > 0)).astype(float)
    return table


# ---- open deals ----------------------------------------------------------------------------------------


def open_deals(data: EngineDataset, as_of: pd.Timestamp, lines: pd.DataFrame | None) -> ir.Table:
    """The open deals as an engine table: their stage, age, days in the stage and whether they stalled.

    Columns: the funnel's, plus ``stage``, ``_order`` (its position),
    ``age_days``, ``stage_entered_at``, ``days_in_stage``,
    ``stall_line_days``, ``_judged`` and ``_stalled`` (false where not judged).
    """
    f = data.funnel_table
    names = list(data.stages.names)
    deals = f.filter(f[s.OPPORTUNITY_ID].notnull() & ~f[s.IS_CLOSED])
    at = deals["furthest_index"]
    entered = ibis.cases(*((at == i, deals[stage_column(n)]) for i, n in enumerate(names)),
                         else_=ibis.null(TIMESTAMP_UTC))  # fmt: skip
    line_of = {}
    if lines is not None:  # without stall lines (coverage), no deal is judged
        known = lines.dropna(subset=["stall_line_days"])
        line_of = {stage: float(line) for stage, line in zip(known[s.STAGE], known["stall_line_days"], strict=True)}
    stage = at.substitute(dict(enumerate(names)), else_=ibis.null("string")).cast("string")
    deals = deals.mutate(
        **{s.STAGE: stage},
        _order=at,
        age_days=days_until(as_of, deals[f"opportunity_{s.CREATED_AT}"]),
        stage_entered_at=entered.cast(TIMESTAMP_UTC),
        days_in_stage=days_until(as_of, entered.cast(TIMESTAMP_UTC)),
        stall_line_days=stage.substitute(line_of, else_=ibis.null("float64")).cast("float64")
        if line_of
        else ibis.null("float64"),
    )
    judged = deals["stall_line_days"].notnull() & deals["days_in_stage"].notnull()
    return deals.mutate(
        _judged=judged, _stalled=judged & ibis.coalesce(deals["days_in_stage"] > deals["stall_line_days"], False)
    )


def _no_open_deals(data: EngineDataset) -> NotMeasurableError:
    """Why there is no pipeline, in the words of :func:`funnelkit.pipeline` (one count query)."""
    o = data.opportunities
    n = int(fetch(o.aggregate(n=o.count()))["n"].iloc[0])
    if not n:
        return NotMeasurableError(
            "the pipeline is the open deals, and this export has no deals: load the opportunities export too",
            missing=("opportunities",),
        )
    return NotMeasurableError(
        f"the pipeline is the open deals, and every deal of this export ({_deals(n)}) has closed",
        missing=(s.IS_CLOSED,),
    )


# ---- stall lines ---------------------------------------------------------------------------------------


def stall_lines(data: EngineDataset) -> pd.DataFrame:
    """Per stage where deals stay open: ``stage``, ``next_stage``, ``moved_on``, ``stall_line_days`` (one query).

    As :func:`funnelkit.metrics.pipeline._stall_lines`: the days from each
    entity's first entry into the stage to its first into the next, both from
    the stage log, those in order only; the line is their 75th percentile.
    """
    names = list(data.stages.names)
    first = names.index(data.stages.opportunity)
    pairs = list(zip(names[first:-1], names[first + 1 :], strict=True))
    rows = []
    if pairs:
        entries = first_entries(data, sorted({x for pair in pairs for x in pair}, key=names.index))
        sums = {}
        for i, (a, b) in enumerate(pairs):
            days = days_between(entries[stage_column(b)], entries[stage_column(a)])
            ok = days.notnull() & (days >= 0)
            sums[f"n{i}"] = ok.cast("int64").sum()
            sums[f"q{i}"] = ibis.ifelse(ok, days, ibis.null("float64")).quantile(0.75)
        row = fetch(entries.aggregate(**sums)).iloc[0]
        for i, (a, b) in enumerate(pairs):
            n = 0 if pd.isna(row[f"n{i}"]) else int(row[f"n{i}"])
            line = float(row[f"q{i}"]) if n else np.nan
            rows.append({s.STAGE: a, "next_stage": b, "moved_on": n, "stall_line_days": line})
    return pd.DataFrame(rows, columns=[s.STAGE, "next_stage", "moved_on", "stall_line_days"])


def first_entries(data: EngineDataset, stages: list[str]) -> ir.Table:
    """First entry per funnel entity into each of ``stages``, from the stage log (as ``data.events`` reads it).

    The log holds the history entries, and entries derived from the tables'
    stage dates (the first stage from a lead's creation, the opportunity stage
    from a deal's creation, won from a won deal's close); a deal with history
    of its own gives no derived entries. A deal's entries belong to the funnel
    entity it sits on (the lead it came from). Columns: ``entity_id`` and
    one ``<stage>_at`` per stage.
    """
    log = _stage_log(data, stages)
    f = data.funnel_table
    owners = f.filter(f[s.OPPORTUNITY_ID].notnull()).select(_opp=f[s.OPPORTUNITY_ID], _entity=f[s.ENTITY_ID])
    deals = log.filter(log[s.ENTITY] == "opportunity")
    deals = deals.join(owners, deals[s.ENTITY_ID] == owners["_opp"]).select(
        _id=owners["_entity"], stage=deals[s.STAGE], at=deals[s.AT]
    )
    leads = log.filter(~ibis.coalesce(log[s.ENTITY] == "opportunity", False)).select(
        _id=log[s.ENTITY_ID], stage=log[s.STAGE], at=log[s.AT]
    )
    both = leads.union(deals)
    return both.group_by(both["_id"].name(s.ENTITY_ID)).aggregate(
        **{stage_column(n): both["at"].min(where=both["stage"] == n) for n in stages}
    )


def _stage_log(data: EngineDataset, stages: list[str]) -> ir.Table:
    """``entity_id``, ``entity``, ``stage``, ``at`` of the log entries into ``stages`` (as :func:`snapshot_events`)."""
    names = data.stages
    parts = []
    history = data.history
    if history is not None:
        h = history.filter(history[s.STAGE].isin(stages) & history[s.AT].notnull())
        parts.append(_entries(h[s.ENTITY_ID], h[s.ENTITY], h[s.STAGE], h[s.AT], h))
        seen = history.select(_seen=history[s.ENTITY_ID]).distinct()
    for stage in stages:
        column = stage_column(stage)
        for entity, table, key in (("lead", data.leads, s.LEAD_ID), ("opportunity", data.opportunities,
                                                                       s.OPPORTUNITY_ID)):  # fmt: skip
            stamps = table[column] if column in table.columns else None
            if entity == "lead" and stage == names.first:
                stamps = _fill(stamps, table[s.CREATED_AT])
            if entity == "opportunity" and stage == names.opportunity:
                stamps = _fill(stamps, table[s.CREATED_AT])
            if entity == "opportunity" and stage == names.won:
                won_at = ibis.ifelse(ibis.coalesce(table[s.IS_WON], False), table[s.CLOSED_AT],
                                     ibis.null(TIMESTAMP_UTC))  # fmt: skip
                stamps = _fill(stamps, won_at)
            if stamps is None:
                continue
            rows = table.mutate(_at=stamps.cast(TIMESTAMP_UTC))
            rows = rows.filter(rows["_at"].notnull())
            if entity == "opportunity" and history is not None:
                rows = rows.anti_join(seen, rows[key] == seen["_seen"])
            parts.append(_entries(rows[key], ibis.literal(entity), ibis.literal(stage), rows["_at"], rows))
    if not parts:
        empty = ibis.memtable(
            {s.ENTITY_ID: [], s.ENTITY: [], s.STAGE: [], s.AT: []},
            schema={s.ENTITY_ID: "string", s.ENTITY: "string", s.STAGE: "string", s.AT: TIMESTAMP_UTC},
        )
        return empty
    out = parts[0]
    for part in parts[1:]:
        out = out.union(part)
    return out


def _fill(stamps, fallback):
    return fallback if stamps is None else ibis.coalesce(stamps.cast(TIMESTAMP_UTC), fallback.cast(TIMESTAMP_UTC))


def _entries(ids, entity, stage, at, table: ir.Table) -> ir.Table:
    return table.select(
        **{
            s.ENTITY_ID: ids.cast("string"),
            s.ENTITY: entity.cast("string"),
            s.STAGE: stage.cast("string"),
            s.AT: at.cast(TIMESTAMP_UTC),
        }
    )


__all__ = ["first_entries", "open_deals", "coverage", "pipeline", "stage_win_rates", "stall_lines", "stalled_deals"]
