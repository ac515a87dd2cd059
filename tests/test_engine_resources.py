"""The embedded DuckDB's memory limit and scratch folder (funnelkit/engine/resources.py)."""

from __future__ import annotations

import gc
import os

import ibis

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
