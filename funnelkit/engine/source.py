"""Where the canonical tables live: a DuckDB connection or file, a SparkSession, Parquet or Delta Lake, any Ibis
backend."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import ibis
import ibis.expr.types as ir

from .. import schema as s
from ..errors import ParameterError, SchemaError
from ._common import calling_ibis
from .resources import configure

TABLES = ("leads", "opportunities", "history")

#: columns without which the funnel view cannot be built, per canonical table
REQUIRED = {
    "leads": (s.LEAD_ID, s.CREATED_AT),
    "opportunities": (s.OPPORTUNITY_ID, s.CREATED_AT, s.CLOSED_AT, s.IS_CLOSED, s.IS_WON),
    "history": (s.ENTITY_ID, s.ENTITY, s.STAGE, s.AT, s.ORIGIN),
}
DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")


def backend_of(source):
    """An Ibis backend for ``source``: an Ibis backend, a DuckDB connection or file, a SparkSession, or None.

    None means ``source`` names tables directly (Parquet paths or Ibis tables).
    """
    if isinstance(source, ibis.BaseBackend):
        return _checked(source)
    if _is_duckdb_connection(source):
        backend = ibis.duckdb.from_connection(source)
        backend.raw_sql("SET TimeZone = 'UTC'")  # periods are read in UTC, as in the in-memory model
        return backend
    if _is_spark_session(source):
        return ibis.pyspark.connect(source)  # Ibis sets the session's time zone to UTC
    if isinstance(source, str | Path) and Path(source).suffix in DUCKDB_SUFFIXES:
        if not Path(source).is_file():
            raise ParameterError(f"no DuckDB database at {source}")
        backend = ibis.duckdb.connect(str(source), read_only=True)
        configure(backend)
        return backend
    return None


def open_tables(source, *, tables: Mapping | None = None, mapping: Mapping | None = None):
    with calling_ibis():
        return _open_tables(source, tables=tables, mapping=mapping)


def _open_tables(source, *, tables: Mapping | None = None, mapping: Mapping | None = None):
    """The backend and the canonical tables (``leads``, ``opportunities``, and ``history`` if any).

    Parameters
    ----------
    source
        See :func:`funnelkit.connect`.
    tables : mapping, optional
        Per canonical table: a table name in the backend, a Parquet path (file,
        folder or glob) or an Ibis table. Default: the tables named ``leads``,
        ``opportunities`` and (when present) ``history``.
    mapping : mapping, optional
        Per canonical table, ``{canonical column: column in the backend}``.
    """
    backend = backend_of(source)
    wanted = dict(tables or {})
    unknown = set(wanted) - set(TABLES)
    if unknown:
        raise ParameterError(f"tables= names {sorted(unknown)}; the canonical tables are {list(TABLES)}")
    if backend is None:
        wanted = {**_tables_of(source), **wanted}
        backend = ibis.duckdb.connect()  # Parquet files are read by an embedded DuckDB
        configure(backend)
    opened = {}
    for name in TABLES:
        spec = wanted.get(name, name)
        table = _open(backend, name, spec, optional=name == "history" and name not in wanted)
        if table is not None:
            opened[name] = _canonical(table, name, (mapping or {}).get(name, {}))
    return backend, opened


def _tables_of(source) -> dict:
    """Table specs from a folder of Parquet files or a dict of paths/tables."""
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, str | Path) and Path(source).is_dir():
        folder = Path(source)
        found = tables_in(folder)
        if "leads" not in found or "opportunities" not in found:
            raise ParameterError(
                f"{folder} must hold leads.parquet and opportunities.parquet (files or folders of Parquet files) "
                "or Delta Lake tables leads and opportunities; "
                f"found {sorted(p.name for p in folder.iterdir())[:10]}"
            )
        return found
    raise ParameterError(
        "connect() takes a DuckDB connection or database file, a SparkSession, an Ibis backend, a folder of "
        f"Parquet files or a dict of tables; got {type(source).__name__}"
    )


def tables_in(folder: Path) -> dict[str, Path]:
    """The canonical tables a folder holds, by name: ``<name>.parquet`` (a file or a folder of files) or a
    folder ``<name>`` (of Parquet files, or a Delta Lake table)."""
    found = {}
    for name in TABLES:
        for candidate in (folder / f"{name}.parquet", folder / name):
            if candidate.exists():
                found[name] = candidate
                break
    return found


def _open(backend, name: str, spec, *, optional: bool) -> ir.Table | None:
    if isinstance(spec, ir.Table):
        return spec
    if isinstance(spec, Path) or (isinstance(spec, str) and (spec.endswith(".parquet") or "/" in spec)):
        path = Path(spec)
        if is_delta_table(path):
            return _read_delta(backend, name, path)
        pattern = str(path / "*.parquet") if path.is_dir() else str(path)
        if not path.is_dir() and "*" not in str(path) and not path.exists():
            raise ParameterError(f"the {name} table's Parquet file {path} does not exist")
        return backend.read_parquet(pattern, table_name=f"funnelkit_{name}")
    if not isinstance(spec, str):
        raise ParameterError(f"the {name} table must be a table name, a Parquet path or an Ibis table; got {spec!r}")
    if spec not in backend.list_tables():
        if optional:
            return None
        raise SchemaError(f"no table {spec!r} for the {name}; the backend has {sorted(backend.list_tables())[:20]}")
    return backend.table(spec)


def is_delta_table(path: Path) -> bool:
    """Whether ``path`` is a Delta Lake table: a folder with a transaction log (``_delta_log``)."""
    return (path / "_delta_log").is_dir()


def _read_delta(backend, name: str, path: Path) -> ir.Table:
    """The current version of a Delta Lake table.

    Read through its transaction log, never as a folder of Parquet files: the
    folder also holds the files of rows that later versions deleted or
    replaced (until the table is vacuumed), and counting them would count
    those rows again. DuckDB scans the table's current files as an Arrow
    dataset (the ``deltalake`` package: ``pip install 'funnelkit[delta]'``);
    Spark reads it with its own Delta reader, which the session must have.
    """
    if backend.name == "duckdb":
        try:
            from deltalake import DeltaTable
        except ImportError:
            raise ParameterError(
                f"{path} is a Delta Lake table; reading it needs the deltalake package: pip install 'funnelkit[delta]'"
            ) from None
        try:
            current = DeltaTable(str(path)).to_pyarrow_dataset()
        except Exception as exc:  # noqa: BLE001 - delta-rs' errors name no file; say which table and why
            raise ParameterError(f"the {name} table {path} cannot be read as Delta Lake: {_reason(exc)}") from exc
        table_name = f"funnelkit_{name}"
        backend.con.register(table_name, current)
        return backend.table(table_name)
    try:
        return backend.read_delta(str(path), table_name=f"funnelkit_{name}")
    except Exception as exc:  # noqa: BLE001 - Spark raises its JVM's errors; say what the session lacks
        raise ParameterError(
            f"{path} is a Delta Lake table, and the {backend.name} backend could not read it ({_reason(exc)}). "
            "On Spark, start the session with Delta Lake (the delta-spark package, "
            "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension)"
        ) from exc


def _reason(exc: Exception) -> str:
    """The line of an error that says what went wrong: the Java exception's own, where Py4J wraps one."""
    lines = [line.strip(" :") for line in str(exc).splitlines() if line.strip(" :")]
    said = next((line for line in lines if "Exception: " in line), lines[0] if lines else type(exc).__name__)
    return said.split("Exception: ", 1)[-1][:200]


def _canonical(table: ir.Table, name: str, renames: Mapping) -> ir.Table:
    """The table with canonical column names, its required columns checked, timestamps in UTC."""
    renames = {str(k): str(v) for k, v in dict(renames).items()}
    absent = sorted(v for v in renames.values() if v not in table.columns)
    if absent:
        raise SchemaError(f"mapping for the {name} names columns the table does not have: {absent}")
    table = table.rename(renames) if renames else table
    missing = [c for c in REQUIRED[name] if c not in table.columns]
    if missing:
        raise SchemaError(
            f"the {name} table lacks the column(s) {missing}; map them with mapping={{'{name}': {{...}}}}. "
            f"Its columns: {list(table.columns)[:30]}"
        )
    schema = table.schema()
    wrong = [c for c in table.columns if c.endswith("_at") and not schema[c].is_timestamp() and c != s.AT]
    wrong += [c for c in (s.AT,) if name == "history" and not schema[c].is_timestamp()]
    if wrong:
        raise SchemaError(f"the {name} table's column(s) {wrong} must be timestamps; they are not")
    # timestamps without a zone are taken as UTC, as the loader stores them
    return table.mutate(**{c: table[c].cast("timestamp('UTC')") for c in table.columns if schema[c].is_timestamp()})


def _checked(backend):
    if backend.name == "pyspark":
        zone = backend._session.conf.get("spark.sql.session.timeZone")
        if zone != "UTC":
            raise ParameterError(
                f"the Spark session's time zone is {zone!r}; set spark.sql.session.timeZone to UTC "
                "so that periods are read as funnelkit reads them"
            )
    return backend


def _is_duckdb_connection(source) -> bool:
    return type(source).__name__ == "DuckDBPyConnection"


def _is_spark_session(source) -> bool:
    return type(source).__name__ == "SparkSession"
