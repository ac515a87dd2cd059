"""Small Arrow helpers: hot paths where pandas' string methods fall back to Python, and handing back the
memory a load's Arrow work freed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow(values: pd.Series) -> pa.Array:
    """The Series' text as one Arrow array (zero-copy for pandas' Arrow-backed strings)."""
    source = values if values.dtype != object else values.astype("str")
    array = pa.array(source, type=pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def give_back_freed_memory() -> None:
    """Hand the memory Arrow's allocator freed but keeps (for reuse) back to the system.

    Between the steps of a load (after each file, after assembling): what a
    file's parse and typing freed would otherwise stay with the process, and
    the next steps (the next file, the funnel view in DuckDB, which allocates
    on its own) peak on top of it: with mimalloc, Arrow's default pool, 445 MB
    after the leads file of a 1M-lead export. Cheap (a few milliseconds).

    Allocating the load's buffers from the C library's ``malloc`` instead
    (which hands back what is freed) was measured too: 90 MB lower at 1M, the
    same seconds, but 20% slower at 10M (a 10M load 23.8 s against 19.6 s)
    for the same peak; so the default pool stays.
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
