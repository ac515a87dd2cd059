"""The funnel view: one row per lead, or per opportunity that has no lead, declared column by column.

:data:`COLUMNS` is the view's contract: every column's name, dtype and unit
(count, rate, money, days, timestamp, text, flag, ...), once. Metrics refer
to the columns by the constants below, ``present`` and ``plots`` format by
the declared unit, and :func:`check_funnel` holds the built view to the
declaration. Semantics, decided once (README, "Funnel semantics"): a stage
reached without a date of its own takes the next later stage's time; a stage
entered several times counts at its first entry; an opportunity with no lead
enters at the opportunity stage with its own source; a deal's outcome is its
current state (history that once read "won" does not make a lost deal won);
a lead's converted flag, where the export has one, decides over its status.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import schema as s
from ._arrow import coalesce_text, isin, labels, positions
from .errors import SchemaError
from .schema import Stages, stage_column
from .units import Unit


@dataclass(frozen=True)
class Column:
    """One declared column: ``name``, pandas ``dtype``, :class:`Unit` and what it means.

    ``always`` columns are in every funnel view; the others only when the
    export has what they are built from.
    """

    name: str
    dtype: str
    unit: Unit
    description: str
    always: bool = True


# Canonical columns the view carries over from the leads and opportunities tables, named here too so
# that metrics take every funnel column's name from this one declaration.
LEAD_ID = s.LEAD_ID
OPPORTUNITY_ID = s.OPPORTUNITY_ID
SOURCE = s.SOURCE
OWNER = s.OWNER
IS_CLOSED = s.IS_CLOSED
IS_WON = s.IS_WON
CLOSED_AT = s.CLOSED_AT
AMOUNT = s.AMOUNT
CURRENCY = s.CURRENCY
FIRST_TOUCH_AT = s.FIRST_TOUCH_AT
TOUCHES = s.TOUCHES
DISQUALIFIED_AT = s.DISQUALIFIED_AT
DISQUALIFY_REASON = s.DISQUALIFY_REASON
IS_DISQUALIFIED = s.IS_DISQUALIFIED
STATUS = s.STATUS
LOST_REASON = s.LOST_REASON
# Columns the view itself makes.
ENTITY_ID = "entity_id"
ENTITY = "entity"
SOURCE_BASIS = "source_basis"
ENTRY_INDEX = "entry_index"
FURTHEST_INDEX = "furthest_index"
FURTHEST_STAGE = "furthest_stage"
SKIPPED_STAGES = "skipped_stages"
IS_LOST = "is_lost"
OPPORTUNITY_CREATED_AT = "opportunity_created_at"

#: The funnel view, column by column (``<stage>_at`` columns, one per stage, follow ``owner``).
COLUMNS: tuple[Column, ...] = (
    Column(ENTITY_ID, s.TEXT, Unit.ID, "the lead's id, or the opportunity's for a lead-less opportunity"),
    Column(ENTITY, s.TEXT, Unit.TEXT, '"lead" or "opportunity" (an opportunity no lead claims)'),
    Column(s.LEAD_ID, s.TEXT, Unit.ID, "the lead's id (empty for a lead-less opportunity)"),
    Column(s.OPPORTUNITY_ID, s.TEXT, Unit.ID, "the lead's converted opportunity, or the opportunity itself"),
    Column(s.SOURCE, s.TEXT, Unit.TEXT, "original (first-touch) source of the lead, else the opportunity's own"),
    Column(SOURCE_BASIS, s.TEXT, Unit.TEXT, '"lead" or "opportunity": where the source came from'),
    Column(s.OWNER, s.TEXT, Unit.TEXT, "the opportunity's owner, else the lead's"),
    Column(ENTRY_INDEX, "int64", Unit.INDEX, "stage position where the entity entered the funnel"),
    Column(FURTHEST_INDEX, "int64", Unit.INDEX, "position of the furthest stage reached"),
    Column(FURTHEST_STAGE, s.TEXT, Unit.STAGE, "the furthest stage reached"),
    Column(SKIPPED_STAGES, "int64", Unit.COUNT, "stages passed without a date of their own"),
    Column(s.IS_CLOSED, "bool", Unit.FLAG, "the deal is closed (won or lost) now"),
    Column(s.IS_WON, "bool", Unit.FLAG, "the deal is won now"),
    Column(IS_LOST, "bool", Unit.FLAG, "the deal is lost now"),
    Column(s.CLOSED_AT, s.TIMESTAMP, Unit.TIMESTAMP, "when the deal closed (empty while open)"),
    Column(s.AMOUNT, "float64", Unit.MONEY, "the deal's amount in its currency (empty when not given)"),
    Column(s.CURRENCY, s.TEXT, Unit.TEXT, "ISO code of the amount's currency"),
    Column(s.FIRST_TOUCH_AT, s.TIMESTAMP, Unit.TIMESTAMP, "first sales response to the lead", always=False),
    Column(s.TOUCHES, "Float64", Unit.COUNT, "sales touches within 14 days", always=False),
    Column(s.DISQUALIFIED_AT, s.TIMESTAMP, Unit.TIMESTAMP, "when the lead was disqualified", always=False),
    Column(s.DISQUALIFY_REASON, s.TEXT, Unit.TEXT, "why the lead was disqualified", always=False),
    Column(s.IS_DISQUALIFIED, "bool", Unit.FLAG, "disqualified, rejected or recycled (dated or not)", always=False),
    Column(s.STATUS, s.TEXT, Unit.TEXT, "the lead's current status label in the CRM", always=False),
    Column(OPPORTUNITY_CREATED_AT, s.TIMESTAMP, Unit.TIMESTAMP, "when the opportunity was created"),
    Column(s.LOST_REASON, s.TEXT, Unit.TEXT, "why the deal was lost"),
)

BY_NAME = {c.name: c for c in COLUMNS}


def declared(stages: Stages) -> dict[str, Column]:
    """Every declared column of the funnel view of ``stages``, in order."""
    out = {}
    for column in COLUMNS:
        out[column.name] = column
        if column.name == s.OWNER:
            for name in stages.names:
                out[stage_column(name)] = Column(
                    stage_column(name), s.TIMESTAMP, Unit.TIMESTAMP, f"entry into the {name} stage"
                )
    return out


def unit_of(name: str) -> Unit | None:
    """The declared unit of a funnel column (``<stage>_at`` columns are timestamps)."""
    if name in BY_NAME:
        return BY_NAME[name].unit
    return Unit.TIMESTAMP if name.endswith("_at") else None


def entry_times(funnel: pd.DataFrame, stages: Stages) -> pd.Series:
    """When each entity entered the funnel: its time at its entry stage (NaT when undated)."""
    times = np.column_stack([funnel[c].to_numpy(dtype="datetime64[ns]") for c in stages.columns])
    at = times[np.arange(len(funnel)), funnel[ENTRY_INDEX].to_numpy()]
    return pd.Series(at, index=funnel.index).dt.tz_localize("UTC")


def check_funnel(frame: pd.DataFrame, stages: Stages) -> pd.DataFrame:
    """The funnel view, after checking it against :data:`COLUMNS` (names and dtypes).

    A mismatch is a defect of funnelkit, not of the data: the error says so.
    """
    problems = []
    for name, column in declared(stages).items():
        if name not in frame:
            if column.always:
                problems.append(f"{name} is missing")
            continue
        if str(frame[name].dtype) != column.dtype:
            problems.append(f"{name} is {frame[name].dtype}, declared {column.dtype}")
    if problems:
        raise SchemaError(
            "the funnel view does not match its declaration (a funnelkit defect; please report it): "
            + "; ".join(problems)
        )
    return frame


def _earliest(*series: pd.Series | None) -> pd.Series | None:
    present = [x for x in series if x is not None]
    if not present:
        return None
    out = present[0]
    for other in present[1:]:
        out = out.where(out.notna() & ~(other < out), other)
    return out


def _first_entries(events: pd.DataFrame, entity: str, stage_names) -> pd.DataFrame:
    """Earliest entry time per entity and stage (recycled entries count once)."""
    # snapshot events repeat the tables' own timestamps; only history adds information
    ev = events[(events[s.ORIGIN] == "history") & (events[s.ENTITY] == entity)]
    ev = ev[ev[s.STAGE].isin(stage_names)]
    if ev.empty:
        return pd.DataFrame()
    first = ev.groupby([s.ENTITY_ID, s.STAGE], observed=True)[s.AT].min().unstack(s.STAGE)
    return first.rename(columns=stage_column)


def build_funnel(
    leads: pd.DataFrame, opportunities: pd.DataFrame, events: pd.DataFrame, stages: Stages
) -> pd.DataFrame:
    """Join leads to their opportunities and lay out stage times side by side.

    Semantics (documented in the README): a stage reached without a date of its
    own takes the next later stage's time; a stage entered several times counts
    at its first entry; an opportunity with no lead enters at the opportunity
    stage and takes its own source.
    """
    names = stages.names
    opp_index = names.index(stages.opportunity)
    opps = opportunities

    lead_events = _first_entries(events, "lead", names)
    if not lead_events.empty:
        leads = leads.join(lead_events.add_prefix("ev_"), on=s.LEAD_ID)
    opp_events = _first_entries(events, "opportunity", names)
    if not opp_events.empty:
        opps = opps.join(opp_events.add_prefix("ev_"), on=s.OPPORTUNITY_ID)

    # Pair each lead with one opportunity: its converted opportunity, else one naming it.
    by_lead = opps.loc[opps[s.LEAD_ID].notna()].drop_duplicates(s.LEAD_ID)
    pairing = leads[[s.LEAD_ID, s.OPPORTUNITY_ID]]
    naming = positions(pairing[s.LEAD_ID], by_lead[s.LEAD_ID])
    fallback = labels(naming, by_lead[s.OPPORTUNITY_ID].to_numpy(), pairing.index)
    opp_ids = coalesce_text(pairing[s.OPPORTUNITY_ID], fallback)
    opp_at = positions(opp_ids, opps[s.OPPORTUNITY_ID])  # opportunity ids are unique: one row each
    paired = opp_ids.where(opp_at >= 0)
    orphan_at = np.flatnonzero(~isin(opps[s.OPPORTUNITY_ID], paired.dropna()))
    rows = _FunnelRows(leads, opps, paired, opp_at, orphan_at)
    opp_cols = {c: f"opp__{c}" for c in opps.columns if c != s.OPPORTUNITY_ID}
    is_lead = np.arange(len(rows.index)) < len(leads)

    def col(name: str) -> pd.Series | None:
        return rows[name] if name in rows.columns else None

    n_stages = len(names)
    times = {}
    for i, name in enumerate(names):
        at = stage_column(name)
        candidates = [col(at), col(f"ev_{at}"), col(f"opp__{at}"), col(f"opp__ev_{at}")]
        if i == 0:
            candidates.insert(0, col(s.CREATED_AT).where(is_lead))
        if name == stages.opportunity:
            candidates += [col(f"opp__{s.CREATED_AT}"), col(s.CONVERTED_AT)]
        if name == stages.won:
            # the outcome is the deal's current state: history that once read "won" does not make a
            # deal that is lost now a won one (the back-and-forth is for stage_durations)
            won = _bool(col(f"opp__{s.IS_WON}"), rows.index) | (_lead_status_positions(rows, stages) == n_stages - 1)
            candidates = [None if c is None else c.where(won) for c in candidates]
            candidates.append(_coalesce(col(f"opp__{s.CLOSED_AT}"), None, rows.index, dtype=s.TIMESTAMP).where(won))
        series = _earliest(*candidates)
        times[at] = as_utc(series) if series is not None else pd.Series(pd.NaT, index=rows.index, dtype=s.TIMESTAMP)

    n = len(names)
    dated_max = np.full(len(rows.index), -1)
    for i, at in enumerate(stages.columns):
        dated_max[times[at].notna().to_numpy()] = i

    label_index = np.maximum(_lead_status_positions(rows, stages), _positions(col(f"opp__{s.STAGE}"), stages))
    has_opp = rows[s.OPPORTUNITY_ID].notna().to_numpy()
    entry = np.where(is_lead, 0, opp_index)
    furthest = np.maximum(np.maximum(dated_max, np.asarray(label_index)), entry)
    furthest[has_opp] = np.maximum(furthest[has_opp], opp_index)

    # Fill skipped stages backwards with the next later stage's time.
    skipped = np.zeros(len(rows.index), dtype=int)
    for i in range(n - 2, -1, -1):
        at, later = stages.columns[i], stages.columns[i + 1]
        gap = times[at].isna().to_numpy() & (entry <= i) & (furthest >= i) & times[later].notna().to_numpy()
        skipped += gap
        times[at] = times[at].where(~gap, times[later])

    out = pd.DataFrame(
        {
            ENTITY_ID: rows[ENTITY_ID].astype(s.TEXT),  # ids are text, also in tables built by hand
            ENTITY: rows[ENTITY],
            s.LEAD_ID: rows[s.LEAD_ID].astype(s.TEXT),
            s.OPPORTUNITY_ID: rows[s.OPPORTUNITY_ID].astype(s.TEXT),
        }
    )
    lead_source = col(s.SOURCE)
    opp_source = col(f"opp__{s.SOURCE}")
    if lead_source is None:
        lead_source = pd.Series(pd.NA, index=rows.index, dtype="str")
    if opp_source is None:
        opp_source = pd.Series(pd.NA, index=rows.index, dtype="str")
    out[s.SOURCE] = coalesce_text(lead_source, opp_source)
    basis = np.where(lead_source.notna(), 0, np.where(opp_source.notna(), 1, -1))
    out[SOURCE_BASIS] = labels(basis, ["lead", "opportunity"], rows.index)
    lead_owner, opp_owner = col(s.OWNER), col(f"opp__{s.OWNER}")
    out[s.OWNER] = _coalesce(opp_owner, lead_owner, rows.index)
    for at in stages.columns:
        out[at] = times[at]
    out[ENTRY_INDEX] = entry
    out[FURTHEST_INDEX] = furthest
    out[FURTHEST_STAGE] = labels(np.clip(furthest, 0, n - 1), names, rows.index)
    out[SKIPPED_STAGES] = skipped
    closed = _bool(col(f"opp__{s.IS_CLOSED}"), rows.index)
    won = _bool(col(f"opp__{s.IS_WON}"), rows.index)
    out[s.IS_CLOSED] = closed
    out[s.IS_WON] = won
    out[IS_LOST] = closed & ~won
    out[s.CLOSED_AT] = _coalesce(col(f"opp__{s.CLOSED_AT}"), None, rows.index, dtype=s.TIMESTAMP)
    out[s.AMOUNT] = _coalesce(col(f"opp__{s.AMOUNT}"), None, rows.index, dtype="float64")
    out[s.CURRENCY] = _coalesce(col(f"opp__{s.CURRENCY}"), None, rows.index)
    for extra in (s.FIRST_TOUCH_AT, s.TOUCHES, s.DISQUALIFIED_AT, s.DISQUALIFY_REASON, s.IS_DISQUALIFIED, s.STATUS):
        if extra in rows.columns:  # in its declared dtype, also for tables built by hand
            # (the flag is typed below: missing on opportunity rows, which astype(bool) would read as True)
            keep = extra == s.IS_DISQUALIFIED
            out[extra] = rows[extra] if keep else rows[extra].astype(BY_NAME[extra].dtype)
    if s.IS_DISQUALIFIED in out:  # opportunity rows have no lead status: not disqualified
        out[s.IS_DISQUALIFIED] = out[s.IS_DISQUALIFIED].fillna(False).astype(bool)
    elif s.DISQUALIFIED_AT in out:  # tables built by hand, without the loader's flag
        out[s.IS_DISQUALIFIED] = out[s.DISQUALIFIED_AT].notna()
    out[OPPORTUNITY_CREATED_AT] = _coalesce(col(f"opp__{s.CREATED_AT}"), None, rows.index, dtype=s.TIMESTAMP)
    out[s.LOST_REASON] = _coalesce(col(f"opp__{s.LOST_REASON}"), None, rows.index)
    canonical = set(s.LEAD_COLUMNS) | set(s.OPPORTUNITY_COLUMNS) | set(stages.columns)
    for c in leads.columns:
        if c not in canonical and not c.endswith("_at") and c not in out.columns:
            out[c] = rows[c]
    for c in opps.columns:
        if c not in canonical and not c.startswith("ev_") and not c.endswith("_at") and c not in out.columns:
            out[c] = rows[opp_cols[c]]
    return out


def _positions(stage_names: pd.Series | None, stages: Stages) -> np.ndarray:
    """Funnel position of each stage name (-1 for none or a name outside the path, such as lost)."""
    if stage_names is None:
        return np.array(-1)
    position = {name: i for i, name in enumerate(stages.names)}
    codes, uniques = pd.factorize(stage_names)
    return np.array([position.get(u, -1) for u in uniques] + [-1])[codes]  # once per distinct name


def _lead_status_positions(rows, stages: Stages) -> np.ndarray:
    """How far each lead's current status says it got.

    Where the export has a converted flag, it decides conversion: a status that
    reads converted on a lead flagged not converted counts only up to the stage
    before the opportunity (the load notes how many such leads there are).
    """
    if s.STATUS not in rows.columns:
        return np.full(len(rows.index), -1)
    positions = _positions(stages.map_labels(rows[s.STATUS]), stages)
    if "is_converted" in rows.columns:
        not_converted = (rows["is_converted"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712  (NA: no flag)
        opportunity = stages.names.index(stages.opportunity)
        positions = np.where(not_converted, np.minimum(positions, opportunity - 1), positions)
    return positions


class _FunnelRows:
    """The funnel's rows, every lead and then each opportunity no lead claims, one column at a time.

    Joining the leads and opportunities as wide frames would copy every attribute
    column; the funnel view needs each column once. A column is looked up by
    name: a lead column (empty on opportunity rows) or ``opp__<column>``, taken
    from each row's opportunity, plus ``entity``, ``entity_id``, ``lead_id`` and
    ``opportunity_id`` for both kinds of row.
    """

    def __init__(self, leads, opps, lead_opp_ids: pd.Series, opp_at: np.ndarray, orphan_at: np.ndarray):
        self._leads, self._opps = leads.reset_index(drop=True), opps.reset_index(drop=True)
        self._orphans = len(orphan_at)
        self.index = pd.RangeIndex(len(leads) + self._orphans)
        self._opp_rows = np.concatenate([opp_at, orphan_at])
        orphans = self._opps.iloc[orphan_at]
        self._taken = {  # columns built so far, by name
            "entity": labels(np.repeat([0, 1], [len(leads), self._orphans]), ["lead", "opportunity"], self.index),
            "entity_id": self._stack(self._leads[s.LEAD_ID], orphans[s.OPPORTUNITY_ID]),
            s.LEAD_ID: self._stack(self._leads[s.LEAD_ID], orphans[s.LEAD_ID]),
            s.OPPORTUNITY_ID: self._stack(lead_opp_ids.reset_index(drop=True), orphans[s.OPPORTUNITY_ID]),
        }
        self.columns = [
            *self._taken,
            *(c for c in self._leads.columns if c not in self._taken),
            *(f"opp__{c}" for c in self._opps.columns if c != s.OPPORTUNITY_ID),
        ]

    def __getitem__(self, name: str) -> pd.Series:
        if name not in self._taken:
            if name.startswith("opp__"):
                column = self._opps[name.removeprefix("opp__")].array
                taken = pd.api.extensions.take(column, self._opp_rows, allow_fill=True)
                self._taken[name] = pd.Series(taken, index=self.index)
            else:
                self._taken[name] = self._stack(self._leads[name], None)
        return self._taken[name]

    def _stack(self, lead_part: pd.Series, orphan_part: pd.Series | None) -> pd.Series:
        if not self._orphans:
            return lead_part.set_axis(self.index)
        if orphan_part is None:
            orphan_part = lead_part.iloc[:0].reindex(range(self._orphans))  # missing, in the column's dtype
        return pd.concat([lead_part, orphan_part], ignore_index=True)


def as_utc(series: pd.Series) -> pd.Series:
    """The series as ``datetime64[ns, UTC]`` (naive values are taken as UTC)."""
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series).dt.tz_localize("UTC")
    return series.astype(s.TIMESTAMP)


def _bool(series: pd.Series | None, index) -> pd.Series:
    if series is None:
        return pd.Series(False, index=index)
    return series.fillna(False).astype(bool)


def _coalesce(first: pd.Series | None, second: pd.Series | None, index, dtype="str") -> pd.Series:
    if dtype == s.TIMESTAMP:
        first, second = (None if x is None else as_utc(x) for x in (first, second))
    if first is None and second is None:
        return pd.Series(pd.NA if dtype == "str" else np.nan, index=index).astype(dtype)
    if first is None:
        return second.astype(dtype)
    if second is None:
        return first.astype(dtype)
    if dtype == "str":
        return coalesce_text(first, second)
    return first.where(first.notna(), second).astype(dtype)


def first_stage_entries(f: pd.DataFrame, ev: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """First entry time per stage (columns) for each row of the funnel view (same order), from the stage log.

    An opportunity's entries belong to the lead it came from, so the lead's
    SQL date and its opportunity's creation sit on one row. Ids are matched
    with Arrow's hash lookup and the minimum taken over integer codes: this
    runs over every stage event (1.7 million at 1M leads), where a pandas
    group-by on the text ids took seconds.
    """
    stage = positions(ev["stage"], pd.Series(names, dtype="str"))  # -1: a stage not in the funnel
    from_opportunity = (ev[ENTITY] == "opportunity").to_numpy(dtype=bool)
    ids = ev[ENTITY_ID]
    row = np.empty(len(ev), dtype=np.int64)  # -1: an event of no funnel row
    row[from_opportunity] = positions(ids[from_opportunity], f[OPPORTUNITY_ID])
    row[~from_opportunity] = positions(ids[~from_opportunity], f[ENTITY_ID])
    at = ev["at"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    keep = (stage >= 0) & (row >= 0) & (at != np.iinfo(np.int64).min)
    first = np.full((len(f), len(names)), np.iinfo(np.int64).max)
    np.minimum.at(first, (row[keep], stage[keep]), at[keep])
    first[first == np.iinfo(np.int64).max] = np.iinfo(np.int64).min  # NaT: the stage has no entry
    return pd.DataFrame(
        {name: pd.DatetimeIndex(first[:, i].view("datetime64[ns]")).tz_localize("UTC") for i, name in enumerate(names)}
    ).astype(s.TIMESTAMP)
