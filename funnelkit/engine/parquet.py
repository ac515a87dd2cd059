"""Canonical tables written as Parquet, the form every engine reads (DuckDB, Spark, warehouses)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..dataset import Dataset
from ..schema import LOST_REASON, NO_LOST_REASON_COLUMN


def write_tables(data: Dataset, folder: str | Path) -> Path:
    """Write a loaded dataset's ``leads``, ``opportunities`` and ``history`` as Parquet files in ``folder``.

    Timestamps are written in microseconds, UTC (Spark cannot read nanoseconds;
    no CRM export is finer than a second). :func:`funnelkit.connect` reads the folder back.

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> import funnelkit as fk
    >>> from funnelkit.engine.parquet import write_tables
    >>> folder = write_tables(fk.load("tests/data/salesforce_report", cache=False), tmp)  # doctest: +SKIP
    >>> fk.connect(folder).win_rate()                                                      # doctest: +SKIP
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in canonical_tables(data).items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, folder / f"{name}.parquet", coerce_timestamps="us", allow_truncated_timestamps=False)
    return folder


def canonical_tables(data: Dataset) -> dict[str, pd.DataFrame]:
    """A loaded dataset's tables as an engine should see them: ``leads``, ``opportunities``, ``history`` if any.

    A column the loader filled because the export lacks it is left out, so
    that the engine says it is absent, as the export did.
    """
    tables = {}
    for name in ("leads", "opportunities", "history"):
        frame = getattr(data, name)
        if name == "history" and frame.empty:
            continue
        if name == "opportunities" and NO_LOST_REASON_COLUMN in data.notes:
            frame = frame.drop(columns=[LOST_REASON], errors="ignore")
        tables[name] = frame
    return tables
