"""The loaded dataset and its funnel view (one row per lead or lead-less opportunity)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from . import schema as s
from ._arrow import isin
from .errors import ParameterError
from .funnel import build_funnel, check_funnel, entry_times, first_stage_entries
from .schema import Stages, stage_column


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
        for name, columns in (("leads", s.LEAD_COLUMNS), ("opportunities", s.OPPORTUNITY_COLUMNS)):
            table = getattr(self, name)
            if not len(table):  # an export without this table: its columns, no rows
                object.__setattr__(self, name, s.conform(table, columns))
        if self.as_of is None:
            object.__setattr__(self, "as_of", latest_timestamp(self))
        else:
            object.__setattr__(self, "as_of", to_utc_timestamp(self.as_of))

    @cached_property
    def funnel(self) -> pd.DataFrame:
        """One row per funnel entity (a lead, or an opportunity with no lead).

        Its columns, their dtypes and units are declared once in
        :data:`funnelkit.funnel.COLUMNS` (see :mod:`funnelkit.funnel`), and the
        view is checked against that declaration when it is built; the leads'
        and opportunities' extra attribute columns follow.
        """
        return check_funnel(build_funnel(self.leads, self.opportunities, self.history, self.stages), self.stages)

    @cached_property
    def funnel_columns(self) -> list[str]:
        """The columns of :attr:`funnel`, named without building it (the view of no rows has the same columns).

        Parameter checks read these, so naming a ``by`` column never builds a
        funnel view that the metrics, running on DuckDB, do not need.
        """
        if "funnel" in self.__dict__:
            return list(self.funnel.columns)
        empty = build_funnel(self.leads.iloc[:0], self.opportunities.iloc[:0], self.history.iloc[:0], self.stages)
        return list(check_funnel(empty, self.stages).columns)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The long stage log: ``entity_id``, ``entity``, ``stage``, ``stage_label``, ``at``,
        ``origin`` ("history" from history exports; "snapshot" derived from stage timestamps
        for entities without history). Built on first use: it repeats the tables' dates."""
        return snapshot_events(self.leads, self.opportunities, self.history, self.stages)

    @cached_property
    def stage_entries(self) -> pd.DataFrame:
        """First entry time per stage (columns), for each row of :attr:`funnel` (same order), from :attr:`events`.

        Unlike the funnel's stage columns, a stage the log has no date for
        stays empty (it is not filled from the next stage's date).
        """
        return first_stage_entries(self.funnel, self.events, list(self.stages.names))

    def reached(self, stage: str) -> pd.Series:
        """Boolean mask over :attr:`funnel`: entities that reached ``stage``."""
        i = self.stages.index(stage)
        f = self.funnel
        return (f["entry_index"] <= i) & (f["furthest_index"] >= i)

    def filter(self, mask=None, **equals) -> Dataset:
        """The funnel entities that match, as a Dataset every metric accepts.

        Parameters
        ----------
        mask : boolean Series over :attr:`funnel`, or a function of the funnel returning one, optional
        **equals
            ``column=value`` or ``column=[values]`` over funnel columns (``source``,
            ``owner``, a segment such as ``industry``); all conditions must hold.

        Returns
        -------
        Dataset
            The leads, opportunities and history of the matching entities (a lead
            keeps its opportunity), with the same ``as_of`` and a note saying
            what was kept.

        Examples
        --------
        >>> import funnelkit as fk
        >>> data = fk.load("tests/data/salesforce_report", cache=False)
        >>> web = data.filter(source="Web")
        >>> len(web.funnel), int(web.funnel["is_won"].sum())
        (3, 0)
        """
        f = self.funnel
        keep = np.ones(len(f), dtype=bool)
        if mask is not None:
            keep &= _mask(mask(f) if callable(mask) else mask, f)
        for column, wanted in equals.items():
            if column not in f:
                raise ParameterError(
                    f"filter: {column!r} is not a column of the funnel; choose from {_choices(f)}"
                    f"{_suggest(column, f.columns)}"
                )
            values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            keep &= f[column].isin(values).to_numpy()
        said = ", ".join(f"{c} in {v!r}" if isinstance(v, (list, tuple, set)) else f"{c} = {v!r}"
                         for c, v in equals.items()) or "a mask"  # fmt: skip
        return self._subset(keep, f"filtered to {said}: {int(keep.sum()):,} of {len(f):,} funnel entities")

    def between(self, start=None, end=None) -> Dataset:
        """The entities that entered the funnel in ``[start, end)`` (UTC; either may be None).

        An entity enters at its first stage: a lead when it was created, an
        opportunity without a lead when it was created. Entities without an
        entry date are left out (the note counts them).

        Examples
        --------
        >>> import funnelkit as fk
        >>> data = fk.load("tests/data/salesforce_report", cache=False)
        >>> len(data.between("2025-02-01", "2025-03-01").funnel)
        2
        """
        f = self.funnel
        entered = entry_times(f, self.stages)
        keep = entered.notna().to_numpy().copy()
        if start is not None:
            keep &= (entered >= to_utc_timestamp(start)).to_numpy()
        if end is not None:
            keep &= (entered < to_utc_timestamp(end)).to_numpy()
        undated = int(entered.isna().sum())
        said = f"entered the funnel from {start or 'the start'} to {end or 'the end'} (end excluded)"
        note = f"filtered to entities that {said}: {int(keep.sum()):,} of {len(f):,}"
        return self._subset(keep, note + (f"; {undated:,} without an entry date left out" if undated else ""))

    def _subset(self, keep: np.ndarray, note: str) -> Dataset:
        f = self.funnel
        lead_ids = f[s.LEAD_ID][keep].dropna()
        opp_ids = f[s.OPPORTUNITY_ID][keep].dropna()
        leads = self.leads[isin(self.leads[s.LEAD_ID], lead_ids)]
        opps = self.opportunities[isin(self.opportunities[s.OPPORTUNITY_ID], opp_ids)]
        history = self.history[isin(self.history[s.ENTITY_ID], pd.concat([lead_ids, opp_ids]))]
        return replace(self, leads=leads, opportunities=opps, history=history, notes=(*self.notes, note))

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

    def _repr_html_(self) -> str:
        """The notebook view: what was loaded, rows read = kept + quarantined per file, and the load's notes."""
        from . import markup
        from .present import load_summary_html  # present imports the metrics, which import this module
        from .safety import escape

        as_of = self.as_of.strftime("%Y-%m-%d %H:%M UTC") if self.as_of is not None else "no dated row"
        head = markup.paragraph_html(
            markup.bold("funnelkit Dataset")
            + escape(
                f": {len(self.leads):,} leads, {len(self.opportunities):,} opportunities, {len(self.history):,} "
                f"history events; stages {' > '.join(self.stages.names)}; as of {as_of}; "
                f"{len(self.quarantine):,} values quarantined."
            )
        )
        return head + (load_summary_html(self) if len(self.summary.table) else "")

    def __repr__(self) -> str:
        return (
            f"<funnelkit.Dataset: {len(self.leads):,} leads, {len(self.opportunities):,} "
            f"opportunities, {len(self.history):,} history events, {len(self.quarantine):,} quarantined "
            f"values; stages {' > '.join(self.stages.names)}; as of {self.as_of}>"
        )


def to_utc_timestamp(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _mask(mask, funnel: pd.DataFrame) -> np.ndarray:
    if not isinstance(mask, (pd.Series, np.ndarray)) or len(mask) != len(funnel):
        raise ParameterError(f"filter: mask must be a boolean Series over data.funnel ({len(funnel):,} rows)")
    values = mask.to_numpy() if isinstance(mask, pd.Series) else mask
    if values.dtype != bool:
        raise ParameterError(f"filter: mask must hold True/False values; got dtype {values.dtype}")
    return values


def _choices(funnel: pd.DataFrame) -> list[str]:
    return [c for c in funnel.columns if not c.endswith(("_at", "_index", "_id"))]


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def latest_timestamp(data: Dataset) -> pd.Timestamp | None:
    latest = []
    for frame in (data.leads, data.opportunities, data.history):
        for col in frame.columns:
            if col == s.EXPECTED_CLOSE_AT:  # a plan, not something that happened
                continue
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype) and frame[col].notna().any():
                latest.append(frame[col].max())
    return max(latest) if latest else None


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
