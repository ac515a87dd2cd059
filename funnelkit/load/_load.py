"""``funnelkit.load``: files in, one canonical :class:`~funnelkit.Dataset` out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .. import schema as s
from .._arrow import arrow, give_back_freed_memory, isin
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
    FileResult,
    detect,
    rows_with_failures,
    stage_of_labels,
    with_locale_labels,
)
from .mapped import Mapped, read_mapping

MIN_SCORE = 0.5
DATA_SUFFIXES = TEXT_SUFFIXES | EXCEL_SUFFIXES | ZIP_SUFFIXES


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
    results = []
    for path in files:
        result = _load_file(path, source, config, ctx, cache, cache_dir)
        give_back_freed_memory()  # a file's parse and typing leave freed pages the next steps would not reuse
        if result is not None:
            results.append(result)
    if not results:
        raise InputFileError(f"none of {[str(f) for f in files]} matches the mapping's file: patterns")
    data = assemble(results, ctx, as_of=as_of)
    if cache:
        _cache.put_dataset(keys, data, cache_dir)
    give_back_freed_memory()
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


def _load_file(path: Path, source: str, config: dict, ctx: Context, cache: bool, cache_dir) -> FileResult | None:
    """One file read, typed and accounted for; None when a mapping's ``file:`` patterns leave it out."""
    key = _cache.key(path, source=source, config=config, ctx=ctx) if cache else None
    if key is not None:
        hit = _cache.get(key, cache_dir)
        if hit is not None:
            return hit
    configured = Mapped(config) if source == "mapped" else None
    raw = read_table(path, header_hint=_header_hint(source, configured))
    if configured is not None:
        adapter, kind = configured, configured.kind_for(path, raw.headers)
        if kind is None:
            ctx.notes.append(f"{path.name}: left out, it matches none of the mapping's file: patterns")
            return None
    else:
        adapter, kind, score = detect(raw.headers, source)
        if kind is None or (score < MIN_SCORE and source == "auto"):
            raise SchemaError(
                f"{path}: cannot tell which CRM export this is from its columns {raw.headers[:12]}"
                f"{' ...' if len(raw.headers) > 12 else ''}. Pass source= one of "
                f"{sorted(n for n, cls in ADAPTERS.items() if cls.columns)} or a mapping= of your columns"
            )
    file_ctx = replace(adapter.context_for(kind, ctx), notes=[])  # the file's notes are cached with it
    converted = adapter.convert(raw, kind, file_ctx)
    result = _account(raw, converted, adapter.name, locale=adapter.locale)
    result.notes.extend(file_ctx.notes)
    if key is not None:
        _cache.put(key, result, cache_dir)
    return result


def _header_hint(source: str, configured: Mapped | None):
    def hint(headers: list[str]) -> float:
        if configured is not None:
            return configured.score(headers)[0]
        return detect(headers, source)[2] if headers else 0.0

    return hint


def _account(raw: RawTable, converted: Converted, adapter: str, *, locale: str = "en") -> FileResult:
    """Split typed rows into kept and quarantined; check the footer's record count."""
    frame = converted.frame
    failures = converted.failures
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
        "locale": locale,
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


# ---------------------------------------------------------------- assembly --


def assemble(results: list[FileResult], ctx: Context, *, as_of=None) -> Dataset:
    """Combine per-file results into one Dataset: dedupe ids, map stages, derive events."""
    # the stage and status labels of every locale the files were read in
    stages = with_locale_labels(ctx.stages, [(r.adapter, r.summary.get("locale", "en")) for r in results])
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
    leads = _finish_leads(tables[LEADS], stages, notes)
    opps = _finish_opportunities(tables[OPPORTUNITIES], notes)
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
    first_at = pd.Series(np.arange(len(frame)), index=frame[id_col]).loc[lambda p: ~p.index.duplicated()]
    dup_at = np.flatnonzero(repeated)
    firsts_at = first_at.loc[frame[id_col].to_numpy()[dup_at]].to_numpy()
    dup, firsts = frame.iloc[dup_at], frame.iloc[firsts_at]
    lines_of = [_lines_of(p) for p in parts]
    dup_lines = np.array([lines_of[f][r] for f, r in zip(dup["_file"], dup["_row"], strict=True)], dtype=np.int64)
    first_desc = [
        f"{Path(parts[f].path).name} line {lines_of[f][r]}"
        for f, r in zip(firsts["_file"], firsts["_row"], strict=True)
    ]
    differing = _differing_columns(dup, firsts, [c for c in frame.columns if c not in ("_file", "_row")])
    exact = np.array([not d for d in differing], dtype=bool)
    quarantine = pd.DataFrame(
        {
            "file": [str(parts[f].path) for f in dup["_file"]],
            "line": dup_lines,
            "column": [parts[f].summary.get("id_column", id_col) for f in dup["_file"]],
            "value": dup[id_col].to_numpy(),
            "reason": np.where(exact, str(Reason.DUPLICATE_ROW), str(Reason.DUPLICATE_ID)),
            "detail": [
                f"exact repeat of {first}; counted once"
                if not diff
                else f"same id as {first}, which is kept; this row differs in {diff}"
                for first, diff in zip(first_desc, differing, strict=True)
            ],
        }
    )
    if (~exact).any():
        notes.append(
            f"{int((~exact).sum()):,} {id_col} values repeat with different contents; the first row of each is "
            "kept and the others are in the quarantine (duplicate_id) with the columns that differ"
        )
    kept = frame.loc[~repeated].drop(columns=["_file", "_row"]).reset_index(drop=True)
    return kept, quarantine


def _differing_columns(rows: pd.DataFrame, firsts: pd.DataFrame, columns: list[str]) -> list[str]:
    """Per repeated row, the columns in which it differs from the kept row ("" for an exact repeat)."""
    differs = []
    for column in columns:  # one vectorised comparison per column
        a, b = rows[column].reset_index(drop=True), firsts[column].reset_index(drop=True)
        same = (a == b).fillna(False).to_numpy(dtype=bool) | (a.isna() & b.isna()).to_numpy()
        differs.append(~same)
    matrix = np.column_stack(differs) if differs else np.zeros((len(rows), 0), dtype=bool)
    names = np.array(columns, dtype=object)
    return [", ".join(names[row]) for row in matrix]  # repeated rows only: few


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


def _finish_leads(leads: pd.DataFrame, stages: Stages, notes: list[str]) -> pd.DataFrame:
    had_source = s.SOURCE in leads
    leads = s.conform(leads, s.LEAD_COLUMNS)
    lead_level = stages.names[1 : stages.names.index(stages.opportunity)]
    for col in map(stage_column, lead_level):
        if col not in leads:
            leads[col] = pd.Series(pd.NaT, index=leads.index, dtype=s.TIMESTAMP)
    if not len(leads):
        return leads
    if had_source:  # a blank source in a file that has the column; a missing column stays missing
        leads[s.SOURCE] = leads[s.SOURCE].fillna("(not set)")
    else:
        notes.append("the leads export has no source column: nothing can be broken down by lead source")
    _note_conversion_contradictions(leads, stages, notes)
    undated = leads[s.IS_DISQUALIFIED].to_numpy() & leads[s.DISQUALIFIED_AT].isna().to_numpy()
    if undated.any():
        notes.append(
            f"{int(undated.sum()):,} leads have a status meaning disqualified, rejected or recycled but no "
            "disqualified date; they count as disqualified, undated (is_disqualified)"
        )
    return leads


def _note_conversion_contradictions(leads: pd.DataFrame, stages: Stages, notes: list[str]) -> None:
    """Count leads whose conversion evidence disagrees; the rule that settles it is in the funnel view.

    The converted flag, where the export has one, decides: a status that reads
    converted on a lead flagged not converted does not make it an opportunity,
    and a lead flagged converted without a date has reached the opportunity
    stage, undated (its opportunity's creation dates it when it is in the export).
    """
    if "is_converted" not in leads:
        return
    flag = leads["is_converted"]
    from_opportunity_on = stages.names[stages.names.index(stages.opportunity) :]
    at_least_opportunity = stages.map_labels(leads[s.STATUS]).isin(from_opportunity_on)
    says_converted = at_least_opportunity.to_numpy() & (flag == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
    if says_converted.any():
        notes.append(
            f"{int(says_converted.sum()):,} leads have a converted status but are flagged not converted; "
            "the flag decides: they count as not converted"
        )
    undated = (flag == True).fillna(False).to_numpy(dtype=bool) & leads[s.CONVERTED_AT].isna().to_numpy()  # noqa: E712
    if undated.any():
        notes.append(
            f"{int(undated.sum()):,} leads are flagged converted without a converted date; they count as "
            "converted, dated by their opportunity's creation where the opportunity is in the export"
        )


def _finish_opportunities(opps: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    had_source, had_lost_reason = s.SOURCE in opps, s.LOST_REASON in opps
    opps = s.conform(opps, s.OPPORTUNITY_COLUMNS)
    if not len(opps):
        return opps
    if not had_lost_reason:  # a missing column stays missing: lost reasons say so rather than "(no reason given)"
        notes.append(s.NO_LOST_REASON_COLUMN)
    backwards = (opps[s.CLOSED_AT] < opps[s.CREATED_AT]).fillna(False).to_numpy(dtype=bool)
    opps["closed_before_created"] = backwards
    if backwards.any():
        notes.append(
            f"{int(backwards.sum()):,} opportunities close before they were created; they are kept "
            "and left out of time-to-close figures (column closed_before_created)"
        )
    currencies = sorted(opps[s.CURRENCY].dropna().unique())
    if len(currencies) > 1:
        notes.append(
            f"amounts are in several currencies ({', '.join(currencies)}); "
            "revenue figures are given per currency, never summed across them"
        )
    negative = int((opps[s.AMOUNT] < 0).sum())
    if negative:
        notes.append(f"{negative:,} opportunities have a negative amount; they are kept as they are")
    if had_source:
        opps[s.SOURCE] = opps[s.SOURCE].fillna("(not set)")
    return opps


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
