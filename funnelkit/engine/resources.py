"""How much memory and which scratch folder an embedded DuckDB may use.

DuckDB's own default memory limit is 80% of the machine's memory, as if it
were alone. Under a loaded dataset it is not: the dataset's pandas tables
already hold memory (some 11 GB for 30M leads), and the two together would
run the machine out of memory. So the limit is half of the memory available
when the engine starts (Linux: ``MemAvailable``), never below
``MIN_MEMORY_BYTES``; past it DuckDB spills to a scratch folder of its own in
the temporary folder (``TMPDIR``), removed when the connection goes. Set
``FUNNELKIT_DUCKDB_MEMORY`` (DuckDB's syntax, e.g. ``"8GB"``) to choose the
limit yourself.
"""

from __future__ import annotations

import os
import shutil
import weakref

from ..scratch import scratch_folder

#: the limit never goes below this, however little memory is free when the engine starts
MIN_MEMORY_BYTES = 1 * 2**30
MEMORY_ENV = "FUNNELKIT_DUCKDB_MEMORY"


def available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (Linux ``MemAvailable``), or None elsewhere."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def memory_limit() -> str | None:
    """DuckDB's ``memory_limit`` for a new engine: the environment's, half the available memory, or None."""
    chosen = os.environ.get(MEMORY_ENV, "").strip()
    if chosen:
        return chosen
    available = available_memory()
    if available is None:
        return None
    return f"{max(available // 2, MIN_MEMORY_BYTES) // 2**20}MiB"


def configure(backend) -> None:
    """Give an Ibis DuckDB backend its memory limit and a scratch folder of its own (removed with it).

    It also keeps the footers of the Parquet files it reads: every metric
    reads the kept funnel file again, and DuckDB would otherwise parse its
    footer (every row group of every column) for each query. A file that
    changes is read anew (DuckDB checks its modification time).
    """
    backend.raw_sql("SET parquet_metadata_cache = true")
    limit = memory_limit()
    if limit is not None:
        backend.raw_sql(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    scratch = scratch_folder("duckdb")
    backend.raw_sql(f"SET temp_directory = '{scratch.replace(chr(39), chr(39) * 2)}'")
    weakref.finalize(backend, shutil.rmtree, scratch, True)
