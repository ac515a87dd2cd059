"""A loaded dataset's tables handed to an embedded DuckDB, so the engine's metrics run over them."""

from __future__ import annotations

import ibis
import pyarrow as pa

from .. import schema as s
from ..dataset import Dataset
from ._common import calling_ibis
from .dataset import EngineDataset, lead_status_positions
from .parquet import canonical_tables
from .resources import configure
from .source import _canonical


def in_duckdb(data: Dataset) -> EngineDataset:
    """``data``'s leads, opportunities and history as tables of an embedded DuckDB (one per dataset, kept).

    The Arrow form of each table is registered with DuckDB, which scans it
    in place; timestamps go in as microseconds, UTC, as
    :func:`~funnelkit.engine.parquet.write_tables` writes them.

    Examples
    --------
    >>> import funnelkit as fk
    >>> engine = in_duckdb(fk.load("tests/data/salesforce_report", cache=False))  # doctest: +SKIP
    >>> engine.win_rate(by="source")                                              # doctest: +SKIP
    """
    engine = data.__dict__.get("_duckdb_engine")
    if engine is None:  # the dataset is frozen; its tables never change, so one engine per dataset serves
        engine = _registered(data)
        object.__setattr__(data, "_duckdb_engine", engine)
    return engine


def _registered(data: Dataset) -> EngineDataset:
    backend = ibis.duckdb.connect()
    backend.raw_sql("SET TimeZone = 'UTC'")
    configure(backend)
    tables = {}
    with calling_ibis():
        for name, frame in canonical_tables(data).items():
            backend.con.register(f"funnelkit_{name}", arrow_table(frame))
            tables[name] = _canonical(backend.table(f"funnelkit_{name}"), name, {})
    return EngineDataset(backend, tables, data.stages, data.as_of, lead_status_positions(tables["leads"], data.stages))


#: Arrow types of the canonical dtypes, for columns pandas holds as objects that are all missing
_ARROW_TYPES = {s.TIMESTAMP: pa.timestamp("us", tz="UTC"), "bool": pa.bool_(), "float64": pa.float64()}
_DECLARED = {**s.LEAD_COLUMNS, **s.OPPORTUNITY_COLUMNS}


def arrow_table(frame) -> pa.Table:
    """``frame`` as Arrow as the engine reads it: timestamps in microseconds, UTC; all-missing columns typed."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return pa.Table.from_arrays(
        [_engine_type(name, column) for name, column in zip(table.column_names, table.columns, strict=True)],
        names=table.column_names,
    )


def _engine_type(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps in microseconds, UTC (as in Parquet); an all-missing column typed as the model declares it."""
    if pa.types.is_timestamp(column.type):
        return column.cast(pa.timestamp("us", tz="UTC"))
    if pa.types.is_null(column.type):
        return column.cast(_ARROW_TYPES.get(_DECLARED.get(name), pa.string()))
    return column
