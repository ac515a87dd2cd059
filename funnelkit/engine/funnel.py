"""The funnel view as one Ibis table expression: one row per lead or lead-less opportunity.

The same semantics as :func:`funnelkit.dataset.build_funnel`, written as
relational expressions so that DuckDB, Spark or a warehouse does the row work:

- every lead is a row, paired with its converted opportunity (else one naming
  it); every opportunity no lead claims is a row of its own, entering the
  funnel at the opportunity stage with its own source;
- each stage's time is the earliest of the dates that say the entity entered
  it (its own column, stage history, the opportunity's creation or
  conversion date for the opportunity stage); the won stage counts only when
  the deal's current state is won (or the lead's status says so);
- the furthest stage is the furthest dated stage, or further when the lead's
  status or the deal's stage says so (a lead whose converted flag is false
  counts only up to the stage before the opportunity);
- a stage passed without a date of its own takes the next later stage's time,
  and ``skipped_stages`` counts such stages.

One difference from the in-memory view, by necessity: when a lead has no
opportunity id of its own and several opportunities name it, the engine pairs
it with the one with the smallest id (tables in an engine have no row order;
the in-memory view takes the first in file order).
"""

from __future__ import annotations

import os
import shutil
import weakref
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from .. import schema as s
from ..schema import Stages, stage_column
from ..scratch import scratch_folder
from ._common import calling_ibis

#: the prefix of an opportunity's columns on a funnel row (as in the in-memory view)
OPP = "opp__"
#: the prefix of a stage's first entry read from stage history
EV = "ev_"
LEAD_STATUS_INDEX = "_status_index"

#: lead columns the funnel carries as they are (when the table has them)
LEAD_EXTRAS = (s.FIRST_TOUCH_AT, s.TOUCHES, s.DISQUALIFIED_AT, s.DISQUALIFY_REASON, s.IS_DISQUALIFIED, s.STATUS)


def funnel(
    leads: ir.Table,
    opportunities: ir.Table,
    stages: Stages,
    *,
    history: ir.Table | None = None,
    status_positions: Mapping[str, int] | None = None,
) -> ir.Table:
    """The funnel view over canonical tables, as an Ibis expression (nothing runs yet).

    Parameters
    ----------
    leads, opportunities : ibis Table
        Canonical tables (columns as in :mod:`funnelkit.schema`); timestamps in UTC.
    stages : Stages
    history : ibis Table, optional
        Stage entries read from history exports (``entity_id, entity, stage, at, origin``).
    status_positions : mapping of str to int, optional
        Funnel position of each distinct lead status label (see :func:`status_positions`);
        without it, lead statuses say nothing about progress.

    Returns
    -------
    ibis Table
        Columns: ``entity_id``, ``entity``, ``lead_id``, ``opportunity_id``,
        ``source``, ``source_basis``, ``owner``, one ``<stage>_at`` per stage,
        ``entry_index``, ``furthest_index``, ``furthest_stage``,
        ``skipped_stages``, ``is_closed``, ``is_won``, ``is_lost``,
        ``closed_at``, ``amount``, ``currency``, the leads' ``first_touch_at``,
        ``touches``, ``disqualified_at``, ``disqualify_reason``,
        ``is_disqualified``, ``status`` (where present), ``opportunity_created_at``,
        ``lost_reason`` and the extra attribute columns of both tables.

    Examples
    --------
    >>> import ibis
    >>> leads = ibis.memtable({"lead_id": ["L1"], "created_at": [None], "opportunity_id": [None]},
    ...     schema={"lead_id": "string", "created_at": "timestamp('UTC')", "opportunity_id": "string"})
    >>> opps = ibis.memtable({"opportunity_id": ["O1"], "lead_id": [None]},
    ...     schema={"opportunity_id": "string", "lead_id": "string"})
    >>> view = funnel(leads, opps, Stages())   # an expression: nothing has run yet
    >>> list(view.columns[:6])
    ['entity_id', 'entity', 'lead_id', 'opportunity_id', 'source', 'source_basis']
    """
    rows = _rows(leads, opportunities, stages, history)
    return _funnel_columns(rows, leads.columns, opportunities.columns, stages, status_positions or {})


def status_positions(statuses, stages: Stages) -> dict[str, int]:
    """Funnel position of each distinct status label (labels that map nowhere are left out).

    Examples
    --------
    >>> status_positions(["Open", "Closed - Converted", "Gone fishing"], Stages())
    {'Open': 0, 'Closed - Converted': 3}
    """
    index = {name: i for i, name in enumerate(stages.names)}
    out = {}
    for label in statuses:
        if label is None or label != label:  # missing
            continue
        stage = stages.stage_of(label)
        if stage in index:
            out[str(label)] = index[stage]
    return out


# ------------------------------------------------------------------ rows --


def _first_entries(history: ir.Table | None, entity: str, stages: Stages, key: str) -> ir.Table | None:
    """Earliest history entry per entity and stage, one ``ev_<stage>_at`` column per stage."""
    if history is None:
        return None
    ev = history.filter((history[s.ORIGIN] == "history") & (history[s.ENTITY] == entity))
    ev = ev.filter(ev[s.STAGE].isin(list(stages.names)))
    return ev.group_by(ev[s.ENTITY_ID].name(key)).aggregate(
        **{f"{EV}{stage_column(n)}": ev[s.AT].min(where=ev[s.STAGE] == n) for n in stages.names}
    )


def _rows(leads: ir.Table, opps: ir.Table, stages: Stages, history: ir.Table | None) -> ir.Table:
    """Every lead (with its paired opportunity's columns as ``opp__*``), then each unclaimed opportunity."""
    lead_events = _first_entries(history, "lead", stages, "_ev_lead_id")
    if lead_events is not None:
        leads = leads.left_join(lead_events, leads[s.LEAD_ID] == lead_events["_ev_lead_id"]).drop("_ev_lead_id")
    opp_events = _first_entries(history, "opportunity", stages, "_ev_opportunity_id")
    if opp_events is not None:
        opps = opps.left_join(opp_events, opps[s.OPPORTUNITY_ID] == opp_events["_ev_opportunity_id"])
        opps = opps.drop("_ev_opportunity_id")
    o = opps.rename({f"{OPP}{c}": c for c in opps.columns})
    o_id, o_lead = f"{OPP}{s.OPPORTUNITY_ID}", f"{OPP}{s.LEAD_ID}"

    # Pair each lead with its converted opportunity, else one naming it (smallest id: see the module doc).
    if o_lead in o.columns:
        naming = o.filter(o[o_lead].notnull()).group_by(_lead_key=o[o_lead]).aggregate(_naming=o[o_id].min())
        paired = leads.left_join(naming, leads[s.LEAD_ID] == naming["_lead_key"]).drop("_lead_key")
    else:
        paired = leads.mutate(_naming=ibis.null("string"))
    own = paired[s.OPPORTUNITY_ID] if s.OPPORTUNITY_ID in leads.columns else ibis.null("string")
    paired = paired.mutate(_pair=ibis.coalesce(own, paired["_naming"]))
    lead_rows = paired.left_join(o, paired["_pair"] == o[o_id])

    lead_cols = [c for c in leads.columns if c not in (s.LEAD_ID, s.OPPORTUNITY_ID)]
    opp_cols = [c for c in o.columns if c != o_id]
    lead_part = lead_rows.select(
        entity=ibis.literal("lead"),
        entity_id=lead_rows[s.LEAD_ID],
        **{s.LEAD_ID: lead_rows[s.LEAD_ID], s.OPPORTUNITY_ID: lead_rows[o_id]},
        **{c: lead_rows[c] for c in lead_cols},
        **{c: lead_rows[c] for c in opp_cols},
    )
    # The opportunities a lead row claims, read from the narrow pairing (lead ids only): read from lead_part, the
    # engine would keep all of its wide rows in memory to read them twice (DuckDB materialises such a CTE).
    claims = _pairing(leads, naming if o_lead in o.columns else None)
    orphans = o.anti_join(claims, o[o_id] == claims["_claimed"])
    lead_schema = leads.schema()
    orphan_part = orphans.select(
        entity=ibis.literal("opportunity"),
        entity_id=orphans[o_id],
        **{
            s.LEAD_ID: orphans[o_lead] if o_lead in o.columns else ibis.null("string"),
            s.OPPORTUNITY_ID: orphans[o_id],
        },
        **{c: ibis.null(lead_schema[c]) for c in lead_cols},
        **{c: orphans[c] for c in opp_cols},
    )
    return lead_part.union(orphan_part)


# --------------------------------------------------------------- columns --


def _earliest(candidates: list) -> ir.Value | None:
    """The earliest of the present values (a missing one never wins), as the in-memory view takes it."""
    present = [c for c in candidates if c is not None]
    if not present:
        return None
    out = present[0]
    for other in present[1:]:
        out = ibis.ifelse(other.notnull() & (out.isnull() | (other < out)), other, out)
    return out


def _false_if_missing(value) -> ir.BooleanValue:
    return ibis.literal(False) if value is None else ibis.coalesce(value, False)


def _funnel_columns(rows: ir.Table, lead_columns, opp_columns, stages: Stages, positions) -> ir.Table:
    names = stages.names
    n = len(names)
    opp_index = names.index(stages.opportunity)

    def col(name: str):
        return rows[name] if name in rows.columns else None

    is_lead = rows["entity"] == "lead"
    status_index = _status_index(rows, stages, positions)
    won_now = _false_if_missing(col(f"{OPP}{s.IS_WON}")) | (status_index == n - 1)

    raw = {}
    for i, name in enumerate(names):
        at = stage_column(name)
        candidates = [col(at), col(f"{EV}{at}"), col(f"{OPP}{at}"), col(f"{OPP}{EV}{at}")]
        if i == 0:
            created = col(s.CREATED_AT)
            candidates.insert(0, None if created is None else ibis.ifelse(is_lead, created, ibis.null(created.type())))
        if name == stages.opportunity:
            candidates += [col(f"{OPP}{s.CREATED_AT}"), col(s.CONVERTED_AT)]
        if name == stages.won:
            # the outcome is the deal's current state: history that once read "won" does not make a lost deal won
            candidates.append(col(f"{OPP}{s.CLOSED_AT}"))
            candidates = [None if c is None else ibis.ifelse(won_now, c, ibis.null(c.type())) for c in candidates]
        earliest = _earliest(candidates)
        raw[at] = ibis.null("timestamp('UTC')") if earliest is None else earliest.cast("timestamp('UTC')")
    rows = rows.mutate(**{f"_raw_{at}": value for at, value in raw.items()}, **{LEAD_STATUS_INDEX: status_index})
    raw = {at: rows[f"_raw_{at}"] for at in stages.columns}
    status_index = rows[LEAD_STATUS_INDEX]
    is_lead = rows["entity"] == "lead"

    dated_max = ibis.cases(*((raw[at].notnull(), i) for i, at in reversed(list(enumerate(stages.columns)))), else_=-1)
    stage_index = _stage_index(col(f"{OPP}{s.STAGE}"), stages)
    entry = ibis.ifelse(is_lead, 0, opp_index)
    furthest = ibis.greatest(dated_max, status_index, stage_index, entry)
    furthest = ibis.ifelse(rows[s.OPPORTUNITY_ID].notnull(), ibis.greatest(furthest, opp_index), furthest)

    # A stage passed without a date takes the next later stage's time: the first later date there is.
    # (The in-memory view fills backwards one stage at a time; both give the same times.)
    filled, skipped = {}, []
    for i, at in enumerate(stages.columns):
        later = [raw[c] for c in stages.columns[i + 1 :]]
        if not later:
            filled[at] = raw[at]
            continue
        gap = raw[at].isnull() & (entry <= i) & ibis.coalesce(*later, ibis.null("timestamp('UTC')")).notnull()
        filled[at] = ibis.ifelse(gap, ibis.coalesce(*later), raw[at])
        skipped.append(gap.cast("int64"))

    lead_source, opp_source = col(s.SOURCE), col(f"{OPP}{s.SOURCE}")
    text_null = ibis.null("string")
    lead_source = text_null if lead_source is None else lead_source
    opp_source = text_null if opp_source is None else opp_source
    closed = _false_if_missing(col(f"{OPP}{s.IS_CLOSED}"))
    won = _false_if_missing(col(f"{OPP}{s.IS_WON}"))
    out = {
        "entity_id": rows["entity_id"],
        "entity": rows["entity"],
        s.LEAD_ID: rows[s.LEAD_ID],
        s.OPPORTUNITY_ID: rows[s.OPPORTUNITY_ID],
        s.SOURCE: ibis.coalesce(lead_source, opp_source),
        "source_basis": ibis.cases(
            (lead_source.notnull(), "lead"), (opp_source.notnull(), "opportunity"), else_=text_null
        ),
        s.OWNER: _coalesce_present(col(f"{OPP}{s.OWNER}"), col(s.OWNER), "string"),
        **filled,
        "entry_index": entry.cast("int64"),
        "furthest_index": furthest.cast("int64"),
        "furthest_stage": furthest.substitute({i: name for i, name in enumerate(names)}, else_=names[-1]).cast(
            "string"
        ),
        "skipped_stages": sum(skipped[1:], skipped[0]) if skipped else ibis.literal(0, "int64"),
        s.IS_CLOSED: closed,
        s.IS_WON: won,
        "is_lost": closed & ~won,
        s.CLOSED_AT: _coalesce_present(col(f"{OPP}{s.CLOSED_AT}"), None, "timestamp('UTC')"),
        s.AMOUNT: _coalesce_present(col(f"{OPP}{s.AMOUNT}"), None, "float64"),
        s.CURRENCY: _coalesce_present(col(f"{OPP}{s.CURRENCY}"), None, "string"),
    }
    for extra in LEAD_EXTRAS:
        if extra in rows.columns and extra in lead_columns:
            out[extra] = rows[extra]
    if s.IS_DISQUALIFIED in out:  # opportunity rows have no lead status: not disqualified
        out[s.IS_DISQUALIFIED] = ibis.coalesce(out[s.IS_DISQUALIFIED], False)
    elif s.DISQUALIFIED_AT in out:  # tables built by hand, without the loader's flag
        out[s.IS_DISQUALIFIED] = out[s.DISQUALIFIED_AT].notnull()
    out[f"opportunity_{s.CREATED_AT}"] = _coalesce_present(col(f"{OPP}{s.CREATED_AT}"), None, "timestamp('UTC')")
    out[s.LOST_REASON] = _coalesce_present(col(f"{OPP}{s.LOST_REASON}"), None, "string")
    canonical = set(s.LEAD_COLUMNS) | set(s.OPPORTUNITY_COLUMNS) | set(stages.columns)
    for c in lead_columns:
        if c not in canonical and not c.endswith("_at") and c not in out:
            out[c] = rows[c]
    for c in opp_columns:
        if c not in canonical and not c.endswith("_at") and c not in out:
            out[c] = rows[f"{OPP}{c}"]
    return rows.select(**out)


def _coalesce_present(first, second, dtype: str) -> ir.Value:
    present = [c for c in (first, second) if c is not None]
    if not present:
        return ibis.null(dtype)
    return (present[0] if len(present) == 1 else ibis.coalesce(*present)).cast(dtype)


def _stage_index(stage_names, stages: Stages) -> ir.IntegerValue:
    """Funnel position of an opportunity's stage name (-1 for none or a name off the path, such as lost)."""
    if stage_names is None:
        return ibis.literal(-1, "int64")
    return stage_names.substitute({name: i for i, name in enumerate(stages.names)}, else_=-1).cast("int64")


def _status_index(rows: ir.Table, stages: Stages, positions: Mapping[str, int]) -> ir.IntegerValue:
    """How far each lead's current status says it got; a converted flag that says no caps it."""
    if s.STATUS not in rows.columns or not positions:
        return ibis.literal(-1, "int64")
    index = rows[s.STATUS].substitute(dict(positions), else_=-1).cast("int64")
    if "is_converted" in rows.columns:
        not_converted = ibis.coalesce(rows["is_converted"] == False, False)  # noqa: E712  (missing: no flag)
        cap = stages.names.index(stages.opportunity) - 1
        index = ibis.ifelse(not_converted, ibis.least(index, cap), index)
    return index


def _pairing(leads: ir.Table, naming: ir.Table | None) -> ir.Table:
    """Each lead's paired opportunity id (``_claimed``: its own, else the one naming it), from two narrow columns."""
    ids = leads.select(*[c for c in (s.LEAD_ID, s.OPPORTUNITY_ID) if c in leads.columns])
    own = ids[s.OPPORTUNITY_ID] if s.OPPORTUNITY_ID in ids.columns else ibis.null("string")
    if naming is None:
        return ids.select(_claimed=own).filter(lambda t: t["_claimed"].notnull())
    joined = ids.left_join(naming, ids[s.LEAD_ID] == naming["_lead_key"])
    claimed = (
        ibis.coalesce(joined[s.OPPORTUNITY_ID], joined["_naming"])
        if s.OPPORTUNITY_ID in ids.columns
        else joined["_naming"]
    )
    return joined.select(_claimed=claimed).filter(lambda t: t["_claimed"].notnull())


def kept(view: ir.Table, backend, owner) -> ir.Table:
    """The funnel view computed once and kept for the metrics' queries, for as long as ``owner`` lives.

    On DuckDB it is written to a Parquet file in a temporary folder (removed
    with ``owner``) and read from there: held in memory as a table, its wide
    text columns (names, e-mails, companies) would take twice the memory of
    the whole query that builds it, and ten million leads would not fit; read
    from a file, each query decompresses only the columns it uses. Elsewhere
    (Spark, warehouses) the engine caches it its own way (Ibis ``cache``)
    and fills the cache at once: Spark's cache is lazy, and would otherwise
    be built inside whichever metric reads it first (at 10M leads, a minute
    of joins billed to that metric).

    Its query is compiled with Ibis' selects fused: unfused, DuckDB wrote the
    file faster but held 2.5 times the memory (1M leads: 770 MB at the peak,
    against 310 MB).
    """
    with calling_ibis(fuse_selects=True):
        if backend.name != "duckdb":
            cached = view.cache()
            cached.count().execute()  # reads every partition, so every one is cached now
            return cached
        folder = scratch_folder("funnel")
        weakref.finalize(owner, shutil.rmtree, folder, ignore_errors=True)
        path = os.path.join(folder, "funnel.parquet")
        backend.to_parquet(view, path, row_group_size=KEPT_ROW_GROUP_ROWS, compression=KEPT_COMPRESSION)
        return backend.read_parquet(path)


#: rows per row group of the kept funnel file: DuckDB's writer holds a row group of every column per thread until
#: it is written, so DuckDB's default (122,880) made building the view the peak of a session (measured at 1M leads:
#: 430 MB at work with the default, 330 MB with 30,000, the metrics as fast; 15,000 saved little more)
KEPT_ROW_GROUP_ROWS = 30_000
#: LZ4 for the kept funnel file: the metrics' queries read it 5% faster than DuckDB's default (Snappy) at the same
#: size (10M leads: conversion's three queries 1.77 s on Snappy, 1.68 s on LZ4, 290 MB; uncompressed 1.63 s but
#: 681 MB of TMPDIR; ZSTD 1.96 s, 179 MB)
KEPT_COMPRESSION = "lz4"
