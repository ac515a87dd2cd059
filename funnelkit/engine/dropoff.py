"""Drop-off and time in each stage on the engine: counts per stage and group, durations as counts per value.

:func:`dropoff` is one grouped query (rows per entry and furthest stage and outcome);
:func:`stage_durations` reads the stage log (history plus the dates on the
tables) in the engine, takes each entity's first entry per stage there, and
brings back one row per step, group and distinct number of days, from which
the quartiles are read in Python exactly as pandas reads them from the rows.
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
from ..metrics.conversion import DROPOFF_COUNTS, dropoff_table
from ..metrics.time_to_close import durations_table, labelled_step
from ..schema import Stages, stage_column
from ._common import fetch, group_keys, sorted_groups
from .periods import days_between
from .statistics import median_from_counts, quantile_from_counts

if TYPE_CHECKING:
    from .dataset import EngineDataset


def dropoff(data: EngineDataset, *, by=None) -> pd.DataFrame:
    """:func:`funnelkit.dropoff` on the engine: the same checks, columns, numbers and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")   # doctest: +SKIP
    >>> data.dropoff(by="source")               # doctest: +SKIP
    """
    by = params.check_options(data, by=by).by
    f = data.funnel_table
    # a status meaning disqualified counts as much as a disqualified date
    has_flag = s.IS_DISQUALIFIED in f.columns
    disqualified = ibis.coalesce(f[s.IS_DISQUALIFIED], False) if has_flag else ibis.literal(False)
    # every count depends only on a row's entry and furthest stage and its outcome: the engine counts rows per
    # such state (a few dozen per group), and each stage's counts are sums of states
    priced = f["amount"].notnull()
    states = {"_entry": f["entry_index"], "_furthest": f["furthest_index"], "_lost": f["is_lost"],
              "_disqualified": disqualified, "_won": f["is_won"], "_priced": priced,
              "_currency": ibis.ifelse(priced, f["currency"], ibis.null("string"))}  # fmt: skip
    census = fetch(
        f.group_by(**group_keys(f, by), **states).aggregate(
            _rows=f.count(), _lost_value=ibis.ifelse(f["is_lost"], ibis.coalesce(f["amount"], 0.0), 0.0).sum()
        )
    )
    counts = _stage_counts(census, data.stages, by)
    if by:
        # regrouped in pandas so the groups line up exactly as the in-memory metric aligns them
        counts = sorted_groups(counts, by).groupby(by, dropna=False).sum().reset_index()
    else:
        counts = counts.sum().to_frame().T
    if not int(counts["_rows"].sum()):
        raise NotMeasurableError("the data holds no leads and no deals: there is no funnel to count")
    parts = []
    for i, stage in enumerate(data.stages.names):
        names = [*DROPOFF_COUNTS, "lost_value", "unpriced_lost"]
        part = counts[[*by, *(f"{n}_{i}" for n in names)]].rename(columns={f"{n}_{i}": n for n in names})
        part.insert(len(by), "stage", stage)
        parts.append(part)
    return dropoff_table(pd.concat(parts, ignore_index=True), currency_count=_currency_count(census))


def _stage_counts(census: pd.DataFrame, stages: Stages, by: list[str]) -> pd.DataFrame:
    """Per census state: its rows counted in each stage's ``reached``, ``stopped``, ``lost``, ``disqualified``,
    ``still_open``, ``lost_value`` and ``unpriced_lost`` (lost without an amount; ``<count>_<stage index>``),
    with the engine's logic of missing values (a state whose outcome is unknown counts in no outcome)."""
    entry, furthest = census["_entry"].astype("Int64"), census["_furthest"].astype("Int64")
    is_lost, is_won = census["_lost"].astype("boolean"), census["_won"].astype("boolean")
    is_disqualified, priced = census["_disqualified"].astype("boolean"), census["_priced"].astype("boolean")
    rows, lost_value = census["_rows"].to_numpy(dtype="int64"), census["_lost_value"].to_numpy(dtype=float)
    counts = {column: census[column] for column in by} | {"_rows": rows}
    for i in range(len(stages.names)):
        here = (entry <= i) & (furthest >= i)
        stopped = here & (furthest == i)
        lost = stopped & is_lost
        disqualified = stopped & is_disqualified & ~is_lost
        flags = {"reached": here, "stopped": stopped, "lost": lost, "disqualified": disqualified,
                 "still_open": stopped & ~lost & ~disqualified & ~is_won}  # fmt: skip
        for name, flag in flags.items():
            counts[f"{name}_{i}"] = np.where(flag.fillna(False).to_numpy(dtype=bool), rows, 0)
        counts[f"lost_value_{i}"] = np.where(lost.fillna(False).to_numpy(dtype=bool), lost_value, 0.0)
        counts[f"unpriced_lost_{i}"] = np.where((lost & ~priced).fillna(False).to_numpy(dtype=bool), rows, 0)
    return pd.DataFrame(counts, index=census.index)


def _currency_count(census: pd.DataFrame) -> int:
    """How many currencies the amounts are in (amounts naming none count as one more), from the census states."""
    currencies = census.loc[census["_priced"].astype("boolean").fillna(False).to_numpy(dtype=bool), "_currency"]
    return int(currencies.nunique(dropna=True)) + int(currencies.isna().any())


# ---------------------------------------------------------------- time in each stage --


def stage_durations(data: EngineDataset, *, by=None) -> pd.DataFrame:
    """:func:`funnelkit.stage_durations` on the engine: the same checks, columns, numbers, notes and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")   # doctest: +SKIP
    >>> data.stage_durations(by="source")       # doctest: +SKIP
    """
    by = params.check_options(data, by=by).by
    f, stages = data.funnel_table, data.stages
    names = stages.names
    entries = first_entries(data)
    rows = f.left_join(entries, f["entity_id"] == entries["_entity"])
    keys = group_keys(rows, by)
    backward = backward_moves(data.history, stages)
    parts = []
    for a, b in zip(names[:-1], names[1:], strict=True):
        days = days_between(rows[f"_first_{b}"], rows[f"_first_{a}"])
        both = rows.filter(days >= 0)  # both dates present, in order
        step = both.mutate(**group_keys(both, by), _days=days_between(both[f"_first_{b}"], both[f"_first_{a}"]))
        counts = sorted_groups(fetch(step.group_by([*keys, "_days"]).aggregate(_n=step.count())), [*by, "_days"])
        parts.append(labelled_step(_quartiles(counts, by), by, a, b, backward))
    return durations_table(parts, names)


def _quartiles(counts: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``n``, ``median``, ``q25``, ``q75`` per ``by`` group from counts per distinct ``_days``
    (one row without ``by``; only groups with a measured entity with ``by``), as pandas gives them."""

    def summary(group: pd.DataFrame) -> dict:
        values, n = group["_days"], group["_n"]
        return {
            "n": int(n.sum()),
            "median": median_from_counts(values, n),
            "q25": quantile_from_counts(values, n, 0.25),
            "q75": quantile_from_counts(values, n, 0.75),
        }

    if not by:
        return pd.DataFrame({k: [v] for k, v in summary(counts).items()}).astype({"n": "int64"})
    rows = []
    for key, group in counts.groupby(by, dropna=False, sort=True):
        rows.append({**dict(zip(by, key, strict=True)), **summary(group)})
    frame = pd.DataFrame(rows, columns=[*by, "n", "median", "q25", "q75"])
    # the group columns keep the dtypes pandas' groupby gives them
    for column in by:
        frame[column] = frame[column].astype(counts[column].dtype)
    return frame.astype({"n": "int64", "median": "float64", "q25": "float64", "q75": "float64"})


def stage_log(data: EngineDataset) -> ir.Table:
    """The long stage log of :attr:`funnelkit.Dataset.events` as an engine table (``entity_id``, ``entity``,
    ``stage``, ``at``): the history's entries, plus entries read from the tables' stage dates (a deal's only
    where the history has no entry for it). The lost stage is left out: no duration is measured to it."""
    stages = data.stages
    history = data.history
    parts = []
    if history is not None:
        parts.append(history.select(s.ENTITY_ID, s.ENTITY, s.STAGE, history[s.AT].cast("timestamp('UTC')")))
        seen = history.select(_seen=history[s.ENTITY_ID]).distinct()
    tables = (("lead", data.leads, s.LEAD_ID), ("opportunity", data.opportunities, s.OPPORTUNITY_ID))
    for entity, table, id_col in tables:
        if entity == "opportunity" and history is not None:
            table = table.anti_join(seen, table[id_col] == seen["_seen"])
        for name in stages.names:
            stamps = _stage_stamps(table, entity, name, stages)
            if stamps is None:
                continue
            part = table.select(
                **{
                    s.ENTITY_ID: table[id_col].cast("string"),
                    s.ENTITY: ibis.literal(entity),
                    s.STAGE: ibis.literal(name),
                    s.AT: stamps.cast("timestamp('UTC')"),
                }
            )
            parts.append(part.filter(part[s.AT].notnull()))
    if not parts:
        return None
    log = parts[0]
    for part in parts[1:]:
        log = log.union(part)
    return log.filter(log[s.STAGE].isin(list(stages.names)))


def _stage_stamps(table: ir.Table, entity: str, name: str, stages: Stages) -> ir.TimestampValue | None:
    """The date a table gives for entering ``name`` (a stage column, else a created or won close date)."""
    column = stage_column(name)
    stamps = table[column] if column in table.columns else None
    fallback = None
    if (name == stages.first and entity == "lead") or (name == stages.opportunity and entity == "opportunity"):
        fallback = table[s.CREATED_AT]
    elif name == stages.won and entity == "opportunity":
        closed_at = table[s.CLOSED_AT]
        fallback = ibis.ifelse(ibis.coalesce(table[s.IS_WON], False), closed_at, ibis.null(closed_at.type()))
    if fallback is not None:
        stamps = fallback if stamps is None else ibis.coalesce(stamps, fallback)
    return stamps


def first_entries(data: EngineDataset) -> ir.Table:
    """First entry per funnel entity and stage (``_entity``, ``_first_<stage>``) from the stage log.

    An opportunity's entries belong to the funnel entity it sits on, so a
    lead's SQL date and its opportunity's creation are on one row.
    """
    f, names = data.funnel_table, data.stages.names
    log = stage_log(data)
    if log is None:
        return f.select(_entity=f["entity_id"], **{f"_first_{n}": ibis.null("timestamp('UTC')") for n in names})
    paired = f.filter(f[s.OPPORTUNITY_ID].notnull()).select(_opp=f[s.OPPORTUNITY_ID], _owner=f["entity_id"])
    joined = log.left_join(paired, (log[s.ENTITY] == "opportunity") & (log[s.ENTITY_ID] == paired["_opp"]))
    entity = ibis.ifelse(joined[s.ENTITY] == "opportunity", joined["_owner"], joined[s.ENTITY_ID])
    joined = joined.mutate(_entity=entity)
    joined = joined.filter(joined["_entity"].notnull())
    return joined.group_by("_entity").aggregate(
        **{f"_first_{n}": joined[s.AT].min(where=joined[s.STAGE] == n) for n in names}
    )


def backward_moves(history: ir.Table | None, stages: Stages) -> dict[str, int]:
    """Returns to each stage from a later one, from stage history: per stage, how many (one small query).

    Entries of one entity at the same moment are taken in funnel order (an
    engine's table has no row order to keep).
    """
    if history is None:
        return {}
    names = list(stages.names)
    ev = history.filter(history[s.STAGE].isin(names))
    ev = ev.mutate(_index=ev[s.STAGE].substitute({n: i for i, n in enumerate(names)}, else_=-1).cast("int64"))
    order = ibis.window(group_by=ev[s.ENTITY_ID], order_by=[ev[s.AT], ev["_index"]])
    ev = ev.mutate(_before=ev["_index"].lag().over(order))
    back = ev.filter(ev["_index"] < ev["_before"])
    counts = fetch(back.group_by(s.STAGE).aggregate(_n=back.count()))
    return {str(k): int(v) for k, v in zip(counts[s.STAGE], counts["_n"], strict=True)}
