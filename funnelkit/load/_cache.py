"""Parquet cache of parsed export files, keyed on the file's path, size, mtime and load options.

An unchanged export loads from Parquet instead of being parsed again. The
cache never sits next to the raw exports (those are read, never written):
it lives in ``$FUNNELKIT_CACHE`` or ``~/.cache/funnelkit``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

FORMAT = 1


def cache_root(cache_dir=None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("FUNNELKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "funnelkit"


def key(path: Path, *, source: str, config: dict, ctx) -> str:
    from .. import __version__

    stat = path.stat()
    stages = ctx.stages
    payload = json.dumps(
        {
            "format": FORMAT,
            "version": __version__,
            "path": str(path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
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


def get(key: str, cache_dir=None):
    from ._load import FileResult

    folder = cache_root(cache_dir) / key
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        frame = pd.read_parquet(folder / "frame.parquet")
        quarantine = pd.read_parquet(folder / "quarantine.parquet")
        events = pd.read_parquet(folder / "events.parquet") if meta["has_events"] else None
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache entry is simply re-parsed
    return FileResult(
        path=Path(meta["path"]),
        kind=meta["kind"],
        adapter=meta["adapter"],
        frame=frame,
        quarantine=quarantine,
        events=events,
        summary=meta["summary"],
        notes=meta["notes"],
    )


def put(key: str, result, cache_dir=None) -> None:
    root = cache_root(cache_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        result.frame.to_parquet(tmp / "frame.parquet", index=False)
        result.quarantine.to_parquet(tmp / "quarantine.parquet", index=False)
        if result.events is not None:
            result.events.to_parquet(tmp / "events.parquet", index=False)
        meta = {
            "path": str(result.path),
            "kind": result.kind,
            "adapter": result.adapter,
            "summary": result.summary,
            "notes": result.notes,
            "has_events": result.events is not None,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, default=str))
        final = root / key
        if final.exists():
            shutil.rmtree(tmp, ignore_errors=True)
            return
        os.replace(tmp, final)
    except OSError:
        # A cache that cannot be written only costs speed; loading goes on.
        shutil.rmtree(tmp, ignore_errors=True) if "tmp" in locals() else None


def _dataset_key(keys: list[str]) -> str:
    return "dataset-" + hashlib.sha256("|".join(keys).encode()).hexdigest()[:32]


def get_dataset(keys: list[str], cache_dir=None):
    """The assembled Dataset of exactly these files and options, if cached."""
    from ..dataset import Dataset, LoadSummary
    from ..schema import Stages

    folder = cache_root(cache_dir) / _dataset_key(keys)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in DATASET_TABLES}
    except (OSError, ValueError, KeyError):
        return None
    stages = Stages(names=tuple(meta["stages"]["names"]), opportunity=meta["stages"]["opportunity"],
                    lost=meta["stages"]["lost"], labels=meta["stages"]["labels"])  # fmt: skip
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


DATASET_TABLES = ("leads", "opportunities", "history", "quarantine", "summary")


def put_dataset(keys: list[str], data, cache_dir=None) -> None:
    root = cache_root(cache_dir)
    final = root / _dataset_key(keys)
    if final.exists():
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        frames = {"leads": data.leads, "opportunities": data.opportunities, "history": data.history,
                  "quarantine": data.quarantine, "summary": data.summary.table}  # fmt: skip
        for name, frame in frames.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        stages = data.stages
        meta = {
            "notes": list(data.notes),
            "stages": {
                "names": list(stages.names),
                "opportunity": stages.opportunity,
                "lost": stages.lost,
                "labels": dict(stages.labels),
            },  # fmt: skip
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        os.replace(tmp, final)
    except OSError:
        # as with files: a cache that cannot be written only costs speed
        shutil.rmtree(tmp, ignore_errors=True) if "tmp" in locals() else None


def clear(cache_dir=None) -> None:
    shutil.rmtree(cache_root(cache_dir), ignore_errors=True)
