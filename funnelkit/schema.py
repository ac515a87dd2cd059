"""The canonical funnel model: table columns, their types, and the funnel stages.

Every adapter turns an export into these tables; every metric reads only these.

leads (one row per lead)
    ``lead_id`` (str), ``created_at`` (UTC timestamp; the moment the lead entered
    the first funnel stage), ``source`` (original / first-touch source),
    ``owner``, one ``<stage>_at`` UTC timestamp per lead-level funnel stage it
    reached (``mql_at``, ``sql_at``, ...), ``status`` (the CRM's current status
    label), ``converted_at`` (lead converted to an opportunity), ``opportunity_id``,
    ``first_touch_at`` (first sales response), ``touches`` (sales touches within
    14 days), ``disqualified_at``, ``disqualify_reason``, ``is_disqualified`` (a
    disqualified date, or a status meaning disqualified / rejected / recycled,
    dated or not), and any segment
    attributes the export holds (``employees``, ``industry``, ``region``...).
opportunities (one row per opportunity)
    ``opportunity_id``, ``lead_id`` (when it came from a lead), ``created_at``,
    ``closed_at`` (null while open), ``stage`` (funnel stage name of the CRM's
    current stage, or ``lost``), ``stage_label`` (the CRM's own label),
    ``is_closed``, ``is_won`` (bool), ``amount`` (float), ``currency`` (ISO code),
    ``source``, ``owner``, ``lost_reason``, plus ``<stage>_at`` columns for
    custom opportunity stages and extra attributes (``product``, ``account``...).
events (one row per stage entry; ``Dataset.history`` holds the ones read from history exports)
    ``entity_id``, ``entity`` ("lead" or "opportunity"), ``stage`` (funnel stage
    name), ``stage_label`` (CRM label), ``at`` (UTC timestamp), ``origin``
    ("history" when read from a stage-history export, "snapshot" when derived
    from stage timestamps).
quarantine (one row per failing value)
    ``file``, ``line`` (1-based physical line in the file, or Excel row),
    ``column`` (the export's own header), ``value`` (the raw text), ``reason``
    (a :class:`funnelkit.errors.Reason` value), ``detail``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._arrow import labels as text_labels
from .errors import ParameterError
from .i18n import N_, _

# Column names, written once.
LEAD_ID = "lead_id"
OPPORTUNITY_ID = "opportunity_id"
CREATED_AT = "created_at"
CLOSED_AT = "closed_at"
CONVERTED_AT = "converted_at"
SOURCE = "source"
OWNER = "owner"
STATUS = "status"
STAGE = "stage"
STAGE_LABEL = "stage_label"
IS_CLOSED = "is_closed"
IS_WON = "is_won"
AMOUNT = "amount"
CURRENCY = "currency"
LOST_REASON = "lost_reason"
FIRST_TOUCH_AT = "first_touch_at"
TOUCHES = "touches"
DISQUALIFIED_AT = "disqualified_at"
DISQUALIFY_REASON = "disqualify_reason"
IS_DISQUALIFIED = "is_disqualified"
#: a date the CRM expects an open deal to close: a plan, not an event (never moves ``as_of``)
EXPECTED_CLOSE_AT = "expected_close_at"
ENTITY_ID = "entity_id"
ENTITY = "entity"
AT = "at"
ORIGIN = "origin"
LOST = "lost"

#: the load's note when the opportunities export has no lost-reason column (blank reasons in a column are per-deal)
NO_LOST_REASON_COLUMN = "this export has no lost reason column: lost deals cannot be broken down by reason"

QUARANTINE_COLUMNS = ["file", "line", "column", "value", "reason", "detail"]
EVENT_COLUMNS = [ENTITY_ID, ENTITY, STAGE, STAGE_LABEL, AT, ORIGIN]

TIMESTAMP = "datetime64[ns, UTC]"
TEXT = "str"

#: Columns every leads table has (after loading), with their dtypes.
LEAD_COLUMNS: dict[str, str] = {
    LEAD_ID: TEXT,
    CREATED_AT: TIMESTAMP,
    SOURCE: TEXT,
    OWNER: TEXT,
    STATUS: TEXT,
    CONVERTED_AT: TIMESTAMP,
    OPPORTUNITY_ID: TEXT,
    FIRST_TOUCH_AT: TIMESTAMP,
    TOUCHES: "Float64",
    DISQUALIFIED_AT: TIMESTAMP,
    DISQUALIFY_REASON: TEXT,
    IS_DISQUALIFIED: "bool",
}

#: Columns every opportunities table has (after loading), with their dtypes.
OPPORTUNITY_COLUMNS: dict[str, str] = {
    OPPORTUNITY_ID: TEXT,
    LEAD_ID: TEXT,
    CREATED_AT: TIMESTAMP,
    CLOSED_AT: TIMESTAMP,
    STAGE: TEXT,
    STAGE_LABEL: TEXT,
    IS_CLOSED: "bool",
    IS_WON: "bool",
    AMOUNT: "float64",
    CURRENCY: TEXT,
    SOURCE: TEXT,
    OWNER: TEXT,
    LOST_REASON: TEXT,
}


#: How the default funnel's stages are written for people (charts, report tables).
STAGE_NAMES_SHOWN = {"lead": N_("Lead"), "mql": N_("MQL"), "sql": N_("SQL"), "opportunity": N_("Opportunity"),
                     "won": N_("Won"), "lost": N_("Lost")}  # fmt: skip


def stage_label(stage) -> str:
    """Readable stage name: ``mql`` -> ``MQL``; a stage of a custom funnel is shown as it is.

    Examples
    --------
    >>> stage_label("mql"), stage_label("demo booked")
    ('MQL', 'demo booked')
    """
    name = str(stage)
    return _(STAGE_NAMES_SHOWN[name]) if name in STAGE_NAMES_SHOWN else name  # funnelkit's stages in its language


def stage_column(stage: str) -> str:
    """Name of the timestamp column for ``stage`` (``"mql"`` -> ``"mql_at"``)."""
    return f"{stage}_at"


def _normalise_label(label: str) -> str:
    return " ".join(str(label).replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class Stages:
    """The funnel's stages, in order, and how CRM labels map onto them.

    Parameters
    ----------
    names : sequence of str
        Stage names in funnel order. The first is where every lead starts; the
        last is the won stage.
    opportunity : str
        The stage an opportunity enters when it is created.
    lost : str
        Name of the lost outcome (not a stage of the funnel's path).
    labels : mapping of str to str
        CRM stage or status label -> stage name (or ``lost``). Matching ignores
        case, underscores and repeated spaces. Labels not listed here that equal
        a stage name also match.
    open_labels : iterable of str
        Labels that mean "still in the funnel at its current entry stage"
        without a stage of their own (e.g. lead status "Open", "Working").

    Examples
    --------
    >>> s = Stages()
    >>> s.names
    ('lead', 'mql', 'sql', 'opportunity', 'won')
    >>> s.stage_of("Closed Won"), s.stage_of("closed lost"), s.stage_of("Marketing Qualified Lead")
    ('won', 'lost', 'mql')
    """

    names: tuple[str, ...] = ("lead", "mql", "sql", "opportunity", "won")
    opportunity: str = "opportunity"
    lost: str = LOST
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        object.__setattr__(self, "names", names)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ParameterError(f"stages must name at least two distinct stages in order; got {list(names)}")
        if self.opportunity not in names:
            raise ParameterError(f"opportunity stage {self.opportunity!r} is not one of the stages {list(names)}")
        merged = {**DEFAULT_LABELS, **{str(k): str(v) for k, v in dict(self.labels).items()}}
        table = {}
        for label, stage in merged.items():
            if stage in names or stage == self.lost:
                table[_normalise_label(label)] = stage
        for name in names:
            table[_normalise_label(name)] = name
        table[_normalise_label(self.lost)] = self.lost
        object.__setattr__(self, "_table", table)

    @property
    def first(self) -> str:
        return self.names[0]

    @property
    def won(self) -> str:
        return self.names[-1]

    @property
    def columns(self) -> list[str]:
        """Timestamp column names, one per stage, in order."""
        return [stage_column(n) for n in self.names]

    def index(self, stage: str) -> int:
        """Position of ``stage`` in the funnel (raises ParameterError if unknown)."""
        try:
            return self.names.index(stage)
        except ValueError:
            raise ParameterError(f"unknown stage {stage!r}; the funnel's stages are {list(self.names)}") from None

    def stage_of(self, label: str) -> str | None:
        """Stage name for a CRM label, or None when the label is not mapped."""
        return self._table.get(_normalise_label(label))  # type: ignore[attr-defined]

    def map_labels(self, labels: pd.Series) -> pd.Series:
        """Vectorised :meth:`stage_of` over a Series of labels (unmapped -> NA)."""
        codes, uniques = pd.factorize(labels)
        return text_labels(codes, [self.stage_of(u) for u in uniques], labels.index)  # once per distinct label

    def with_labels(self, labels: Mapping[str, str]) -> Stages:
        """A copy with more label mappings."""
        return Stages(
            names=self.names,
            opportunity=self.opportunity,
            lost=self.lost,
            labels={**dict(self.labels), **dict(labels)},
        )

    def with_fallback_labels(self, labels: Mapping[str, str]) -> Stages:
        """A copy with more label mappings under the ones already given (a label already mapped keeps its stage).

        Examples
        --------
        >>> preset = {"Kazanıldı": "won", "Kaybedildi": "lost"}
        >>> s = Stages(labels={"Kazanıldı": "opportunity"}).with_fallback_labels(preset)
        >>> s.stage_of("Kazanıldı"), s.stage_of("kaybedildi")
        ('opportunity', 'lost')
        """
        return Stages(
            names=self.names,
            opportunity=self.opportunity,
            lost=self.lost,
            labels={**dict(labels), **dict(self.labels)},
        )

    @classmethod
    def from_config(cls, config: Mapping | None) -> Stages:
        """Build from a mapping file's section ``{names: [...], opportunity:, lost:, labels:}``."""
        if not config:
            return cls()
        unknown = set(config) - {"names", "opportunity", "lost", "labels"}
        if unknown:
            raise ParameterError(
                f"unknown keys {sorted(unknown)} in the stages section; allowed: names, opportunity, lost, labels"
            )
        names = tuple(config.get("names", cls.names))
        return cls(
            names=names,
            opportunity=config.get("opportunity", "opportunity" if "opportunity" in names else names[0]),
            lost=config.get("lost", LOST),
            labels=dict(config.get("labels", {})),
        )


#: Labels the big CRMs use out of the box, mapped onto the default funnel.
DEFAULT_LABELS: dict[str, str] = {
    # Salesforce lead statuses and opportunity stages
    "Open - Not Contacted": "lead",
    "Working - Contacted": "lead",
    "Open": "lead",
    "New": "lead",
    "Working": "lead",
    "Nurture": "lead",
    "Unqualified": "lead",
    "Closed - Not Converted": "lead",
    "Marketing Qualified": "mql",
    "Marketing Qualified Lead": "mql",
    "MQL": "mql",
    "Sales Qualified": "sql",
    "Sales Qualified Lead": "sql",
    "SQL": "sql",
    "Closed - Converted": "opportunity",
    "Converted": "opportunity",
    "Prospecting": "opportunity",
    "Qualification": "opportunity",
    "Needs Analysis": "opportunity",
    "Value Proposition": "opportunity",
    "Id. Decision Makers": "opportunity",
    "Perception Analysis": "opportunity",
    "Proposal/Price Quote": "opportunity",
    "Negotiation/Review": "opportunity",
    "Closed Won": "won",
    "Won": "won",
    "Closed Lost": "lost",
    "Lost": "lost",
    # HubSpot lifecycle stages (internal values and labels) and default deal stages
    "subscriber": "lead",
    "Lead": "lead",
    "marketingqualifiedlead": "mql",
    "salesqualifiedlead": "sql",
    "Opportunity": "opportunity",
    "Customer": "won",
    "appointmentscheduled": "opportunity",
    "Appointment Scheduled": "opportunity",
    "qualifiedtobuy": "opportunity",
    "Qualified To Buy": "opportunity",
    "presentationscheduled": "opportunity",
    "Presentation Scheduled": "opportunity",
    "decisionmakerboughtin": "opportunity",
    "Decision Maker Bought-In": "opportunity",
    "contractsent": "opportunity",
    "Contract Sent": "opportunity",
    "closedwon": "won",
    # Pipedrive default pipeline
    "Qualified": "opportunity",
    "Contact Made": "opportunity",
    "Demo Scheduled": "opportunity",
    "Proposal Made": "opportunity",
    "Negotiations Started": "opportunity",
    "closedlost": "lost",
}


def empty_frame(columns: Mapping[str, str] | Iterable[str]) -> pd.DataFrame:
    """An empty DataFrame with the given columns (and dtypes, when given a mapping)."""
    if isinstance(columns, Mapping):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def empty_quarantine() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in QUARANTINE_COLUMNS})
    return frame.astype({"line": "int64"})


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Add missing canonical columns (empty) and put canonical ones first with their dtypes.

    Empty means NaT, NaN or missing text (and False for a flag): only for columns
    an export does not have, never standing in for a value the data holds.
    """
    # copy-on-write (pandas 3): the columns set below do not write through to the caller's frame
    frame = frame if len(frame.columns) else pd.DataFrame(index=pd.RangeIndex(0))
    for col, dtype in columns.items():
        if col not in frame:
            frame[col] = pd.Series(np.nan if dtype not in ("bool",) else False, index=frame.index).astype(
                dtype if dtype != TIMESTAMP else "datetime64[ns]"
            )
            if dtype == TIMESTAMP:
                frame[col] = frame[col].dt.tz_localize("UTC")
        elif dtype == "bool":
            frame[col] = frame[col].fillna(False).astype(bool)
        elif dtype == TEXT:
            frame[col] = frame[col].astype("str")
    ordered = list(columns) + [c for c in frame.columns if c not in columns]
    return frame[ordered]
