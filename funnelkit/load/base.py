"""CRM adapters: a registry of classes that each know one export's headers.

Modelled on papermill's translator registry: one class per CRM export,
registered by name. Each adapter declares, per table it can read, which
headers map onto which canonical column (``columns``) and the contract of the
table: the :class:`Role` s a file of that table cannot do without
(``required``). ``score`` says how well a file's headers match, so
``source="auto"`` picks the best adapter for every file; the table kind of a
file is the one whose declared headers the file matches most, and a file that
misses a required role stops the load with a :class:`~funnelkit.SchemaError`
naming the role, the columns found and the closest header.

Typing, quarantine and row accounting are shared (:func:`to_canonical`);
adapters own what is peculiar to their CRM through hooks: :meth:`Adapter.finish`
(clean-up and CRM-specific quarantine rules), :meth:`Adapter.history_events`,
:meth:`Adapter.kind_for` and :meth:`Adapter.context_for`. The core never names
a CRM.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import yaml

from .. import schema as s
from ..errors import InputFileError, ParameterError, Reason, SchemaError, StageError
from ..schema import Stages
from . import _parse
from ._read import RawTable

LEADS, OPPORTUNITIES, HISTORY = "leads", "opportunities", "history"
TABLE_KINDS = (LEADS, OPPORTUNITIES, HISTORY)

#: canonical columns holding numbers rather than text
NUMBER_COLUMNS = {s.TOUCHES, "employees", "annual_revenue", "probability"}
BOOL_COLUMNS = {s.IS_CLOSED, s.IS_WON, "is_converted", "is_deleted"}
ID_COLUMNS = {s.LEAD_ID, s.OPPORTUNITY_ID}
#: the column that identifies a row of each table
PRIMARY = {LEADS: s.LEAD_ID, OPPORTUNITIES: s.OPPORTUNITY_ID, HISTORY: s.OPPORTUNITY_ID}


@dataclass(frozen=True)
class Role:
    """A job a table needs a column for, done by any one of ``options``.

    Each option is a tuple of canonical columns that together do the job: a
    deal's outcome is known from its stage, or from its won and closed flags.

    Examples
    --------
    >>> outcome = Role("stage (or won and closed flags)", (("stage_label",), ("is_won", "is_closed")))
    >>> outcome.met_by({"is_won", "is_closed"}), outcome.met_by({"is_won"})
    (True, False)
    """

    name: str
    options: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, name: str, *columns: str) -> Role:
        """A role any single one of ``columns`` does."""
        return cls(name, tuple((c,) for c in columns))

    def met_by(self, canonical) -> bool:
        return any(set(option) <= set(canonical) for option in self.options)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for option in self.options for c in option))


OUTCOME = Role("stage (or won and closed flags)", ((s.STAGE_LABEL,), (s.IS_WON, s.IS_CLOSED)))

#: What each table of an export cannot do without; adapters may override per table.
REQUIRED: dict[str, tuple[Role, ...]] = {
    LEADS: (Role.of("lead id", s.LEAD_ID), Role.of("created date", s.CREATED_AT)),
    OPPORTUNITIES: (
        Role.of("opportunity id", s.OPPORTUNITY_ID),
        OUTCOME,
        Role.of("close date", s.CLOSED_AT),
        Role.of("amount", s.AMOUNT),
    ),
    HISTORY: (
        Role.of("opportunity id", s.OPPORTUNITY_ID),
        Role.of("stage", s.STAGE_LABEL),
        Role.of("date of the stage change", s.AT),
    ),
}


def column_kind(canonical: str) -> str:
    """How a canonical column is parsed: id, datetime, amount, bool, number or text."""
    if canonical in ID_COLUMNS:
        return "id"
    if canonical.endswith("_at") or canonical == s.AT:
        return "datetime"
    if canonical == s.AMOUNT:
        return "amount"
    if canonical in BOOL_COLUMNS:
        return "bool"
    if canonical in NUMBER_COLUMNS:
        return "number"
    return "text"


def normalise_header(header: str) -> str:
    return " ".join(str(header).replace("_", " ").split()).casefold()


#: What each table of an export normally has but can do without: a missing one is noted, and
#: the figures that need it stop with their reason (time to close from an opportunity's creation).
EXPECTED: dict[str, tuple[Role, ...]] = {OPPORTUNITIES: (Role.of("created date", s.CREATED_AT),)}


@dataclass
class Context:
    """Options of one :func:`funnelkit.load` call that adapters need."""

    stages: Stages
    date_order: str = "auto"
    tz: str = "UTC"
    currency: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Converted:
    """One file in the canonical shape, with its failures."""

    kind: str
    frame: pd.DataFrame
    failures: pd.DataFrame  # quarantine rows (with the frame's row positions in "row")
    events: pd.DataFrame | None = None
    date_order: str = ""
    id_header: str = ""


@dataclass
class FileResult:
    """One file after typing and quarantine: kept rows, failures and accounting."""

    path: Path
    kind: str
    adapter: str
    frame: pd.DataFrame  # kept rows, with a "_row" column (position in the raw file)
    quarantine: pd.DataFrame
    events: pd.DataFrame | None
    summary: dict
    notes: list[str] = field(default_factory=list)


def _aliases(declared) -> tuple[str, ...]:
    return declared if isinstance(declared, tuple) else (declared,)


# ---------------------------------------------------------------- locales --

#: Where the header-label presets live: ``<adapter>.<locale>.yml``, shipped with the package.
LOCALES_DIR = Path(__file__).with_name("locales")
ENGLISH = "en"


@dataclass(frozen=True)
class Preset:
    """How one adapter's export is labelled in one language (a ``locales/<adapter>.<locale>.yml`` file).

    Attributes
    ----------
    adapter, locale : str
        The adapter it belongs to and the language tag (``zh-CN``, ``tr``, ...).
    headers : dict
        Localised header -> the English header the adapter declares (matched
        ignoring case, underscores and repeated spaces).
    header_patterns : tuple
        ``(regex, template)`` pairs for headers that embed a stage name
        (HubSpot ``Date entered "<stage>"``): a header the regex matches in
        full reads as ``template`` with the groups filled in.
    labels : dict
        Localised stage or status label -> the English label it translates
        (``Closed Won``) or a funnel stage name; resolved through the load's
        :class:`~funnelkit.Stages`, so a custom funnel's labels apply too.
    """

    adapter: str
    locale: str
    headers: Mapping[str, str]
    header_patterns: tuple[tuple[re.Pattern, str], ...]
    labels: Mapping[str, str]
    file: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_normal", {normalise_header(k): v for k, v in self.headers.items()})

    def english_header(self, header: str) -> str:
        """The English header a localised one stands for (the header itself when the preset has none)."""
        english = self._by_normal.get(normalise_header(header))  # type: ignore[attr-defined]
        if english is not None:
            return english
        for pattern, template in self.header_patterns:
            match = pattern.fullmatch(header.strip())
            if match:
                return match.expand(template)
        return header

    def stage_labels(self, stages: Stages) -> dict[str, str]:
        """Localised label -> funnel stage of ``stages``, for every label whose English label maps there."""
        mapped = {label: stages.stage_of(english) for label, english in self.labels.items()}
        return {label: stage for label, stage in mapped.items() if stage is not None}


@functools.cache
def presets(adapter: str) -> dict[str, Preset]:
    """The header-label presets shipped for ``adapter``, by locale (read once per process).

    Examples
    --------
    >>> sorted(presets("salesforce_report"))[:3]
    ['de', 'es', 'fr']
    """
    found = {}
    for path in sorted(LOCALES_DIR.glob(f"{adapter}.*.yml")):
        preset = _read_preset(path)
        if preset.adapter != adapter:
            raise InputFileError(f"{path}: the preset names adapter {preset.adapter!r}; its file name says {adapter!r}")
        found[preset.locale] = preset
    return found


def _read_preset(path: Path) -> Preset:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputFileError(f"{path}: the locale preset cannot be read ({exc})") from exc
    unknown = set(doc) - {"adapter", "locale", "headers", "header_patterns", "labels"}
    if unknown or not isinstance(doc.get("headers"), dict):
        raise InputFileError(
            f"{path}: a locale preset holds adapter, locale, headers (a mapping of localised header to "
            f"English header) and optionally header_patterns and labels; found keys {sorted(doc)}"
        )
    return Preset(
        adapter=str(doc.get("adapter", "")),
        locale=str(doc.get("locale", "")),
        headers={str(k): str(v) for k, v in doc["headers"].items()},
        header_patterns=tuple((re.compile(k), str(v)) for k, v in (doc.get("header_patterns") or {}).items()),
        labels={str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
        file=path,
    )


def with_locale_labels(stages: Stages, used: Iterable[tuple[str, str]]) -> Stages:
    """``stages`` with the stage and status labels of the (adapter, locale) presets a load used.

    The caller's own labels win over a preset's: a label the caller mapped keeps its mapping.
    """
    added: dict[str, str] = {}
    for adapter, locale in sorted(set(used)):
        preset = presets(adapter).get(locale) if locale and locale != ENGLISH else None
        if preset is not None:
            added.update(preset.stage_labels(stages))
    return stages.with_fallback_labels(added) if added else stages


class Adapter:
    """Base class: subclasses set ``name``, ``columns`` and optionally ``signature`` and ``required``.

    Attributes
    ----------
    name : str
        Registry name (``source=`` in :func:`funnelkit.load`).
    columns : dict
        Per table kind (``leads``, ``opportunities``, ``history``): export
        header (or several, as a tuple of aliases) -> canonical column.
    signature : dict
        Per table kind, headers that together identify this export. Defaults
        to every header in ``columns``.
    required : dict
        Per table kind, the :class:`Role` s a file must fill (default
        :data:`REQUIRED`): a file that misses one is a SchemaError, never a
        table of empty columns.
    expected : dict
        Per table kind, roles a file of this export normally fills but can do
        without: a file that misses one loads, with a note naming the role and
        the closest header, and the figures that need it say they cannot be
        measured.
    stage_date_patterns : tuple of str
        Regexes over headers whose first group is a stage label; the column
        becomes that stage's ``<stage>_at`` (HubSpot "Became a ... Date").
    disqualified_statuses : tuple of str
        Lead status labels that mean disqualified, rejected or recycled: such
        leads get ``is_disqualified`` (and ``disqualified_at`` when dated).
    close_date_when_open : str
        What the close date of a deal that is still open means in this CRM,
        said in the load's notes when such dates are set aside.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    columns: ClassVar[dict[str, dict]] = {}
    signature: ClassVar[dict[str, tuple[str, ...]]] = {}
    required: ClassVar[dict[str, tuple[Role, ...]]] = REQUIRED
    expected: ClassVar[dict[str, tuple[Role, ...]]] = EXPECTED
    stage_date_patterns: ClassVar[tuple[str, ...]] = ()
    disqualified_statuses: ClassVar[tuple[str, ...]] = ()
    close_date_when_open: ClassVar[str] = "a close date on a deal that is still open"
    preset: Preset | None = None

    # ---- locales --------------------------------------------------------
    @classmethod
    def locales(cls) -> tuple[str, ...]:
        """The languages this export is recognised in: ``"en"`` and every shipped preset's."""
        return (ENGLISH, *presets(cls.name)) if cls.columns else ()

    @classmethod
    def in_locale(cls, locale: str = ENGLISH) -> Adapter:
        """This adapter reading headers and labels as written in ``locale``.

        The localised headers of the locale's preset are added as aliases of
        the English ones (exports often mix both: custom fields keep the
        label the admin gave them), and the localised status labels that mean
        disqualified join :attr:`disqualified_statuses`.
        """
        adapter = cls()
        if locale == ENGLISH:
            return adapter
        preset = presets(cls.name).get(locale)
        if preset is None:
            raise ParameterError(f"{cls.name} has no preset for locale {locale!r}; it has {list(cls.locales())}")
        # instance attributes shadow the class-level declarations, as a mapping's do
        adapter.preset = preset
        adapter.columns = {
            kind: {_with_localised(declared, preset): canonical for declared, canonical in cols.items()}
            for kind, cols in cls.columns.items()
        }
        adapter.signature = {
            kind: tuple(_with_localised(group, preset) for group in groups) for kind, groups in cls.signature.items()
        }
        disqualified = {normalise_header(label) for label in cls.disqualified_statuses}
        adapter.disqualified_statuses = cls.disqualified_statuses + tuple(
            label for label, english in preset.labels.items() if normalise_header(english) in disqualified
        )
        return adapter

    @property
    def locale(self) -> str:
        """The preset's language, ``"en"`` for the English labels, ``""`` for an adapter configured per call."""
        if self.preset is not None:
            return self.preset.locale
        return ENGLISH if type(self).columns else ""

    def english_header(self, header: str) -> str:
        """The English header a (possibly localised) export header stands for."""
        return self.preset.english_header(header) if self.preset is not None else header

    def context_for_locale(self, ctx: Context) -> Context:
        """The load options with this locale's stage and status labels added to the funnel's."""
        if self.preset is None:
            return ctx
        return replace(ctx, stages=with_locale_labels(ctx.stages, [(self.name, self.locale)]))

    # ---- matching -------------------------------------------------------
    def header_map(self, kind: str, headers: list[str]) -> dict[str, str]:
        """Canonical column -> the export header that feeds it, for the headers this file has.

        One header may feed several canonical columns; each canonical column
        takes the first alias the file has.
        """
        present = {normalise_header(h): h for h in reversed(headers)}  # the first of repeated headers wins
        found: dict[str, str] = {}
        for declared, canonical in self.columns.get(kind, {}).items():
            if canonical in found:
                continue
            for alias in _aliases(declared):
                if normalise_header(alias) in present:
                    found[canonical] = present[normalise_header(alias)]
                    break
        return found

    def score(self, headers: list[str]) -> tuple[float, str | None]:
        """How well the file's headers match this export: ``(score, table kind)``.

        The kind is the table whose declared headers the file matches most,
        counting the headers that only that table declares first (a deals
        export without its stage column is still a deals export); the score is
        the share of that table's signature headers present.
        """
        present = {normalise_header(h) for h in headers}
        declared = {
            kind: {normalise_header(a) for d in cols for a in _aliases(d)} for kind, cols in self.columns.items()
        }
        ranked = []
        for kind in self.columns:
            others = set().union(*(v for k, v in declared.items() if k != kind))
            exclusive = len(present & (declared[kind] - others))
            signature = self.signature.get(kind) or tuple(self.columns[kind])
            groups = [_aliases(g) for g in signature]
            hits = sum(any(normalise_header(a) in present for a in g) for g in groups) / max(len(groups), 1)
            if hits:
                ranked.append((exclusive, hits, kind))
        if not ranked:
            return 0.0, None
        exclusive, hits, kind = max(ranked, key=lambda r: (r[0], r[1]))
        return hits, kind

    def aliases_of(self, kind: str, canonical: str) -> tuple[str, ...]:
        return tuple(a for d, c in self.columns.get(kind, {}).items() if c == canonical for a in _aliases(d))

    def kind_for(self, path: Path, headers: list[str]) -> str | None:
        """The table kind of a file (default: by its headers, see :meth:`score`)."""
        return self.score(headers)[1]

    def context_for(self, kind: str, ctx: Context) -> Context:
        """The load options for one table of this export (default: the call's own)."""
        return ctx

    def check_contract(self, kind: str, found: Mapping[str, str], raw: RawTable, notes: list[str]) -> None:
        """Stop with a SchemaError when the file misses a required role; note each missing expected one."""
        missing = [role for role in self.required.get(kind, ()) if not role.met_by(found)]
        if missing:
            shown = ", ".join(repr(h) for h in raw.headers[:25]) + (" ..." if len(raw.headers) > 25 else "")
            raise SchemaError(
                f"{raw.file}: this {self.name} {kind} export has no column for "
                f"{'; nor for '.join(self._wanted(kind, role, raw) for role in missing)}. "
                f"The file's columns are {shown}. Rename the column in the export, or load it with a mapping"
            )
        for role in self.expected.get(kind, ()):
            if not role.met_by(found):
                notes.append(
                    f"{raw.file.name}: no column for {self._wanted(kind, role, raw)}; "
                    f"figures that need the {role.name} cannot be measured from this file"
                )

    def _wanted(self, kind: str, role: Role, raw: RawTable) -> str:
        looked = [a for c in role.columns for a in self.aliases_of(kind, c)]
        if not looked:
            return (
                f"the {role.name} (the mapping names none: add one of {list(role.columns)} to its columns or constants)"
            )
        return f"the {role.name} (a column named {_or_list(looked)}{_did_you_mean(looked, raw.headers)})"

    # ---- conversion -----------------------------------------------------
    def convert(self, raw: RawTable, kind: str, ctx: Context) -> Converted:
        return to_canonical(self, raw, kind, ctx)

    def stage_columns(self, headers: list[str], ctx: Context) -> dict[str, str]:
        """``<stage>_at`` -> the header that carries that stage's entry date (headers read in English)."""
        out: dict[str, str] = {}
        for pattern in self.stage_date_patterns:
            for header in headers:
                m = re.match(pattern, self.english_header(header), flags=re.IGNORECASE)
                if m:
                    stage = ctx.stages.stage_of(m.group(1))
                    if stage and stage != ctx.stages.lost:
                        out.setdefault(s.stage_column(stage), header)
        return out

    def constants(self, kind: str) -> dict[str, str]:
        """Canonical column -> one value for every row of a table (default: none)."""
        return {}

    def finish(self, frame: pd.DataFrame, kind: str, ctx: Context, raw: RawTable, fails) -> pd.DataFrame:
        """CRM-specific clean-up after typing (default: none); bad rows go to ``fails``."""
        return frame

    def history_events(self, raw: RawTable, frame: pd.DataFrame, ctx: Context) -> pd.DataFrame | None:
        """Stage entries carried by this file besides its snapshot columns (default: none)."""
        return None

    def event_date_headers(self, headers: Iterable[str]) -> list[str]:
        """Headers of dates read by :meth:`history_events`; they count as evidence of the file's date order."""
        return []


def _with_localised(declared, preset: Preset) -> tuple[str, ...]:
    """The declared English aliases, then the preset's localised headers that translate any of them."""
    english = _aliases(declared)
    wanted = {normalise_header(a) for a in english}
    localised = tuple(h for h, en in preset.headers.items() if normalise_header(en) in wanted)
    return english + localised


def _or_list(names) -> str:
    quoted = [repr(n) for n in dict.fromkeys(names)]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _did_you_mean(wanted, headers) -> str:
    """ "; did you mean 'Created'?" for the file's header closest to any wanted name."""
    by_normal = {normalise_header(h): h for h in headers}
    best, best_ratio = None, 0.0
    for name in wanted:
        for match in difflib.get_close_matches(normalise_header(name), list(by_normal), n=1, cutoff=0.6):
            ratio = difflib.SequenceMatcher(None, normalise_header(name), match).ratio()
            if ratio > best_ratio:
                best, best_ratio = by_normal[match], ratio
    return f"; did you mean {best!r}?" if best else ""


ADAPTERS: dict[str, type[Adapter]] = {}


def register(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator adding an adapter to the registry under ``cls.name``."""
    ADAPTERS[cls.name] = cls
    return cls


def detect(
    raw_headers: list[str], source: str = "auto", *, among: Iterable[str] | None = None
) -> tuple[Adapter, str | None, float]:
    """Pick the adapter, its locale and the table kind for a file's headers.

    With ``source="auto"`` every adapter that recognises exports by their
    headers is scored in every locale it has a preset for (adapters that need
    options, such as a mapping, are not); else the named adapter is used, in
    the locale its headers match best. The adapter returned carries its
    locale (:attr:`Adapter.locale`).

    Examples
    --------
    >>> adapter, kind, score = detect(["业务机会 ID", "阶段", "金额", "结束日期", "创建日期"])
    >>> adapter.name, adapter.locale, kind, score
    ('salesforce_report', 'zh-CN', 'opportunities', 1.0)
    """
    if source != "auto":
        if source not in ADAPTERS:
            raise ParameterError(f"source must be 'auto' or one of {sorted(ADAPTERS)}; got {source!r}")
        adapter, kind, score = detect(raw_headers, source="auto", among=(source,))
        return (adapter, kind, score) if kind is not None else (ADAPTERS[source](), None, 0.0)
    scored = []
    for name, cls in ADAPTERS.items():
        if among is not None and name not in among:
            continue
        for locale in cls.locales():  # none for an adapter configured per call (a mapping): never guessed
            adapter = cls.in_locale(locale)
            score, kind = adapter.score(raw_headers)
            matched = len(adapter.header_map(kind, raw_headers)) if kind else 0
            # the best share of signature headers; then the language that names most of the file's
            # headers; a file that reads the same in English and another language is English
            scored.append(((-score, -matched, locale != ENGLISH, name, locale), adapter, kind, score))
    if not scored:  # an adapter configured per call, named without its configuration
        return ADAPTERS[source](), None, 0.0
    scored.sort(key=lambda t: t[0])
    _, adapter, kind, score = scored[0]
    return adapter, kind, score


# ---------------------------------------------------------------- engine --


def to_canonical(adapter: Adapter, raw: RawTable, kind: str, ctx: Context) -> Converted:
    """Type a raw table's mapped columns; collect every failing value."""
    ctx = adapter.context_for_locale(ctx)  # the locale's stage and status labels join the funnel's
    headers = raw.headers
    sources = adapter.header_map(kind, headers)  # canonical -> header
    for canonical, header in adapter.stage_columns(headers, ctx).items():
        sources.setdefault(canonical, header)
    constants = adapter.constants(kind)
    adapter.check_contract(kind, {**sources, **constants}, raw, ctx.notes)
    fails = _parse.Failures(str(raw.file), lambda: raw.lines)
    frame = raw.frame
    date_headers = list(dict.fromkeys(h for c, h in sources.items() if column_kind(c) == "datetime"))
    date_headers += [h for h in adapter.event_date_headers(headers) if h not in date_headers]
    order = _parse.decide_date_order(str(raw.file), {h: frame[h] for h in date_headers}, ctx.date_order)
    out: dict[str, pd.Series] = {}
    # Arrow's kernels release the GIL: columns are typed side by side on the machine's cores
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        typed_columns = pool.map(
            lambda item: _typed(frame[item[1]], item[1], item[0], order, ctx, fails), sources.items()
        )
        for columns in typed_columns:
            out.update(columns)
    raw.notes.extend(sorted(fails.notes))  # with the file's own notes, so a cached file keeps them
    if _parse.WRITTEN_CURRENCY in out:
        out[s.CURRENCY] = _currencies(out, sources, frame, ctx, fails)
    elif s.CURRENCY in sources:
        out[s.CURRENCY] = _parse.clean_text(frame[sources[s.CURRENCY]]).str.upper()
    typed = pd.DataFrame(out, index=frame.index)
    for canonical, value in constants.items():
        typed[canonical] = _constant(canonical, value, typed.index, raw, ctx)
    primary = PRIMARY[kind]
    fails.add(
        typed[primary].isna(), sources[primary], frame[sources[primary]], Reason.MISSING_ID, "the record has no id"
    )
    used = set(sources.values())
    for header in headers:  # extra attributes ride along under snake_case names
        if header not in used:
            name = _snake(header)
            if name and name not in typed.columns:
                typed[name] = _extra_column(frame[header])
    typed = adapter.finish(typed, kind, ctx, raw, fails)
    if s.STAGE_LABEL in typed and kind in (OPPORTUNITIES, HISTORY):
        header = sources.get(s.STAGE_LABEL, s.STAGE_LABEL)
        typed[s.STAGE] = stage_of_labels(typed[s.STAGE_LABEL], ctx.stages, file=raw.file, header=header)
    if kind == OPPORTUNITIES:
        typed = _set_outcome(typed, ctx.stages)
        typed = _set_aside_expected_close(typed, adapter, raw, ctx.notes)
    if kind == LEADS:
        typed = _mark_disqualified(typed, adapter, ctx.stages)
    events = adapter.history_events(raw, typed, replace(ctx, date_order=order))  # the order the file's dates are in
    return Converted(
        kind=kind,
        frame=typed,
        failures=fails.table(),
        events=events,
        date_order=order,
        id_header=sources[primary],
    )


def _currencies(out: dict, sources: dict, frame: pd.DataFrame, ctx: Context, fails) -> pd.Series:
    """The currency column from the export's currency column, the amounts' own codes and ``currency=``;
    amounts whose currency is unknown or contradicted are quarantined (see ``settle_currencies``)."""
    written = out.pop(_parse.WRITTEN_CURRENCY)
    column = frame[sources[s.CURRENCY]] if s.CURRENCY in sources else None
    currency, missing, conflicting, detail = _parse.settle_currencies(
        out[s.AMOUNT], written, column, default_currency=ctx.currency
    )
    header = sources[s.AMOUNT]
    fails.add(missing, header, frame[header], Reason.BAD_AMOUNT, detail)
    if column is not None:
        conflict = f"the amount's currency differs from the {sources[s.CURRENCY]!r} column's"
        fails.add(conflicting, header, frame[header], Reason.BAD_AMOUNT, conflict)
    return currency


def _constant(canonical: str, value, index: pd.Index, raw: RawTable, ctx: Context) -> pd.Series:
    """One mapping-given value typed like the column it fills, repeated for every row."""
    probe = _parse.Failures(str(raw.file), lambda: np.zeros(1, dtype=np.int64))
    typed = _typed(pd.Series([str(value)], dtype="str"), f"constant {canonical}", canonical, "ymd", ctx, probe)
    if len(probe.table()):
        raise SchemaError(f"the mapping's constant {canonical}: {value!r} is not a valid {column_kind(canonical)}")
    column = typed[canonical]
    return pd.Series(column.array.take(np.zeros(len(index), dtype=np.int64)), index=index, name=canonical)


def _set_outcome(opps: pd.DataFrame, stages: Stages) -> pd.DataFrame:
    """Won and closed flags from the stage where the export has no flags; the stage from the flags.

    The flags, where the export has them, are the deal's current state and win
    over its stage label: a deal flagged won is in the won stage, a deal
    flagged closed and not won is lost.
    """
    if s.IS_WON not in opps:
        opps[s.IS_WON] = (opps[s.STAGE] == stages.won).fillna(False).to_numpy(dtype=bool)
    if s.IS_CLOSED not in opps:
        opps[s.IS_CLOSED] = opps[s.STAGE].isin([stages.won, stages.lost]).to_numpy()
    won = opps[s.IS_WON].fillna(False).to_numpy(dtype=bool)
    closed = opps[s.IS_CLOSED].fillna(False).to_numpy(dtype=bool) | won
    opps[s.IS_WON], opps[s.IS_CLOSED] = won, closed
    stage = opps[s.STAGE] if s.STAGE in opps else pd.Series(pd.NA, index=opps.index, dtype="str")
    opps[s.STAGE] = stage.mask(won, stages.won).mask(closed & ~won, stages.lost)
    return opps


def _set_aside_expected_close(opps: pd.DataFrame, adapter: Adapter, raw: RawTable, notes: list[str]) -> pd.DataFrame:
    """A close date on a deal that is still open is not a close: keep it as ``expected_close_at``."""
    if s.CLOSED_AT not in opps:
        return opps
    open_dated = ~opps[s.IS_CLOSED].to_numpy(dtype=bool) & opps[s.CLOSED_AT].notna().to_numpy()
    if open_dated.any():
        notes.append(
            f"{raw.file.name}: {int(open_dated.sum()):,} open opportunities carry a close date "
            f"({adapter.close_date_when_open}); it is kept as the expected close date (expected_close_at), "
            "not as the date the deal closed"
        )
        opps[s.EXPECTED_CLOSE_AT] = opps[s.CLOSED_AT].where(open_dated)
        opps[s.CLOSED_AT] = opps[s.CLOSED_AT].where(~open_dated)
    return opps


def _mark_disqualified(leads: pd.DataFrame, adapter: Adapter, stages: Stages) -> pd.DataFrame:
    """``is_disqualified``: a disqualified date, or a status the adapter (or mapping) names as disqualified."""
    dated = leads[s.DISQUALIFIED_AT].notna().to_numpy() if s.DISQUALIFIED_AT in leads else False
    by_status = np.zeros(len(leads), dtype=bool)
    wanted = {normalise_header(label) for label in adapter.disqualified_statuses}
    for column in (s.STATUS, "lead_status"):
        if wanted and column in leads:
            codes, uniques = pd.factorize(leads[column])
            hits = np.array([normalise_header(u) in wanted for u in uniques] + [False])
            by_status |= hits[codes]
    leads[s.IS_DISQUALIFIED] = by_status | dated
    return leads


_PLAIN_NUMBER = r"^\s*-?(?:0|[1-9]\d{0,14}|[1-9]\d{0,2}(?:,\d{3}){1,4})(?:\.\d+)?\s*$"


def _extra_column(values: pd.Series) -> pd.Series:
    """An unmapped column: numbers when every filled cell is a plain number, else trimmed text.

    Plain means no leading zero (zip codes, account numbers keep their text),
    no sign but minus (phone numbers), at most 15 digits (longer ids would
    lose digits as floats).
    """
    text = _parse.clean_text(values)
    if _parse.all_match(text, _PLAIN_NUMBER):  # RE2 in Arrow: pandas' fullmatch loops in Python
        return pd.to_numeric(text.str.replace(",", "", regex=False)).astype("Float64")
    return text


def _typed(values: pd.Series, header: str, canonical: str, order: str, ctx: Context, fails) -> dict:
    """The typed column(s) for one export column; failures go to ``fails``."""
    kind = column_kind(canonical)
    if kind == "id":
        ids, _ = _parse.clean_ids(values)
        return {canonical: ids}
    if kind == "datetime":
        stamps, unparsed, far, nonexistent, folded = _parse.by_distinct(
            _parse.parse_datetimes, values, order=order, tz=ctx.tz
        )
        fails.add(
            unparsed,
            header,
            values,
            Reason.BAD_DATE,
            f"not a date in the file's format ({_ORDER_TEXT[order]})",
        )
        fails.add(far, header, values, Reason.DATE_OUT_OF_RANGE, "date before 1990 or after 2099")
        fails.add(nonexistent, header, values, Reason.BAD_DATE, f"does not exist in {ctx.tz} (spring clock change)")
        if folded.any():
            fails.note(
                f"{int(folded.sum()):,} timestamps in {header!r} fell in the autumn clock change (DST fold) "
                f"of {ctx.tz} and were read as their first occurrence"
            )
        return {canonical: stamps}
    if kind == "amount":
        typed = _parse.type_amounts(values, header, default_currency=ctx.currency, fails=fails)
        return {canonical: typed.pop("amount"), **typed}
    if kind == "bool":
        flags, unparsed = _parse.by_distinct(_parse.parse_booleans, values)
        fails.add(unparsed, header, values, Reason.BAD_BOOLEAN, "expected 1/0, true/false or yes/no")
        return {canonical: flags}
    if kind == "number":
        numbers, unparsed = _parse.by_distinct(_parse.parse_numbers, values)
        fails.add(unparsed, header, values, Reason.BAD_AMOUNT, "not a number")
        return {canonical: numbers}
    return {canonical: _parse.clean_text(values)}


_ORDER_TEXT = {
    "mdy": "month-first, MM/DD/YYYY or MM/DD/YY",
    "dmy": "day-first, DD/MM/YYYY or DD/MM/YY",
    "ymd": "year-first, YYYY-MM-DD, YYYY.MM.DD or YYYY/MM/DD",
}


def _snake(header: str) -> str:
    """``Deal Name`` -> ``deal_name``; letters of any script stay (``名字``, ``kayıp_nedeni``), so a localised
    extra column keeps a name rather than vanishing."""
    return re.sub(r"[^\w]+", "_", header.casefold()).strip("_")


def stage_of_labels(labels: pd.Series, stages: Stages, *, file, header: str) -> pd.Series:
    """Map CRM stage labels to funnel stages; unmapped labels are an error listing them."""
    mapped = stages.map_labels(labels)
    unknown = labels.notna() & mapped.isna()
    if unknown.any():
        counts = labels[unknown].value_counts()
        listing = ", ".join(f"{label!r} ({n:,} rows)" for label, n in counts.items())
        raise StageError(
            f"{file}: column {header!r} has stage labels that are not in the funnel "
            f"{list(stages.names)} + {stages.lost!r}: {listing}. Map them with "
            "stages=Stages(labels={...}) or in the mapping file's stages.labels"
        )
    return mapped


def lookup_ci(mapping: Mapping[str, str], key: str) -> str | None:
    return {normalise_header(k): v for k, v in mapping.items()}.get(normalise_header(key))


def rows_with_failures(failures: pd.DataFrame) -> np.ndarray:
    return np.unique(failures["row"].to_numpy(dtype=np.int64)) if len(failures) else np.empty(0, dtype=np.int64)
