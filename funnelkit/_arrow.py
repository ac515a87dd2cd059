"""Small Arrow helpers for hot paths where pandas' string methods fall back to Python."""

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


def isin(values: pd.Series, candidates) -> np.ndarray:
    """``values.isin(candidates)`` for text, hashed in Arrow (pandas loops over large sets)."""
    pool = candidates if isinstance(candidates, pd.Series) else pd.Series(list(candidates), dtype="str")
    found = pc.is_in(arrow(values), value_set=arrow(pool.dropna()), skip_nulls=True)
    return found.fill_null(False).to_numpy(zero_copy_only=False)
