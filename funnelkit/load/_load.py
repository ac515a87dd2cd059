"""``funnelkit.load``: files in, one canonical :class:`~funnelkit.Dataset` out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .. import schema as s
from .._arrow import arrow, isin
from ..dataset import Dataset, LoadSummary, empty_history
from ..errors import InputFileError, ParameterError, Reason, SchemaError
from ..schema import Stages, stage_column
from . import _cache
from ._read import EXCEL_SUFFIXES, TEXT_SUFFIXES, ZIP_SUFFIXES, RawTable, check_regular_file, read_table
from .base import (
    ADAPTERS,
    HISTORY,
    LEADS,
    OPPORTUNITIES,
    Context,
    Converted,
    detect,
    rows_with_failures,
    stage_of_labels,
)
from .mapped import Mapped, read_mapping

MIN_SCORE = 0.5
DATA_SUFFIXES = TEXT_SUFFIXES | EXCEL_SUFFIXES | ZIP_SUFFIXES


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


def load(
    *paths: str | Path,
    source: str = "auto",
    mapping: Mapping | str | Path | None = None,
    stages: Stages | None = None,
    date_order: str | None = None,
    tz: str | None = None,
    currency: str | None = None,
    as_of=None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """Load CRM exports into the canonical funnel model.

    Parameters
    ----------
    *paths : str or Path
        Export files (CSV, TSV, .xlsx, a .zip holding one CSV) or folders holding them.
    source : str
        Adapter name (``salesforce_report``, ``salesforce_api``, ``hubspot``,
        ``pipedrive``) or ``"auto"`` to detect each file's adapter from its headers.
    mapping : dict or path, optional
        Column mapping for any other export (see :mod:`funnelkit.load.mapped`).
        It may also set ``stages``, ``date_order``, ``tz`` and ``currency``.
    stages : Stages, optional
        The funnel's stages (default lead > mql > sql > opportunity > won).
    date_order : {"auto", "mdy", "dmy", "ymd"}, optional
        How to read dates like ``03/04/2025``. "auto" (default) decides from the
        data and fails with :class:`~funnelkit.AmbiguousDateError` when it cannot.
    tz : str, optional
        Time zone of timestamps written without one (default "UTC").
    currency : str, optional
        Currency of amounts written without one.
    as_of : timestamp, optional
        Moment results are computed against (default: latest timestamp in the data).
    cache : bool
        Keep a Parquet copy of each parsed file so an unchanged file loads fast.
    cache_dir : path, optional
        Where the cache lives (default ``$FUNNELKIT_CACHE`` or ``~/.cache/funnelkit``).

    Returns
    -------
    Dataset
        ``.leads``, ``.opportunities``, ``.events``, ``.quarantine`` and
        ``.summary`` (rows read = kept + quarantined, per file).

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("data/sample", cache=False)
    >>> data.summary.balanced
    True
    """
    config = read_mapping(mapping)
    if config:
        source = "mapped"
    stages = stages or Stages.from_config(config.get("stages"))
    ctx = Context(
        stages=stages,
        date_order=date_order or config.get("date_order", "auto"),
        tz=tz or config.get("tz", "UTC"),
        currency=currency or config.get("currency"),
    )
    files = expand_paths(paths)
    if cache:
        # the whole assembled dataset is cached too, keyed on every file's own key
        keys = [_cache.key(path, source=source, config=config, ctx=ctx) for path in files]
        whole = _cache.get_dataset(keys, cache_dir)
        if whole is not None:
            return whole.with_as_of(as_of) if as_of is not None else whole
    results = [_load_file(path, source, config, ctx, cache, cache_dir) for path in files]
    data = assemble(results, ctx, as_of=as_of)
    if cache:
        _cache.put_dataset(keys, data, cache_dir)
    return data


def expand_paths(paths) -> list[Path]:
    """The export files named by ``paths``: files as given, folders as the exports they hold.

    Only regular files are taken: a FIFO or device named directly is an error
    before anything opens it (a folder's other entries are skipped).
    """
    if not paths:
        raise ParameterError("load() needs at least one file or folder")
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in DATA_SUFFIXES and not p.name.startswith(".")
            )
            if not found:
                raise InputFileError(f"{path}: the folder holds no CSV, Excel or zipped CSV exports")
            files.extend(found)
        elif path.exists():
            check_regular_file(path)
            files.append(path)
        else:
            raise InputFileError(f"{path}: no such file or folder")
    return files


def _load_file(path: Path, source: str, config: dict, ctx: Context, cache: bool, cache_dir) -> FileResult:
    key = _cache.key(path, source=source, config=config, ctx=ctx) if cache else None
    if key is not None:
        hit = _cache.get(key, cache_dir)
        if hit is not None:
            return hit
    adapter_for = (lambda: Mapped(config)) if source == "mapped" else None
    hint = _header_hint(source, adapter_for)
    raw = read_table(path, header_hint=hint)
    adapter = adapter_for() if adapter_for else None
    if adapter is not None:
        score, kind = adapter.score(raw.headers)
        kind = _mapped_kind(adapter, kind, path, raw)
    else:
        adapter, kind, score = detect(raw.headers, source)
    if kind is None or (score < MIN_SCORE and source == "auto"):
        raise SchemaError(
            f"{path}: cannot tell which CRM export this is from its columns {raw.headers[:12]}"
            f"{' ...' if len(raw.headers) > 12 else ''}. Pass source= one of "
            f"{sorted(n for n in ADAPTERS if n != 'mapped')} "
            "or a mapping= of your columns"
        )
    if isinstance(adapter, Mapped):
        ctx_file = Context(
            ctx.stages,
            ctx.date_order,
            ctx.tz,
            adapter.table_currency(kind) or ctx.currency,
            ctx.notes,
        )
    else:
        ctx_file = ctx
    converted = adapter.convert(raw, kind, ctx_file)
    result = _account(raw, converted, adapter.name)
    if key is not None:
        _cache.put(key, result, cache_dir)
    return result


def _header_hint(source, adapter_for):
    def hint(headers: list[str]) -> float:
        if adapter_for:
            return adapter_for().score(headers)[0]
        return detect(headers, source)[2] if headers else 0.0

    return hint


def _mapped_kind(adapter: Mapped, kind, path: Path, raw: RawTable):
    tables = adapter.config.get("tables") or {}
    for name, table in tables.items():
        pattern = table.get("file")
        if pattern and path.match(pattern):
            return name
    if len(tables) == 1:
        return next(iter(tables))
    return kind


def _account(raw: RawTable, converted: Converted, adapter: str) -> FileResult:
    """Split typed rows into kept and quarantined; check the footer's record count."""
    frame = converted.frame
    failures = converted.failures
    if "is_deleted" in frame:
        deleted = frame["is_deleted"].fillna(False).to_numpy(dtype=bool)
        if deleted.any():
            rows = np.flatnonzero(deleted)
            failures = pd.concat(
                [
                    failures,
                    _quarantine_rows(raw, rows, "IsDeleted", "true", Reason.DELETED, "record deleted in the CRM"),
                ],
                ignore_index=True,
            )
        frame = frame.drop(columns="is_deleted")
    bad = rows_with_failures(failures)
    keep = np.ones(len(frame), dtype=bool)
    keep[bad] = False
    kept = frame.loc[keep] if len(bad) else frame  # no copy of a clean file
    kept = kept.assign(_row=np.flatnonzero(keep).astype(np.int64))
    events = converted.events
    if events is not None and "_row" in events:
        events = events.loc[keep[events["_row"].to_numpy()]]
    quarantine = pd.concat([raw.rejected, failures.drop(columns="row", errors="ignore")], ignore_index=True)
    quarantine["line"] = quarantine["line"].astype(np.int64)
    ragged = int((raw.rejected["reason"] == str(Reason.RAGGED_ROW)).sum())
    if raw.footer_total is not None and raw.footer_total != len(raw.frame) + ragged:
        raise InputFileError(
            f"{raw.file}: the report footer says {raw.footer_total:,} records but the file "
            f"holds {len(raw.frame) + ragged:,} data rows; the export looks truncated or edited. "
            "Export the report again"
        )
    if raw.rows_read and not keep.any():
        _refuse_all_quarantined(raw.file, raw.rows_read, quarantine)
    summary = {
        "file": str(raw.file),
        "adapter": adapter,
        "table": converted.kind,
        "rows_read": raw.rows_read,
        "rows_kept": int(keep.sum()),
        "rows_quarantined": raw.rows_read - int(keep.sum()),
        "footer_lines": raw.footer_lines,
        "encoding": raw.encoding,
        "delimiter": raw.delimiter,
        "date_order": converted.date_order,
        "id_column": converted.id_header,
    }
    return FileResult(raw.file, converted.kind, adapter, kept, quarantine, events, summary, list(raw.notes))


def _refuse_all_quarantined(file: Path, rows_read: int, quarantine: pd.DataFrame) -> None:
    """A file none of whose rows can be kept is an error, not a load of 0 rows.

    Rows deleted in the CRM are the exception: a file of deleted records is empty, not wrong.
    """
    problems = quarantine[quarantine["reason"] != str(Reason.DELETED)]
    if problems.empty:
        return
    # one count per row: a row can fail in several columns
    by_cause = (
        problems.groupby(["reason", "column"], sort=False)
        .agg(rows=("line", "nunique"), line=("line", "first"), value=("value", "first"))
        .sort_values("rows", ascending=False, kind="stable")
        .reset_index()
    )
    top = "; ".join(
        f"{cause.reason} in column {cause.column!r} "
        f"({cause.rows:,} row{'s' if cause.rows != 1 else ''}; e.g. line {cause.line}: {str(cause.value)[:60]!r})"
        for cause in by_cause.head(3).itertuples(index=False)
    )
    more = f"; and {len(by_cause) - 3} more kinds of problem" if len(by_cause) > 3 else ""
    raise InputFileError(
        f"{file}: {f'all {rows_read:,} rows were' if rows_read != 1 else 'its only row was'} quarantined, "
        "so nothing of this file would be loaded. "
        f"Most common problems: {top}{more}. Check the export and the load options "
        "(date_order=, tz=, mapping=), then load again; the error's .failures lists every failing value",
        failures=problems.reset_index(drop=True),
    )


def _quarantine_rows(raw, rows, column, value, reason, detail) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": str(raw.file),
            "row": rows,
            "line": raw.lines[rows],
            "column": column,
            "value": value,
            "reason": str(reason),
            "detail": detail,
        }
    )


# ---------------------------------------------------------------- assembly --


def assemble(results: list[FileResult], ctx: Context, *, as_of=None) -> Dataset:
    """Combine per-file results into one Dataset: dedupe ids, map stages, derive events."""
    stages = ctx.stages
    notes = list(ctx.notes)
    quarantine = [r.quarantine for r in results]
    summary = pd.DataFrame([r.summary for r in results])
    for r in results:
        notes.extend(r.notes)

    tables = {}
    for kind, id_col in ((LEADS, s.LEAD_ID), (OPPORTUNITIES, s.OPPORTUNITY_ID)):
        parts = [r for r in results if r.kind == kind]
        frame, dupes = _dedupe(parts, id_col, notes)
        if len(dupes):
            quarantine.append(dupes)
            for path, n in dupes.groupby("file").size().items():
                summary.loc[summary["file"] == path, "rows_kept"] -= n
                summary.loc[summary["file"] == path, "rows_quarantined"] += n
        tables[kind] = frame
    leads = _finish_leads(tables[LEADS], stages)
    opps = _finish_opportunities(tables[OPPORTUNITIES], stages, notes)
    history = [r.events for r in results if r.events is not None and len(r.events)]
    history += [_history_rows(r) for r in results if r.kind == HISTORY and len(r.frame)]
    history_table = _history_table(history, stages)
    _note_links(leads, opps, notes)
    quarantine_table = pd.concat(quarantine, ignore_index=True) if quarantine else s.empty_quarantine()
    quarantine_table = quarantine_table.reindex(columns=s.QUARANTINE_COLUMNS)
    return Dataset(
        leads=leads,
        opportunities=opps,
        history=history_table,
        quarantine=quarantine_table,
        summary=LoadSummary(summary),
        stages=stages,
        as_of=as_of,
        notes=tuple(notes),
    )


def _dedupe(parts: list[FileResult], id_col: str, notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate the files of a table; a repeated id keeps its first row, quarantines the rest."""
    if not parts:
        return pd.DataFrame(), s.empty_quarantine()
    frames = [part.frame.assign(_file=np.int32(i)) for i, part in enumerate(parts)]
    frame = pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else frames[0]
    ids = arrow(frame[id_col])
    distinct = _distinct_count(ids)
    case_only = distinct - _distinct_count(pc.utf8_lower(ids))
    if case_only:
        notes.append(
            f"{case_only:,} {id_col} values differ from another only by upper/lower case; "
            "they are kept as different records (Salesforce's 15-character ids are case-sensitive)"
        )
    if distinct == len(ids):  # the common case: no id repeated, no row-by-row duplicate search
        return frame.drop(columns=["_file", "_row"]), s.empty_quarantine()
    repeated = frame[id_col].duplicated(keep="first").to_numpy()
    first_pos = frame.drop_duplicates(id_col, keep="first").set_index(id_col)[["_file", "_row"]]
    dup = frame.loc[repeated, [id_col, "_file", "_row"]]
    firsts = first_pos.loc[dup[id_col]]
    lines_of = [_lines_of(p) for p in parts]
    dup_lines = np.array([lines_of[f][r] for f, r in zip(dup["_file"], dup["_row"], strict=True)], dtype=np.int64)
    first_desc = [
        f"{Path(parts[f].path).name} line {lines_of[f][r]}"
        for f, r in zip(firsts["_file"], firsts["_row"], strict=True)
    ]
    quarantine = pd.DataFrame(
        {
            "file": [str(parts[f].path) for f in dup["_file"]],
            "line": dup_lines,
            "column": [parts[f].summary.get("id_column", id_col) for f in dup["_file"]],
            "value": dup[id_col].to_numpy(),
            "reason": str(Reason.DUPLICATE_ID),
            "detail": [f"same id as {d}; the first row is kept" for d in first_desc],
        }
    )
    kept = frame.loc[~repeated].drop(columns=["_file", "_row"]).reset_index(drop=True)
    return kept, quarantine


def _distinct_count(ids) -> int:
    """How many distinct ids: one comparison pass when they are in increasing order, as
    exports sorted by id are (hashing ten million strings takes seconds), else a hash."""
    if len(ids) < 2 or not pc.any(pc.greater_equal(ids[:-1], ids[1:])).as_py():
        return len(ids)
    return len(pc.unique(ids))  # len(unique) is several times faster than count_distinct


def _lines_of(part: FileResult):
    """Physical lines of a file's rows (re-reads the file; only needed for duplicates)."""
    cached = {}

    class _Lazy:
        def __getitem__(self, row):
            if "lines" not in cached:
                cached["lines"] = read_table(Path(part.path)).lines
            return int(cached["lines"][row])

    return _Lazy()


def _finish_leads(leads: pd.DataFrame, stages: Stages) -> pd.DataFrame:
    leads = _with_columns(leads, s.LEAD_COLUMNS)
    lead_level = stages.names[1 : stages.names.index(stages.opportunity)]
    for col in map(stage_column, lead_level):
        if col not in leads:
            leads[col] = pd.Series(pd.NaT, index=leads.index, dtype=s.TIMESTAMP)
    leads[s.SOURCE] = leads[s.SOURCE].fillna("(not set)")
    return leads


def _finish_opportunities(opps: pd.DataFrame, stages: Stages, notes: list[str]) -> pd.DataFrame:
    had_flags = {c: c in opps for c in (s.IS_CLOSED, s.IS_WON)}
    opps = _with_columns(opps, s.OPPORTUNITY_COLUMNS)
    if not len(opps):
        return opps
    if not had_flags[s.IS_WON]:
        opps[s.IS_WON] = (opps[s.STAGE] == stages.won).to_numpy()
    if not had_flags[s.IS_CLOSED]:
        opps[s.IS_CLOSED] = opps[s.STAGE].isin([stages.won, stages.lost]).to_numpy() | opps[s.IS_WON].to_numpy()
    won = opps[s.IS_WON].to_numpy(dtype=bool)
    closed = opps[s.IS_CLOSED].to_numpy(dtype=bool) | won
    opps[s.IS_CLOSED] = closed
    opps[s.STAGE] = opps[s.STAGE].mask(won, stages.won).mask(closed & ~won, stages.lost)
    open_dated = (~closed & opps[s.CLOSED_AT].notna()).sum()
    if open_dated:
        notes.append(
            f"{open_dated:,} open opportunities carry a close date "
            "(Salesforce's expected close date); "
            "it is not used as a close"
        )
    opps[s.CLOSED_AT] = opps[s.CLOSED_AT].where(closed)
    backwards = (opps[s.CLOSED_AT] < opps[s.CREATED_AT]).fillna(False).to_numpy(dtype=bool)
    opps["closed_before_created"] = backwards
    if backwards.any():
        notes.append(
            f"{int(backwards.sum()):,} opportunities close before they were created; they are kept "
            "and left out of time-to-close figures (column closed_before_created)"
        )
    if opps[s.CURRENCY].nunique() > 1:
        notes.append(
            f"amounts are in several currencies "
            f"({', '.join(sorted(opps[s.CURRENCY].dropna().unique()))}); "
            "revenue figures are given per currency, never summed across them"
        )
    negative = int((opps[s.AMOUNT] < 0).sum())
    if negative:
        notes.append(f"{negative:,} opportunities have a negative amount; they are kept as they are")
    opps[s.SOURCE] = opps[s.SOURCE].fillna("(not set)")
    return opps


def _with_columns(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Add missing canonical columns (empty) and put canonical ones first with their dtypes."""
    # copy-on-write (pandas 3): the columns set below do not write through to the caller's frame
    frame = frame if len(frame.columns) else pd.DataFrame(index=pd.RangeIndex(0))
    for col, dtype in columns.items():
        if col not in frame:
            frame[col] = pd.Series(np.nan if dtype not in ("bool",) else False, index=frame.index).astype(
                dtype if dtype != s.TIMESTAMP else "datetime64[ns]"
            )
            if dtype == s.TIMESTAMP:
                frame[col] = frame[col].dt.tz_localize("UTC")
        elif dtype == "bool":
            frame[col] = frame[col].fillna(False).astype(bool)
        elif dtype == s.TEXT:
            frame[col] = frame[col].astype("str")
    ordered = list(columns) + [c for c in frame.columns if c not in columns]
    return frame[ordered]


def _history_rows(result: FileResult) -> pd.DataFrame:
    f = result.frame
    return pd.DataFrame(
        {
            s.ENTITY_ID: f[s.OPPORTUNITY_ID].to_numpy(),
            s.ENTITY: "opportunity",
            s.STAGE: f[s.STAGE].to_numpy(),
            s.STAGE_LABEL: f[s.STAGE_LABEL].to_numpy(),
            s.AT: f[s.AT].to_numpy(),
            s.ORIGIN: "history",
        }
    )


def _history_table(history: list[pd.DataFrame], stages: Stages) -> pd.DataFrame:
    """Stage entries read from history exports (OpportunityHistory, HubSpot "Date entered")."""
    if not history:
        return empty_history()
    hist = pd.concat(history, ignore_index=True).drop(columns="_row", errors="ignore")
    if s.STAGE not in hist or hist[s.STAGE].isna().any():
        hist[s.STAGE] = stage_of_labels(hist[s.STAGE_LABEL], stages, file="stage history", header="stage")
    hist = hist[s.EVENT_COLUMNS]
    hist[s.AT] = hist[s.AT].astype(s.TIMESTAMP)
    return hist


def _note_links(leads, opps, notes: list[str]) -> None:
    if not len(leads) or not len(opps):
        return
    linked = leads[s.OPPORTUNITY_ID].dropna()
    dangling = ~isin(linked, opps[s.OPPORTUNITY_ID])
    if dangling.any():
        notes.append(
            f"{int(dangling.sum()):,} leads name a converted opportunity that is not in the "
            "opportunities export; they count as converted at their converted date"
        )
    orphan_leads = opps[s.LEAD_ID].dropna()
    missing = ~isin(orphan_leads, leads[s.LEAD_ID])
    if missing.any():
        notes.append(
            f"{int(missing.sum()):,} opportunities point to a lead that is not in the leads "
            "export; they enter the funnel at the opportunity stage with their own source"
        )
