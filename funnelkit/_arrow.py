"""Small Arrow helpers: hot paths where pandas' string methods fall back to Python, and where a load's
Arrow memory comes from and goes back to."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow(values: pd.Series) -> pa.Array:
    """The Series' text as one Arrow array (zero-copy for pandas' Arrow-backed strings)."""
    source = values if values.dtype != object else values.astype("str")
    array = pa.array(source, type=pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


class _SystemPool:
    """The process's default Arrow pool, switched to the C library's while any of its users runs."""

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._before: pa.MemoryPool | None = None

    def enter(self) -> None:
        with self._lock:
            if self._users == 0:
                self._before = pa.default_memory_pool()
                pa.set_memory_pool(pa.system_memory_pool())
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                pa.set_memory_pool(self._before)


_SYSTEM_POOL = _SystemPool()


@contextlib.contextmanager
def allocating_from_the_system():
    """Within: pyarrow allocates from the C library's ``malloc``, not from its default pool (mimalloc).

    A load allocates and frees hundreds of megabytes of short-lived buffers
    (the parsed text, each column's typed and cleaned forms). mimalloc keeps
    much of what was freed for reuse; the C library hands it back (with
    :func:`give_back_freed_memory`). Measured at 1M leads, from CSV to the
    headline metrics: peak memory 1,080 -> 990 MB, the same seconds.

    The default pool is one setting of the process: it is restored when the
    last of any concurrent uses (threads loading at once) ends. Buffers keep
    the pool they came from, so freeing them later is always right.
    """
    _SYSTEM_POOL.enter()
    try:
        yield
    finally:
        _SYSTEM_POOL.leave()


def give_back_freed_memory() -> None:
    """Hand the memory Arrow's allocator freed but keeps (for reuse) back to the system.

    Between the steps of a load (after each file, after assembling): what a
    file's parse and typing freed would otherwise stay with the process, and
    the next steps (the next file, the funnel view in DuckDB, which allocates
    on its own) peak on top of it. With mimalloc, Arrow's default pool, that
    was 445 MB after the leads file of a 1M-lead export; with the C library's
    ``malloc`` (:func:`allocating_from_the_system`) it trims the heap. Cheap (a
    few milliseconds).
    """
    pa.default_memory_pool().release_unused()


def isin(values: pd.Series, candidates) -> np.ndarray:
    """``values.isin(candidates)`` for text, hashed in Arrow (pandas loops over large sets).

    The hash table is built on the smaller side: against a larger pool, the pool is
    first narrowed to the members that occur in ``values``.
    """
    pool = candidates if isinstance(candidates, pd.Series) else pd.Series(list(candidates), dtype="str")
    text, pool_text = arrow(values), arrow(pool.dropna())
    if len(pool_text) > len(text):
        pool_text = pool_text.filter(pc.is_in(pool_text, value_set=text, skip_nulls=True).fill_null(False))
    found = pc.is_in(text, value_set=pool_text, skip_nulls=True)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Position in ``keys`` of each of ``values`` (-1 where absent): a hash lookup in Arrow.

    ``keys`` should be unique; the first match counts. Missing keys keep their
    place (so positions are rows of ``keys``) and match nothing.
    """
    found = pc.index_in(arrow(values), value_set=arrow(keys), skip_nulls=True)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def coalesce_text(first: pd.Series, second: pd.Series) -> pd.Series:
    """``first`` where it is set, else ``second``, as text (pandas' ``where`` on strings is slow)."""
    merged = pc.coalesce(arrow(first), arrow(second))
    return merged.to_pandas(types_mapper=text_dtype).set_axis(first.index)  # by position


def labels(codes: np.ndarray, names, index: pd.Index) -> pd.Series:
    """Text column of ``names[code]`` (missing where the code is -1), built in Arrow."""
    codes = np.asarray(codes)
    taken = pc.take(pa.array(list(names), type=pa.large_string()), pa.array(codes, mask=codes < 0))
    return taken.to_pandas(types_mapper=text_dtype).set_axis(index)  # by position


def text_dtype(arrow_type):
    """``types_mapper`` for ``to_pandas``: Arrow text becomes pandas' default ``str`` dtype."""
    if pa.types.is_large_string(arrow_type) or pa.types.is_string(arrow_type):
        return pd.StringDtype(na_value=np.nan)
    return None
