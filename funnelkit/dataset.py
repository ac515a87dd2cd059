"""The loaded dataset and its funnel view (one row per lead or lead-less opportunity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from . import schema as s
from ._arrow import coalesce_text, isin, labels, positions
from .schema import Stages, stage_column

FUNNEL_KEYS = ["entity_id", "entity", s.LEAD_ID, s.OPPORTUNITY_ID]


@dataclass(frozen=True)
class LoadSummary:
    """Row accounting per file: ``rows_read == rows_kept + rows_quarantined``.

    ``table`` columns: ``file``, ``adapter``, ``locale`` (the language of the
    export's labels: ``en``, or the locale preset it was read with, such as
    ``zh-CN``; empty for a mapping), ``table`` (leads, opportunities,
    history), ``rows_read``, ``rows_kept``, ``rows_quarantined``,
    ``footer_lines`` (report footer lines recognised and set aside),
    ``encoding``, ``delimiter``, ``date_order`` (how ambiguous dates were read).
    """

    table: pd.DataFrame

    @property
    def balanced(self) -> bool:
        t = self.table
        return bool((t["rows_read"] == t["rows_kept"] + t["rows_quarantined"]).all())

    def __str__(self) -> str:
        return self.table.to_string(index=False)

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False)


@dataclass(frozen=True)
class Dataset:
    """Everything :func:`funnelkit.load` read, in the canonical model.

    Attributes
    ----------
    leads, opportunities : pandas.DataFrame
        The canonical tables (columns documented in :mod:`funnelkit.schema`).
    history : pandas.DataFrame
        Stage entries read from history exports (Salesforce OpportunityHistory,
        HubSpot "Date entered" columns), in the events table's columns; often
        empty. :attr:`events` adds the entries implied by stage timestamps.
    quarantine : pandas.DataFrame
        One row per failing value: ``file, line, column, value, reason, detail``.
    summary : LoadSummary
        Rows read, kept and quarantined per file.
    stages : Stages
        The funnel's stages.
    as_of : pandas.Timestamp
        The moment results are computed against (censoring, cohort maturity).
        Defaults to the latest timestamp in the data, never the machine's clock.
    notes : list of str
        Plain-language remarks from loading (assumptions, stage skips, ...).
    """

    leads: pd.DataFrame
    opportunities: pd.DataFrame
    history: pd.DataFrame = field(default_factory=lambda: empty_history())
    quarantine: pd.DataFrame = field(default_factory=s.empty_quarantine)
    summary: LoadSummary = field(default_factory=lambda: LoadSummary(pd.DataFrame()))
    stages: Stages = field(default_factory=Stages)
    as_of: pd.Timestamp | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.as_of is None:
            object.__setattr__(self, "as_of", latest_timestamp(self))
        else:
            object.__setattr__(self, "as_of", to_utc_timestamp(self.as_of))

    @cached_property
    def funnel(self) -> pd.DataFrame:
        """One row per funnel entity (a lead, or an opportunity with no lead).

        Columns: ``entity_id``, ``entity`` ("lead"/"opportunity"), ``lead_id``,
        ``opportunity_id``, ``source``, ``source_basis`` ("lead": original
        source of the lead; "opportunity": the opportunity's own source),
        ``owner``, one ``<stage>_at`` per funnel stage (skipped stages filled
        with the next later stage's time), ``entry_index`` (stage position where
        the entity entered the funnel), ``furthest_index`` (furthest stage
        reached), ``furthest_stage``, ``skipped_stages`` (stages passed without
        a date of their own), ``is_closed``, ``is_won``, ``is_lost``,
        ``closed_at``, ``amount``, ``currency``, ``first_touch_at``, ``touches``,
        and the leads' and opportunities' extra attribute columns.
        """
        return build_funnel(self.leads, self.opportunities, self.history, self.stages)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The long stage log: ``entity_id``, ``entity``, ``stage``, ``stage_label``, ``at``,
        ``origin`` ("history" from history exports; "snapshot" derived from stage timestamps
        for entities without history). Built on first use: it repeats the tables' dates."""
        return snapshot_events(self.leads, self.opportunities, self.history, self.stages)

    def reached(self, stage: str) -> pd.Series:
        """Boolean mask over :attr:`funnel`: entities that reached ``stage``."""
        i = self.stages.index(stage)
        f = self.funnel
        return (f["entry_index"] <= i) & (f["furthest_index"] >= i)

    def with_as_of(self, as_of) -> Dataset:
        """A copy computed against another as-of moment."""
        return Dataset(
            self.leads,
            self.opportunities,
            self.history,
            self.quarantine,
            self.summary,
            self.stages,
            to_utc_timestamp(as_of),
            self.notes,
        )

    def __repr__(self) -> str:
        return (
            f"<funnelkit.Dataset: {len(self.leads):,} leads, {len(self.opportunities):,} "
            f"opportunities, {len(self.history):,} history events, {len(self.quarantine):,} quarantined "
            f"values; stages {' > '.join(self.stages.names)}; as of {self.as_of}>"
        )


def to_utc_timestamp(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def latest_timestamp(data: Dataset) -> pd.Timestamp | None:
    latest = []
    for frame in (data.leads, data.opportunities, data.history):
        for col in frame.columns:
            if col == s.EXPECTED_CLOSE_AT:  # a plan, not something that happened
                continue
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype) and frame[col].notna().any():
                latest.append(frame[col].max())
    return max(latest) if latest else None


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
            "entity_id": rows["entity_id"].astype("str"),
            "entity": rows["entity"],
            s.LEAD_ID: rows[s.LEAD_ID],
            s.OPPORTUNITY_ID: rows[s.OPPORTUNITY_ID],
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
    out["source_basis"] = labels(basis, ["lead", "opportunity"], rows.index)
    lead_owner, opp_owner = col(s.OWNER), col(f"opp__{s.OWNER}")
    out[s.OWNER] = _coalesce(opp_owner, lead_owner, rows.index)
    for at in stages.columns:
        out[at] = times[at]
    out["entry_index"] = entry
    out["furthest_index"] = furthest
    out["furthest_stage"] = labels(np.clip(furthest, 0, n - 1), names, rows.index)
    out["skipped_stages"] = skipped
    closed = _bool(col(f"opp__{s.IS_CLOSED}"), rows.index)
    won = _bool(col(f"opp__{s.IS_WON}"), rows.index)
    out[s.IS_CLOSED] = closed
    out[s.IS_WON] = won
    out["is_lost"] = closed & ~won
    out[s.CLOSED_AT] = _coalesce(col(f"opp__{s.CLOSED_AT}"), None, rows.index, dtype=s.TIMESTAMP)
    out[s.AMOUNT] = _coalesce(col(f"opp__{s.AMOUNT}"), None, rows.index, dtype="float64")
    out[s.CURRENCY] = _coalesce(col(f"opp__{s.CURRENCY}"), None, rows.index)
    for extra in (s.FIRST_TOUCH_AT, s.TOUCHES, s.DISQUALIFIED_AT, s.DISQUALIFY_REASON, s.IS_DISQUALIFIED, s.STATUS):
        if extra in rows.columns:
            out[extra] = rows[extra]
    if s.IS_DISQUALIFIED in out:  # opportunity rows have no lead status: not disqualified
        out[s.IS_DISQUALIFIED] = out[s.IS_DISQUALIFIED].fillna(False).astype(bool)
    elif s.DISQUALIFIED_AT in out:  # tables built by hand, without the loader's flag
        out[s.IS_DISQUALIFIED] = out[s.DISQUALIFIED_AT].notna()
    out[f"opportunity_{s.CREATED_AT}"] = _coalesce(col(f"opp__{s.CREATED_AT}"), None, rows.index, dtype=s.TIMESTAMP)
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


def empty_history() -> pd.DataFrame:
    """An events table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype="str") for c in s.EVENT_COLUMNS}).astype({s.AT: s.TIMESTAMP})


def snapshot_events(leads, opps, history: pd.DataFrame, stages: Stages) -> pd.DataFrame:
    """History entries, plus entries derived from stage timestamps for entities without history."""
    parts = [history] if len(history) else []
    have_history = history[s.ENTITY_ID].drop_duplicates() if len(history) else pd.Series([], dtype="str")
    for name in stages.names:
        col = stage_column(name)
        for entity, frame, id_col in (
            ("lead", leads, s.LEAD_ID),
            ("opportunity", opps, s.OPPORTUNITY_ID),
        ):
            stamps = None
            if col in frame:
                stamps = frame[col]
            if name == stages.first and entity == "lead":
                stamps = frame[s.CREATED_AT] if stamps is None else stamps.fillna(frame[s.CREATED_AT])
            if name == stages.opportunity and entity == "opportunity":
                stamps = frame[s.CREATED_AT] if stamps is None else stamps.fillna(frame[s.CREATED_AT])
            if name == stages.won and entity == "opportunity" and len(frame):
                won_at = frame[s.CLOSED_AT].where(frame[s.IS_WON])
                stamps = won_at if stamps is None else stamps.fillna(won_at)
            if stamps is None or not len(frame):
                continue
            present = stamps.notna().to_numpy()
            if entity == "opportunity" and len(have_history):
                present = present & ~isin(frame[id_col], have_history)
            parts.append(_snapshot(frame[id_col], stamps, present, entity, name))
    if len(opps):
        lost = (opps[s.IS_CLOSED] & ~opps[s.IS_WON]).to_numpy() & opps[s.CLOSED_AT].notna().to_numpy()
        if len(have_history):
            lost = lost & ~isin(opps[s.OPPORTUNITY_ID], have_history)
        parts.append(_snapshot(opps[s.OPPORTUNITY_ID], opps[s.CLOSED_AT], lost, "opportunity", stages.lost))
    if not parts:
        return empty_history()
    events = pd.concat(parts, ignore_index=True)[s.EVENT_COLUMNS]
    events[s.AT] = events[s.AT].astype(s.TIMESTAMP)
    return events


def _snapshot(ids, stamps, present, entity, stage) -> pd.DataFrame:
    n = int(present.sum())
    return pd.DataFrame(
        {
            s.ENTITY_ID: ids[present].array,
            s.ENTITY: pd.Series(entity, index=range(n), dtype="str").array,
            s.STAGE: pd.Series(stage, index=range(n), dtype="str").array,
            s.STAGE_LABEL: pd.Series(stage, index=range(n), dtype="str").array,
            s.AT: stamps[present].array,
            s.ORIGIN: "snapshot",
        }
    )
