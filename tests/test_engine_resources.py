"""The embedded DuckDB's memory limit and scratch folder (funnelkit/engine/resources.py)."""

from __future__ import annotations

import gc
import os
import tempfile

import ibis
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from engine_cases import leads_only_engine

from funnelkit.engine import resources


def test_the_limit_is_half_the_available_memory_never_below_the_floor(monkeypatch):
    monkeypatch.delenv(resources.MEMORY_ENV, raising=False)
    monkeypatch.setattr(resources, "available_memory", lambda: 12 * 2**30)
    assert resources.memory_limit() == "6144MiB"
    monkeypatch.setattr(resources, "available_memory", lambda: 300 * 2**20)
    assert resources.memory_limit() == "1024MiB"
    monkeypatch.setattr(resources, "available_memory", lambda: None)
    assert resources.memory_limit() is None
    monkeypatch.setenv(resources.MEMORY_ENV, "3GB")
    assert resources.memory_limit() == "3GB"


def test_an_engine_gets_the_limit_and_a_scratch_folder_removed_with_it(monkeypatch, tmp_path):
    monkeypatch.setenv(resources.MEMORY_ENV, "1536MB")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    backend = ibis.duckdb.connect()
    resources.configure(backend)
    limit, scratch = backend.raw_sql(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    assert limit == "1.4 GiB"  # 1536 MB as DuckDB shows it (1536 * 10**6 / 2**30)
    assert os.path.dirname(scratch) == str(tmp_path) and os.path.isdir(scratch)
    del backend
    gc.collect()
    assert not os.path.exists(scratch)


def test_available_memory_is_read_from_the_system():
    available = resources.available_memory()
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as meminfo:
            total = next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemTotal:"))
        assert 0 < available <= total
    else:
        assert available is None


def test_the_kept_funnel_file_is_written_in_small_lz4_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the engine keeps its scratch
    n, start = 65_000, pd.Timestamp("2025-01-01", tz="UTC")
    created = pd.Series(start + pd.to_timedelta(np.arange(n), unit="min"), dtype="datetime64[us, UTC]")
    leads = pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(n)],
        "created_at": created,
        "mql_at": created.where(np.arange(n) % 3 == 0) + pd.Timedelta(days=2),
        "opportunity_id": pd.Series([None] * n, dtype="string"),
    })  # fmt: skip
    tables = tmp_path / "tables"
    tables.mkdir()
    engine = leads_only_engine(tables, leads, as_of=start + pd.Timedelta(days=90))
    _ = engine.funnel_table
    (kept,) = tmp_path.glob("funnelkit-funnel-*/funnel.parquet")
    metadata = pq.ParquetFile(kept).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    # 30,000 rounded up to DuckDB's vectors of 2,048 rows; DuckDB's default (122,880) would write one group here
    assert sum(sizes) == n and len(sizes) >= 3 and max(sizes) <= 30_720
    chunks = [metadata.row_group(i).column(j) for i in range(len(sizes)) for j in range(metadata.num_columns)]
    assert {chunk.compression for chunk in chunks} == {"LZ4"}
