"""A funnel whose rows stay in an engine (DuckDB, Spark, a warehouse); only aggregates come back."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import ibis.expr.types as ir
import pandas as pd

from .. import schema as s
from ..dataset import to_utc_timestamp
from ..schema import Stages
from . import conversion as _conversion
from . import drift as _drift
from . import dropoff as _dropoff
from . import lead_value as _lead_value
from . import lost_reasons as _lost_reasons
from . import pipeline as _pipeline
from . import plan as _plan
from . import qualify as _qualify
from . import revenue_change as _revenue_change
from . import sla as _sla
from . import time_to_close as _time_to_close
from . import velocity as _velocity
from . import win_rate as _win_rate
from ._common import fetch
from .funnel import funnel, kept, status_positions
from .source import open_tables


def connect(
    source,
    *,
    tables: Mapping | None = None,
    mapping: Mapping | None = None,
    stages: Stages | Mapping | None = None,
    as_of=None,
) -> EngineDataset:
    """A dataset over canonical tables that already live in an engine; every metric runs there.

    Parameters
    ----------
    source
        Where the tables are: a DuckDB connection (``duckdb.connect(...)``; its
        ``TimeZone`` setting is set to UTC, as Ibis does on its own connections) or
        database file (``.duckdb``), a ``pyspark.sql.SparkSession`` (its
        time zone must be UTC; Ibis sets it so), any Ibis backend
        (``ibis.duckdb.connect()``, a warehouse), a folder holding
        ``leads.parquet`` and ``opportunities.parquet`` (and optionally
        ``history.parquet``; each a file or a folder of files) or the Delta
        Lake tables ``leads`` and ``opportunities`` (folders with a
        ``_delta_log``; their current version is read, never the files of
        rows later versions removed; DuckDB needs ``pip install
        'funnelkit[delta]'``, Spark a session with Delta Lake), or a dict
        ``{"leads": ..., "opportunities": ...}`` of Parquet or Delta paths or Ibis tables.
    tables : mapping, optional
        For a backend: ``{"leads": "crm.leads", ...}``, each a table name, a
        Parquet or Delta Lake path or an Ibis table. Default: the tables named ``leads``,
        ``opportunities`` and, when there is one, ``history``.
    mapping : mapping, optional
        Column names that differ from the canonical ones, per table:
        ``{"leads": {"lead_id": "Id", "created_at": "CreatedDate"}}``.
    stages : Stages or mapping, optional
        The funnel's stages (a :class:`~funnelkit.Stages` or a mapping file's
        ``stages`` section); default ``lead > mql > sql > opportunity > won``.
    as_of : date-like, optional
        Default: the latest timestamp in the tables (one aggregate query).

    Returns
    -------
    EngineDataset
        Offers :meth:`~EngineDataset.conversion`, ``overall_conversion``,
        ``win_rate``, ``lead_value``, ``time_to_close``, ``km_curve``,
        ``pipeline``, ``stalled_deals``, ``coverage``, ``lost_reasons``,
        ``revenue_change``, ``sla`` and ``plan``,
        returning the same DataFrames as :func:`funnelkit.conversion` and the
        others on a loaded dataset of the same rows.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.connect("warehouse/funnel")                    # doctest: +SKIP
    >>> data.win_rate(by="source", period="Q")                   # doctest: +SKIP
    >>> from pyspark.sql import SparkSession                      # doctest: +SKIP
    >>> data = fk.connect(SparkSession.builder.getOrCreate(),    # doctest: +SKIP
    ...                   tables={"leads": "crm.leads", "opportunities": "crm.opportunities"})
    """
    backend, opened = open_tables(source, tables=tables, mapping=mapping)
    if stages is None:
        stages = Stages()
    elif not isinstance(stages, Stages):
        stages = Stages.from_config(stages)
    moment = to_utc_timestamp(as_of) if as_of is not None else latest_timestamp(opened.values())
    origin = str(source) if isinstance(source, str | Path) else None
    return EngineDataset(backend, opened, stages, moment, lead_status_positions(opened["leads"], stages), origin=origin)


def lead_status_positions(leads: ir.Table, stages: Stages) -> dict:
    """The funnel position each lead status label stands for: one row per distinct label, mapped in Python."""
    if s.STATUS not in leads.columns:
        return {}
    return status_positions(fetch(leads.select(s.STATUS).distinct())[s.STATUS], stages)


def latest_timestamp(tables) -> pd.Timestamp | None:
    """The latest timestamp in the tables (not an open deal's expected close date, a plan), or None."""
    latest = []
    for table in tables:
        schema = table.schema()
        columns = [c for c in table.columns if schema[c].is_timestamp() and c != s.EXPECTED_CLOSE_AT]
        if columns:
            row = fetch(table.aggregate(**{f"_{i}": table[c].max() for i, c in enumerate(columns)})).iloc[0]
            latest += [to_utc_timestamp(v) for v in row if not pd.isna(v)]
    return max(latest) if latest else None


class EngineDataset:
    """Canonical tables in an engine, the funnel view over them, and the headline metrics.

    Built by :func:`funnelkit.connect`. Rows never come to Python: each metric
    is a few aggregate queries, and statistics (Wilson intervals, Kaplan-Meier)
    are computed on their small results.

    Attributes
    ----------
    backend : ibis backend
    leads, opportunities, history : ibis Table (history is None when absent)
    stages : Stages
    as_of : pandas.Timestamp
    origin : str or None
        The folder or database file the tables were read from (None for a backend or session).
    """

    def __init__(self, backend, tables: Mapping[str, ir.Table], stages: Stages, as_of, positions, *, origin=None):
        self.backend = backend
        self.origin: str | None = origin
        self.leads = tables["leads"]
        self.opportunities = tables["opportunities"]
        self.history = tables.get("history")
        self.stages = stages
        self.as_of = as_of
        self._positions = dict(positions)

    @cached_property
    def funnel_table(self) -> ir.Table:
        """The funnel view as an Ibis table, computed once in the engine and kept there (DuckDB: a temporary
        Parquet file; elsewhere the engine's cache: see :func:`funnelkit.engine.funnel.kept`)."""
        view = funnel(
            self.leads, self.opportunities, self.stages, history=self.history, status_positions=self._positions
        )
        return kept(view, self.backend, self)

    @property
    def funnel(self) -> pd.DataFrame:
        """The funnel view in pandas: every row comes to Python (for small data and checks only)."""
        frame = fetch(self.funnel_table)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype) or column.endswith("_at"):
                frame[column] = pd.to_datetime(frame[column], utc=True).astype(s.TIMESTAMP)
        return frame

    @cached_property
    def table_rows(self) -> pd.DataFrame:
        """Rows per canonical table (``table``, ``rows``): one count query per table, run once."""
        tables = {"leads": self.leads, "opportunities": self.opportunities, "history": self.history}
        rows = [
            (name, int(fetch(t.aggregate(rows=t.count()))["rows"].iloc[0]))
            for name, t in tables.items()
            if t is not None
        ]
        return pd.DataFrame(rows, columns=["table", "rows"])

    @property
    def funnel_columns(self) -> list[str]:
        """The funnel view's columns (those of :attr:`funnel`), read without running a query."""
        return list(self.funnel_table.columns)

    # The metrics: each the engine's function of the same name with this dataset as ``data``, so the
    # signatures (options, defaults), checks, tables and units are those of the in-memory metrics.
    conversion = _conversion.conversion
    overall_conversion = _conversion.overall_conversion
    win_rate = _win_rate.win_rate
    lead_value = _lead_value.lead_value
    time_to_close = _time_to_close.time_to_close
    km_curve = _time_to_close.km_curve
    # enga: drop-off, time in each stage, velocity, drift, mix decomposition, qualify
    dropoff = _dropoff.dropoff
    stage_durations = _dropoff.stage_durations
    drift = _drift.drift
    mix_decomposition = _drift.mix_decomposition
    velocity = _velocity.velocity
    qualify = _qualify.qualify
    # engb: the open pipeline, stalled deals, coverage, lost reasons, revenue change, SLA, plan
    pipeline = _pipeline.pipeline
    stalled_deals = _pipeline.stalled_deals
    coverage = _pipeline.coverage
    lost_reasons = _lost_reasons.lost_reasons
    revenue_change = _revenue_change.revenue_change
    sla = _sla.sla
    plan = _plan.plan

    def __repr__(self) -> str:
        return (
            f"<funnelkit.EngineDataset on {self.backend.name}: stages {' > '.join(self.stages.names)}; "
            f"as of {self.as_of}>"
        )


__all__ = ["EngineDataset", "connect", "latest_timestamp", "lead_status_positions"]
