"""CRM adapters: a registry of classes that each know one export's headers.

Modelled on papermill's translator registry: one class per CRM export,
registered by name. Each adapter declares, per table it can read, which
headers map onto which canonical column; ``score`` says how well a file's
headers match, so ``source="auto"`` picks the best adapter for every file.
Typing, quarantine and row accounting are shared (:func:`to_canonical`);
adapters only add what is peculiar to their CRM in :meth:`Adapter.finish`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from .. import schema as s
from ..errors import Reason, SchemaError
from ..schema import Stages
from . import _parse
from ._read import RawTable

LEADS, OPPORTUNITIES, HISTORY = "leads", "opportunities", "history"
TABLE_KINDS = (LEADS, OPPORTUNITIES, HISTORY)

#: canonical columns holding numbers rather than text
NUMBER_COLUMNS = {s.TOUCHES, "employees", "annual_revenue", "probability"}
BOOL_COLUMNS = {s.IS_CLOSED, s.IS_WON, "is_converted", "is_deleted"}
ID_COLUMNS = {s.LEAD_ID, s.OPPORTUNITY_ID}
#: what each table cannot do without
REQUIRED = {
    LEADS: (s.LEAD_ID,),
    OPPORTUNITIES: (s.OPPORTUNITY_ID,),
    HISTORY: (s.OPPORTUNITY_ID, s.STAGE_LABEL, s.AT),
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


class Adapter:
    """Base class: subclasses set ``name``, ``columns`` and optionally ``signature``.

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
    stage_date_patterns : tuple of str
        Regexes over headers whose first group is a stage label; the column
        becomes that stage's ``<stage>_at`` (HubSpot "Became a ... Date").
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    columns: ClassVar[dict[str, dict]] = {}
    signature: ClassVar[dict[str, tuple[str, ...]]] = {}
    stage_date_patterns: ClassVar[tuple[str, ...]] = ()

    # ---- matching -------------------------------------------------------
    def header_map(self, kind: str, headers: list[str]) -> dict[str, str]:
        """Export header -> canonical column, for the headers this file has."""
        wanted: dict[str, str] = {}
        for aliases, canonical in self.columns.get(kind, {}).items():
            for alias in aliases if isinstance(aliases, tuple) else (aliases,):
                wanted.setdefault(normalise_header(alias), canonical)
        found: dict[str, str] = {}
        taken: set[str] = set()
        for header in headers:
            canonical = wanted.get(normalise_header(header))
            if canonical and canonical not in taken:
                found[header] = canonical
                taken.add(canonical)
        return found

    def score(self, headers: list[str]) -> tuple[float, str | None]:
        """Share of this adapter's signature headers the file has, for its best table kind."""
        present = {normalise_header(h) for h in headers}
        best, best_kind = 0.0, None
        best_partial, partial_kind = 0, None
        for kind in self.columns:
            signature = self.signature.get(kind) or tuple(
                a for aliases in self.columns[kind] for a in (aliases if isinstance(aliases, tuple) else (aliases,))
            )
            groups = [g if isinstance(g, tuple) else (g,) for g in signature]
            hits = sum(any(normalise_header(a) in present for a in g) for g in groups)
            required_ok = all(
                any(normalise_header(a) in present for a in self._aliases_of(kind, req)) for req in REQUIRED[kind]
            )
            score = hits / len(groups) if groups and required_ok else 0.0
            if score > best:
                best, best_kind = score, kind
            elif best_kind is None and hits > best_partial:
                # remembered so that an explicit source= can name what is missing
                best_partial, partial_kind = hits, kind
        return best, best_kind or partial_kind

    def _aliases_of(self, kind: str, canonical: str) -> tuple[str, ...]:
        return tuple(
            a
            for aliases, c in self.columns.get(kind, {}).items()
            if c == canonical
            for a in (aliases if isinstance(aliases, tuple) else (aliases,))
        )

    # ---- conversion -----------------------------------------------------
    def convert(self, raw: RawTable, kind: str, ctx: Context) -> Converted:
        return to_canonical(self, raw, kind, ctx)

    def stage_columns(self, headers: list[str], ctx: Context) -> dict[str, str]:
        """Headers that carry a stage's entry date -> ``<stage>_at``."""
        out: dict[str, str] = {}
        for pattern in self.stage_date_patterns:
            for header in headers:
                m = re.match(pattern, header, flags=re.IGNORECASE)
                if m:
                    stage = ctx.stages.stage_of(m.group(1))
                    if stage and stage != ctx.stages.lost:
                        out.setdefault(header, s.stage_column(stage))
        return out

    def finish(self, frame: pd.DataFrame, kind: str, ctx: Context, raw: RawTable) -> pd.DataFrame:
        """CRM-specific clean-up after typing (default: none)."""
        return frame

    def history_events(self, raw: RawTable, frame: pd.DataFrame, ctx: Context) -> pd.DataFrame | None:
        """Stage entries carried by this file besides its snapshot columns (default: none)."""
        return None


ADAPTERS: dict[str, type[Adapter]] = {}


def register(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator adding an adapter to the registry under ``cls.name``."""
    ADAPTERS[cls.name] = cls
    return cls


def detect(raw_headers: list[str], source: str = "auto") -> tuple[Adapter, str, float]:
    """Pick the adapter and table kind for a file's headers."""
    if source != "auto":
        if source not in ADAPTERS:
            from ..errors import ParameterError

            raise ParameterError(f"source must be 'auto' or one of {sorted(ADAPTERS)}; got {source!r}")
        adapter = ADAPTERS[source]()
        score, kind = adapter.score(raw_headers)
        return adapter, kind, score
    scored = []
    for name, cls in ADAPTERS.items():
        if name == "mapped":
            continue
        adapter = cls()
        score, kind = adapter.score(raw_headers)
        scored.append((score, name, adapter, kind))
    scored.sort(key=lambda t: (-t[0], t[1]))
    score, _, adapter, kind = scored[0]
    return adapter, kind, score


# ---------------------------------------------------------------- engine --


def to_canonical(adapter: Adapter, raw: RawTable, kind: str, ctx: Context) -> Converted:
    """Type a raw table's mapped columns; collect every failing value."""
    headers = raw.headers
    mapping = adapter.header_map(kind, headers)
    mapping.update({h: c for h, c in adapter.stage_columns(headers, ctx).items() if c not in mapping.values()})
    missing = [c for c in REQUIRED[kind] if c not in mapping.values()]
    if missing:
        raise SchemaError(
            f"{raw.file}: the {adapter.name} {kind} export needs column(s) for {missing} "
            f"(looked for {[a for c in missing for a in adapter._aliases_of(kind, c)]}); "
            f"the file has {headers}"
        )
    fails = _parse.Failures(str(raw.file), lambda: raw.lines)
    frame = raw.frame
    date_headers = [h for h, c in mapping.items() if column_kind(c) == "datetime"]
    order = _parse.decide_date_order(str(raw.file), {h: frame[h] for h in date_headers}, ctx.date_order)
    out: dict[str, pd.Series] = {}
    # Arrow's kernels release the GIL: columns are typed side by side on the machine's cores
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        typed_columns = pool.map(
            lambda item: _typed(frame[item[0]], item[0], item[1], order, ctx, fails), list(mapping.items())
        )
        for columns in typed_columns:
            out.update(columns)
    raw.notes.extend(sorted(fails.notes))  # with the file's own notes, so a cached file keeps them
    if s.CURRENCY in mapping.values():
        out[s.CURRENCY] = _parse.clean_text(frame[_key_of(mapping, s.CURRENCY)]).str.upper()
    elif s.AMOUNT in out and s.CURRENCY not in out:
        out[s.CURRENCY] = pd.Series(ctx.currency, index=frame.index, dtype="str")
    typed = pd.DataFrame(out, index=frame.index)
    primary = REQUIRED[kind][0]
    fails.add(
        typed[primary].isna(),
        _key_of(mapping, primary),
        frame[_key_of(mapping, primary)],
        Reason.MISSING_ID,
        "the record has no id",
    )
    # extra attributes ride along as text, under snake_case names
    for header in headers:
        if header not in mapping:
            name = _snake(header)
            if name and name not in typed.columns:
                typed[name] = _parse.clean_text(frame[header])
    typed = adapter.finish(typed, kind, ctx, raw)
    if s.STAGE_LABEL in typed and kind in (OPPORTUNITIES, HISTORY):
        header = next((h for h, c in mapping.items() if c == s.STAGE_LABEL), s.STAGE_LABEL)
        typed[s.STAGE] = stage_of_labels(typed[s.STAGE_LABEL], ctx.stages, file=raw.file, header=header)
    events = adapter.history_events(raw, typed, ctx)
    failures = fails.table()
    return Converted(
        kind=kind,
        frame=typed,
        failures=failures,
        events=events,
        date_order=order,
        id_header=_key_of(mapping, primary),
    )


def _key_of(mapping: dict[str, str], canonical: str) -> str:
    return next(h for h, c in mapping.items() if c == canonical)


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
        amount, currency, unparsed = _parse.parse_amounts(values, default_currency=ctx.currency)
        fails.add(unparsed, header, values, Reason.BAD_AMOUNT, "not an amount")
        return {canonical: amount, s.CURRENCY: currency}
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
    return re.sub(r"[^0-9a-z]+", "_", header.casefold()).strip("_")


def stage_of_labels(labels: pd.Series, stages: Stages, *, file, header: str) -> pd.Series:
    """Map CRM stage labels to funnel stages; unmapped labels are an error listing them."""
    mapped = stages.map_labels(labels)
    unknown = labels.notna() & mapped.isna()
    if unknown.any():
        counts = labels[unknown].value_counts()
        listing = ", ".join(f"{label!r} ({n:,} rows)" for label, n in counts.items())
        from ..errors import StageError

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
