"""Parquet cache of parsed export files and of assembled datasets.

An unchanged export loads from Parquet instead of being parsed again. The
cache never sits next to the raw exports (those are read, never written):
it lives in ``$FUNNELKIT_CACHE`` or ``~/.cache/funnelkit``.

What makes a file "unchanged" (the key)
    The resolved path, size, mtime, ctime, inode and device of the file, a
    content digest, and every load option that changes the result (source,
    mapping, stages, date order, time zone, currency, funnelkit's version,
    this module's ``FORMAT`` and a digest of the loader's own code and locale
    presets, so a changed parsing rule never serves entries parsed by the old
    one). The ctime catches an in-place edit whose mtime was put back
    (``touch -r``, ``os.utime``): setting the mtime moves the ctime, and the
    ctime itself cannot be set back. The inode and device catch a file
    replaced by another one (``mv``, ``cp -p`` of an older copy). The digest
    is a BLAKE2b of the size and the bytes: the whole file up to
    ``WHOLE_FILE_BYTES`` (4 MiB), else its first and last ``EDGE_BYTES``
    (1 MiB each), so computing a key reads at most 2 MiB even of a 2.4 GB
    export. A same-size edit in the middle of a big file, with the metadata
    restored, is caught by the ctime, not by the digest.

A damaged entry is a miss
    Every read is checked: ``meta.json`` must be an object of the expected
    keys and types with this module's ``FORMAT``; each Parquet file must carry
    its own entry's key in its schema metadata (so a Parquet file copied in
    from another entry is refused), the canonical columns of its table and
    the row count ``meta.json`` recorded. Any failure removes the entry and
    the file is parsed again; the following write replaces the entry.

Size cap, least recently used first
    Every hit stamps the entry's folder with the current time. After each
    write the cache is brought under ``MAX_BYTES`` (2 GiB; environment
    variable ``FUNNELKIT_CACHE_MAX_BYTES`` overrides it) by removing the
    entries used longest ago; the entry just written is never removed, even
    when it alone is larger than the cap. Only folders named as entries are
    ever removed, plus unfinished ``.tmp-*`` writes older than an hour.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema as s
from ..errors import ParameterError
from .base import FileResult

#: bumped whenever what an entry holds changes; entries of another format are misses
FORMAT = 2
#: files up to this size are digested whole
WHOLE_FILE_BYTES = 4 * 1024**2
#: of bigger files, this many bytes at each end are digested
EDGE_BYTES = 1024**2
#: default size cap of the whole cache, in bytes
MAX_BYTES = 2 * 1024**3
MAX_BYTES_ENV = "FUNNELKIT_CACHE_MAX_BYTES"
#: an unfinished write older than this (seconds) is debris of a crashed load
STALE_TMP_SECONDS = 3600

_ENTRY_NAME = re.compile(r"^(dataset-)?[0-9a-f]{32}$")
_TMP_PREFIX = ".tmp-"
_STAMP = b"funnelkit.cache_entry"
#: the column identifying a row of each per-file table kind
_ID_COLUMN = {"leads": s.LEAD_ID, "opportunities": s.OPPORTUNITY_ID, "history": s.OPPORTUNITY_ID}
_SUMMARY_COUNTS = ("rows_read", "rows_kept", "rows_quarantined")
DATASET_TABLES = ("leads", "opportunities", "history", "quarantine", "summary")


class _Damaged(Exception):
    """An entry that does not hold what it should."""


def cache_root(cache_dir=None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("FUNNELKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "funnelkit"


def max_bytes() -> int:
    """The cache's size cap: ``$FUNNELKIT_CACHE_MAX_BYTES`` if set, else ``MAX_BYTES``.

    Examples
    --------
    >>> max_bytes() == MAX_BYTES or MAX_BYTES_ENV in os.environ
    True
    """
    given = os.environ.get(MAX_BYTES_ENV)
    if given is None or not given.strip():
        return MAX_BYTES
    try:
        value = int(given.strip().replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise ParameterError(
            f"{MAX_BYTES_ENV} must be a whole number of bytes (e.g. 2147483648 for 2 GiB); got {given!r}"
        )
    return value


# --------------------------------------------------------------------- key --


def content_digest(path: Path, size: int) -> str:
    """BLAKE2b of the size and the bytes: the whole file when small, else its two ends."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as handle:
        if size <= WHOLE_FILE_BYTES:
            digest.update(handle.read())
        else:
            digest.update(handle.read(EDGE_BYTES))
            handle.seek(size - EDGE_BYTES)
            digest.update(handle.read(EDGE_BYTES))
    return digest.hexdigest()


@functools.cache
def reader_digest() -> str:
    """BLAKE2b of the loader's source files and locale presets: entries parsed by other rules are misses."""
    digest = hashlib.blake2b(digest_size=16)
    here = Path(__file__).parent
    for part in sorted([*here.rglob("*.py"), *here.rglob("*.yml"), here.parent / "schema.py"]):
        digest.update(part.relative_to(here.parent).as_posix().encode())
        digest.update(part.read_bytes())
    return digest.hexdigest()


def key(path: Path, *, source: str, config: dict, ctx) -> str:
    from .. import __version__

    stat = path.stat()
    stages = ctx.stages
    payload = json.dumps(
        {
            "format": FORMAT,
            "version": __version__,
            "reader": reader_digest(),
            "path": str(path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "ctime_ns": stat.st_ctime_ns,
            "inode": stat.st_ino,
            "device": stat.st_dev,
            "digest": content_digest(path, stat.st_size),
            "source": source,
            "config": config,
            "stages": [
                stages.names,
                stages.opportunity,
                stages.lost,
                sorted(dict(stages.labels).items()),
            ],
            "date_order": ctx.date_order,
            "tz": ctx.tz,
            "currency": ctx.currency,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# ------------------------------------------------------------ reading back --


def _read_meta(folder: Path) -> dict:
    meta = json.loads((folder / "meta.json").read_text())
    if not isinstance(meta, dict):
        raise _Damaged(f"meta.json holds a {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT or meta.get("entry") != folder.name:
        raise _Damaged("meta.json is of another format or another entry")
    return meta


def _check_types(meta: dict, expected: dict) -> None:
    for name, kind in expected.items():
        if not isinstance(meta.get(name), kind) or (kind is int and isinstance(meta[name], bool)):
            raise _Damaged(f"meta.json: {name!r} is missing or not a {kind}")


def _read_table(folder: Path, name: str, *, columns, rows: int) -> pd.DataFrame:
    """One Parquet file of the entry, refused unless it is this entry's, whole and of its table."""
    path = folder / f"{name}.parquet"
    stamp = (pq.read_schema(path).metadata or {}).get(_STAMP)
    if stamp != folder.name.encode():
        raise _Damaged(f"{path.name} belongs to another entry")
    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing or len(frame) != rows:
        raise _Damaged(f"{path.name}: columns {missing} missing or {len(frame)} rows instead of {rows}")
    return frame


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _read_file_entry(folder: Path):

    meta = _read_meta(folder)
    _check_types(meta, {"path": str, "kind": str, "adapter": str, "summary": dict, "notes": list,
                        "has_events": bool, "rows": dict})  # fmt: skip
    summary, rows = meta["summary"], meta["rows"]
    _check_types(summary, dict.fromkeys(_SUMMARY_COUNTS, int))
    _check_types(rows, {"frame": int, "quarantine": int, **({"events": int} if meta["has_events"] else {})})
    if meta["kind"] not in _ID_COLUMN or not _is_str_list(meta["notes"]) or rows["frame"] != summary["rows_kept"]:
        raise _Damaged("meta.json: unknown table kind, notes not text, or row counts that disagree")
    frame = _read_table(folder, "frame", columns=[_ID_COLUMN[meta["kind"]], "_row"], rows=rows["frame"])
    quarantine = _read_table(folder, "quarantine", columns=s.QUARANTINE_COLUMNS, rows=rows["quarantine"])
    events = None
    if meta["has_events"]:
        events = _read_table(folder, "events", columns=[s.ENTITY_ID, s.ENTITY, s.AT], rows=rows["events"])
    return FileResult(
        path=Path(meta["path"]),
        kind=meta["kind"],
        adapter=meta["adapter"],
        frame=frame,
        quarantine=quarantine,
        events=events,
        summary=summary,
        notes=meta["notes"],
    )


def _read_dataset_entry(folder: Path):
    from ..dataset import Dataset, LoadSummary
    from ..schema import Stages

    meta = _read_meta(folder)
    _check_types(meta, {"notes": list, "stages": dict, "rows": dict})
    stages, rows = meta["stages"], meta["rows"]
    _check_types(stages, {"names": list, "opportunity": str, "lost": str, "labels": dict})
    _check_types(rows, dict.fromkeys(DATASET_TABLES, int))
    if not (_is_str_list(meta["notes"]) and _is_str_list(stages["names"])):
        raise _Damaged("meta.json: notes or stage names are not text")
    stages = Stages(names=tuple(stages["names"]), opportunity=stages["opportunity"], lost=stages["lost"],
                    labels=stages["labels"])  # fmt: skip
    columns = {
        "leads": list(s.LEAD_COLUMNS),
        "opportunities": list(s.OPPORTUNITY_COLUMNS),
        "history": s.EVENT_COLUMNS,
        "quarantine": s.QUARANTINE_COLUMNS,
        "summary": ["file", "adapter", "table", *_SUMMARY_COUNTS],
    }
    tables = {name: _read_table(folder, name, columns=columns[name], rows=rows[name]) for name in DATASET_TABLES}
    return Dataset(
        leads=tables["leads"],
        opportunities=tables["opportunities"],
        history=tables["history"],
        quarantine=tables["quarantine"],
        summary=LoadSummary(tables["summary"]),
        stages=stages,
        as_of=None,  # the caller's as_of is applied afresh; None means the data's latest moment
        notes=tuple(meta["notes"]),
    )


def _hit(folder: Path, read):
    """What ``read`` makes of the entry in ``folder``, or None: absent, or damaged and removed."""
    if not (folder / "meta.json").exists():
        if folder.exists():
            _remove(folder)  # a folder without meta.json is half an entry
        return None
    try:
        found = read(folder)
    except Exception:  # noqa: BLE001 - whatever is wrong with an entry, the export is the truth
        _remove(folder)
        return None
    _touch(folder)
    return found


def get(key: str, cache_dir=None):
    """The parsed file of this key, if a sound entry holds it (else None; a damaged entry is removed)."""
    return _hit(cache_root(cache_dir) / key, _read_file_entry)


def _dataset_key(keys: list[str]) -> str:
    return "dataset-" + hashlib.sha256("|".join(keys).encode()).hexdigest()[:32]


def get_dataset(keys: list[str], cache_dir=None):
    """The assembled Dataset of exactly these files and options, if cached."""
    root = cache_root(cache_dir)
    found = _hit(root / _dataset_key(keys), _read_dataset_entry)
    if found is not None:
        for file_key in keys:  # the files' own entries are in use too: keep them with the dataset
            if (root / file_key).is_dir():
                _touch(root / file_key)
    return found


# ----------------------------------------------------------------- writing --


def _write_table(frame: pd.DataFrame, path: Path, entry: str) -> None:
    """``frame.to_parquet(path, index=False)``, stamped with the entry's key."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _STAMP: entry.encode()})
    pq.write_table(table, path)


def _write_entry(root: Path, entry: str, tables: dict[str, pd.DataFrame], meta: dict) -> None:
    """Write the entry into a temporary folder, then move it in place of any entry of that name."""
    tmp = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=_TMP_PREFIX))
        for name, frame in tables.items():
            _write_table(frame, tmp / f"{name}.parquet", entry)
        rows = {name: len(frame) for name, frame in tables.items()}
        (tmp / "meta.json").write_text(json.dumps({**meta, "format": FORMAT, "entry": entry, "rows": rows},
                                                  default=str))  # fmt: skip
        final = root / entry
        if final.exists():
            # a damaged entry that could not be removed, or another process's copy: ours replaces it
            old = Path(tempfile.mkdtemp(dir=root, prefix=_TMP_PREFIX))
            os.replace(final, old / "entry")
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)
        _touch(final)
    except OSError:
        # A cache that cannot be written only costs speed; loading goes on.
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    evict(root, keep=entry)


def put(key: str, result, cache_dir=None) -> None:
    """Cache one parsed file under ``key``, replacing any entry there; then keep the cache under its cap."""
    tables = {"frame": result.frame, "quarantine": result.quarantine}
    if result.events is not None:
        tables["events"] = result.events
    meta = {
        "path": str(result.path),
        "kind": result.kind,
        "adapter": result.adapter,
        "summary": result.summary,
        "notes": result.notes,
        "has_events": result.events is not None,
    }
    _write_entry(cache_root(cache_dir), key, tables, meta)


def put_dataset(keys: list[str], data, cache_dir=None) -> None:
    """Cache the assembled dataset of these file keys, replacing any entry there."""
    tables = {"leads": data.leads, "opportunities": data.opportunities, "history": data.history,
              "quarantine": data.quarantine, "summary": data.summary.table}  # fmt: skip
    stages = data.stages
    meta = {
        "notes": list(data.notes),
        "stages": {
            "names": list(stages.names),
            "opportunity": stages.opportunity,
            "lost": stages.lost,
            "labels": dict(stages.labels),
        },
    }
    _write_entry(cache_root(cache_dir), _dataset_key(keys), tables, meta)


# ---------------------------------------------------------------- eviction --


def _touch(folder: Path) -> None:
    """Stamp the entry as used now (its folder's mtime orders eviction)."""
    now = time.time_ns()
    with contextlib.suppress(OSError):  # an entry that cannot be stamped is evicted earlier; nothing worse
        os.utime(folder, ns=(now, now))


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _folder_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            with contextlib.suppress(OSError):  # removed meanwhile by another process
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def evict(root: Path, *, keep: str | None = None) -> None:
    """Remove least recently used entries until the cache is under its cap; clear stale ``.tmp-*`` folders.

    Parameters
    ----------
    root : Path
        The cache folder.
    keep : str, optional
        An entry never removed (the one just written).
    """
    cap = max_bytes()
    now_ns = time.time_ns()
    entries = []
    try:
        children = list(os.scandir(root))
    except OSError:
        return
    for child in children:
        try:
            if not child.is_dir(follow_symlinks=False):
                continue
            used_ns = child.stat(follow_symlinks=False).st_mtime_ns
        except OSError:
            continue
        if child.name.startswith(_TMP_PREFIX):
            if now_ns - used_ns > STALE_TMP_SECONDS * 10**9:
                _remove(Path(child.path))
        elif _ENTRY_NAME.match(child.name):
            entries.append((used_ns, child.name, _folder_bytes(Path(child.path))))
    total = sum(size for _, _, size in entries)
    for _, name, size in sorted(entries):
        if total <= cap:
            break
        if name == keep:
            continue
        _remove(root / name)
        total -= size


def cache_bytes(cache_dir=None) -> int:
    """Bytes held by the cache's entries (unfinished writes not counted)."""
    root = cache_root(cache_dir)
    if not root.is_dir():
        return 0
    return sum(_folder_bytes(p) for p in root.iterdir() if p.is_dir() and _ENTRY_NAME.match(p.name))


def clear(cache_dir=None) -> None:
    shutil.rmtree(cache_root(cache_dir), ignore_errors=True)
