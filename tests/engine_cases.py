"""Datasets and metric calls shared by the engine tests (DuckDB and Spark).

Each dataset is a loaded (in-memory) :class:`funnelkit.Dataset`; the tests
write its canonical tables to Parquet, connect an engine to them and expect
every metric to return what the in-memory metric returns.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
from metrics_fixtures import random_funnel

import funnelkit as fk
from conftest import DATA
from funnelkit.engine.parquet import write_tables
from funnelkit.units import units_of

#: (metric, options): every headline metric with by=, period= and the options that change the SQL
CALLS = [
    ("conversion", {}),
    ("conversion", {"by": "source"}),
    ("conversion", {"period": "Q"}),
    ("conversion", {"by": ["source", "owner"], "period": "M"}),
    ("conversion", {"by": "source", "period": "Q", "fiscal_year_start": 2}),
    ("conversion", {"window": "30D", "by": "source"}),
    ("conversion", {"from_stage": "mql", "to_stage": "opportunity", "start": "2025-01-01", "end": "2025-07-01"}),
    ("conversion", {"basis": "period", "by": "source", "period": "Q"}),
    ("conversion", {"basis": "period"}),
    ("conversion", {"from_stage": "MQL", "by": "Source", "period": "q"}),
    ("overall_conversion", {"by": "source"}),
    ("win_rate", {}),
    ("win_rate", {"by": "source"}),
    ("win_rate", {"period": "Q"}),
    ("win_rate", {"by": "owner", "period": "W"}),
    ("win_rate", {"by": "source", "period": "Q", "stall_days": 60}),
    ("win_rate", {"period": "Y", "stall_days": 30, "fiscal_year_start": 7}),
    ("win_rate", {"stall_days": 60, "start": "2025-01-01"}),
    ("lead_value", {}),
    ("lead_value", {"by": "source"}),
    ("lead_value", {"matured_only": False}),
    ("lead_value", {"by": "owner", "maturity_days": 40}),
    ("time_to_close", {}),
    ("time_to_close", {"by": "source"}),
    ("time_to_close", {"period": "Q"}),
    ("time_to_close", {"from_stage": "lead", "by": "owner"}),
    ("time_to_close", {"from_stage": "SQL"}),
    ("km_curve", {"by": "source"}),
    ("km_curve", {"from_stage": "lead"}),
]


def call_id(call) -> str:
    metric, options = call
    return f"{metric}({', '.join(f'{k}={v}' for k, v in options.items())})"


def in_memory(data: fk.Dataset, metric: str, options: dict) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        return getattr(fk, metric)(data, **options)


def on_engine(engine, metric: str, options: dict) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        return getattr(engine, metric)(**options)


def assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Same columns, dtypes and rows; counts exactly, rates and days to 1e-9; the same declared units.

    A result of several tables (:class:`funnelkit.SLAResult`) is compared table by table.
    """
    if dataclasses.is_dataclass(expected):
        assert type(got) is type(expected)
        for field in dataclasses.fields(expected):
            assert_same(getattr(expected, field.name), getattr(got, field.name))
        return
    pd.testing.assert_frame_equal(expected.reset_index(drop=True), got.reset_index(drop=True), rtol=1e-9, atol=1e-12)
    # assert_frame_equal does not compare attrs, where each metric declares its columns' units
    assert units_of(got) == units_of(expected)
    assert got.attrs.get("units") == expected.attrs.get("units")


def random_data() -> fk.Dataset:
    """The metrics tests' random funnel: skipped SQL dates and lead-less opportunities; first touches for the SLA."""
    data = random_funnel(3000, seed=11, orphan_opportunities=60)
    return with_touches(data)


def with_touches(data: fk.Dataset) -> fk.Dataset:
    """``data`` with a first sales touch (minutes to days after the MQL, to the second) on 80% of leads."""
    rng = np.random.default_rng(7)
    leads = data.leads.copy()
    n = len(leads)
    minutes = pd.to_timedelta(rng.exponential(240.0, n).round(), unit="min")
    touched = rng.random(n) < 0.8
    leads["first_touch_at"] = (leads["mql_at"] + minutes).where(touched).astype(leads["mql_at"].dtype)
    leads["touches"] = rng.integers(0, 5, n).astype("float64")
    return fk.Dataset(leads, data.opportunities, data.history, stages=data.stages, as_of=data.as_of)


def sample_data(tmp_path) -> fk.Dataset:
    """A generated Salesforce report export, read by the real loader (statuses, converted flags, extras)."""
    folder = tmp_path / "export"
    fk.write_sample(fk.generate_sample(2500, seed=5), folder, format="salesforce")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fk.load(folder, cache=False)


def export_data(name: str) -> fk.Dataset:
    """One of the hand-written exports under tests/data (HubSpot and Salesforce API carry stage history)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fk.load(DATA / name, cache=False)


def connected(data: fk.Dataset, folder, source=None, **options):
    """``data``'s tables as Parquet in ``folder``, and an engine dataset over them (DuckDB unless ``source``)."""
    write_tables(data, folder)
    if source is None:
        return fk.connect(folder, as_of=data.as_of, **options)
    tables = {p.stem: str(p) for p in folder.glob("*.parquet")}
    return fk.connect(source, tables=tables, as_of=data.as_of, **options)


def write_delta(data: fk.Dataset, folder):
    """``data``'s canonical tables as Delta Lake tables ``folder/leads``, ``folder/opportunities``... (deltalake)."""
    import deltalake

    from funnelkit.engine.memory import arrow_table
    from funnelkit.engine.parquet import canonical_tables

    for name, frame in canonical_tables(data).items():
        deltalake.write_deltalake(folder / name, arrow_table(frame))  # timestamps in microseconds, as Delta holds
    return folder


def funnel_sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by entity id; a missing value in a column of mixed objects written one way (None)."""
    frame = frame.sort_values("entity_id", kind="stable").reset_index(drop=True)
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object:
            frame[column] = values.where(values.notna(), None)
        elif isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(values):
            frame[column] = values.to_numpy(dtype="float64", na_value=float("nan"))
    return frame


#: enga's metrics (drop-off, time in each stage, velocity, drift, mix decomposition, qualify)
CALLS_A = [
    ("dropoff", {}),
    ("dropoff", {"by": "source"}),
    ("dropoff", {"by": ["Source", "owner"]}),
    ("stage_durations", {}),
    ("stage_durations", {"by": "source"}),
    ("stage_durations", {"by": ["owner", "source"]}),
    ("drift", {}),
    ("drift", {"by": "source", "period": "M", "correction": "bh"}),
    ("drift", {"metric": "conversion", "from_stage": "mql", "by": "source", "compare_to": "first"}),
    ("drift", {"metric": "time_to_close", "period": "Q", "fiscal_year_start": 2}),
    ("drift", {"metric": "time_to_close", "by": "owner"}),
    ("mix_decomposition", {"current": "2025 Q2", "previous": "2025 Q1", "by": "source"}),
    ("mix_decomposition", {"current": "2025 Q3", "previous": "2025 Q1", "by": "owner", "metric": "win_rate"}),
    (
        "mix_decomposition",
        {
            "current": "FY2026 Q1",
            "previous": "FY2025 Q4",
            "by": "source",
            "fiscal_year_start": 4,
            "from_stage": "sql",
            "to_stage": "won",
        },
    ),
    ("velocity", {}),
    ("velocity", {"by": "source", "period": "M"}),
    ("velocity", {"by": ["owner", "source"], "period": "Y", "fiscal_year_start": 7}),
    ("velocity", {"by": "currency", "period": "W"}),
    ("velocity", {"currency": "USD", "by": "owner"}),
    ("qualify", {"rule": "source == 'A' or source in ['C']"}),
    ("qualify", {"rule": "source != 'B' and not (owner == 'bob')", "period": "M", "stage": "sql"}),
    ("qualify", {"rule": "source not in ('A', 'B') | (owner != 'ann')", "period": "Y", "fiscal_year_start": 10}),
]
CALLS += CALLS_A

#: engb's metrics (issue 12, wave 3): the open pipeline and its stall lines, stalled deals, coverage, lost reasons,
#: revenue change, SLA and plan, with the options that change their queries
CALLS_B = [
    ("pipeline", {}),
    ("pipeline", {"by": "source"}),
    ("pipeline", {"by": ["owner", "source"]}),
    ("pipeline", {"as_of": "2026-06-30"}),
    ("stalled_deals", {}),
    ("stalled_deals", {"stage": "opportunity"}),
    ("coverage", {"target": 50_000, "period_end": "2025-12-31"}),
    ("coverage", {"target": 50_000, "period_end": "2025-09-30"}),
    ("coverage", {"target": 1e6, "period_start": "2025-10-01", "period_end": "2026-03-31", "currency": "USD"}),
    ("lost_reasons", {}),
    ("lost_reasons", {"by": "source", "top": 2}),
    ("lost_reasons", {"period": "Q", "fiscal_year_start": 2}),
    ("lost_reasons", {"by": ["owner", "currency"], "period": "M", "top": 1}),
    ("revenue_change", {}),
    ("revenue_change", {"period": "M", "by": "source"}),
    ("revenue_change", {"current": "FY2025 Q3", "previous": "FY2025 Q1", "fiscal_year_start": 2, "by": "currency"}),
    ("sla", {"mql_target": 60, "period": "M"}),
    ("sla", {"mql_target": 200, "period": "Q", "by": "source", "touches_target": 2, "response_within": "2h"}),
    ("sla", {"mql_target": 15, "period": "W", "by": ["owner"], "max_response": "3D", "fiscal_year_start": 4}),
    ("plan", {"quota": 500_000}),
    ("plan", {"quota": 500_000, "by": "owner", "win_rate": 0.25, "lead_to_mql": 0.5}),
    ("plan", {"quota": 200_000, "deal_size": 5_000, "currency": "USD", "by": "owner"}),
]
CALLS += CALLS_B


def leads_only_engine(tmp_path, leads: pd.DataFrame, *, as_of: pd.Timestamp):
    """A dataset connected over Parquet files of ``leads`` and no opportunities (for lead-stage engine tests)."""
    no_stamps = pd.Series([], dtype="datetime64[us, UTC]")
    opportunities = pd.DataFrame(
        {
            "opportunity_id": pd.Series([], dtype="string"),
            "lead_id": pd.Series([], dtype="string"),
            "created_at": no_stamps,
            "closed_at": no_stamps,
            "is_closed": pd.Series([], dtype="bool"),
            "is_won": pd.Series([], dtype="bool"),
        }
    )
    for name, frame in (("leads", leads), ("opportunities", opportunities)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
    return fk.connect(tmp_path, as_of=as_of)
