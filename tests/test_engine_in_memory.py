"""A loaded dataset's metrics on the embedded DuckDB engine (``FUNNELKIT_ENGINE=duckdb``).

The modules named in ``conftest.ON_BOTH_ENGINES`` run every test on both engines;
these tests check that the switch really hands the work to DuckDB, and the
parts only the engine path has (Arrow registration, spend matched in Python
to per-period lead counts from the engine).
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from engine_cases import assert_same, random_data

import funnelkit as fk
from funnelkit.engine.memory import in_duckdb


@pytest.fixture(scope="module")
def data() -> fk.Dataset:
    return random_data()


def test_the_switch_hands_a_loaded_dataset_to_duckdb(data, monkeypatch):
    monkeypatch.setenv("FUNNELKIT_ENGINE", "duckdb")
    fresh = fk.Dataset(data.leads, data.opportunities, data.history, stages=data.stages, as_of=data.as_of)
    table = fk.win_rate(fresh, by="source")
    engine = fresh.__dict__["_duckdb_engine"]  # registered on first use, kept for the next metric
    assert engine.backend.name == "duckdb"
    fk.lead_value(fresh, matured_only=False)
    assert fresh.__dict__["_duckdb_engine"] is engine
    closed = data.opportunities[data.opportunities["is_closed"]]
    assert int(table["closed"].sum()) == len(closed)  # every closed deal counted once, by an independent count


def test_on_pandas_no_engine_is_built(data, monkeypatch):
    monkeypatch.setenv("FUNNELKIT_ENGINE", "pandas")
    fresh = fk.Dataset(data.leads, data.opportunities, data.history, stages=data.stages, as_of=data.as_of)
    fk.win_rate(fresh)
    assert "_duckdb_engine" not in fresh.__dict__


def test_all_missing_object_columns_get_the_declared_type():
    # an opportunity-only dataset built by hand: lead_id is None everywhere (an object column pandas cannot type)
    from metrics_fixtures import deals

    data = deals(["2025-03-01"] * 2, ["2025-03-31", None], as_of="2025-06-30")
    engine = in_duckdb(data)
    assert str(engine.opportunities.schema()["lead_id"]) == "string"
    assert str(engine.opportunities.schema()["closed_at"]).startswith("timestamp")
    with pytest.warns(fk.SmallSampleWarning, match="1 observation"):
        row = engine.win_rate().iloc[0]
    assert (row["won"], row["closed"]) == (1, 1)


@pytest.mark.parametrize("matured_only", [False, True])
def test_spend_on_the_engine_equals_pandas(data, matured_only):
    quarters = ["2025 Q1", "2025 Q2", "2025 Q3"]
    sources = sorted(data.leads["source"].dropna().unique())[:2]
    spend = pd.DataFrame(
        {
            "source": [src for src in sources for _ in quarters],
            "period": quarters * len(sources),
            "spend": [1000.0 * (i + 1) for i in range(len(sources) * len(quarters))],
        }  # fmt: skip
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        expected = fk.lead_value(data, by="source", spend=spend, matured_only=matured_only)
        got = in_duckdb(data).lead_value(by="source", spend=spend, matured_only=matured_only)
    assert_same(expected, got)
    # the sources with spend count only their leads created in Q1-Q3 2025 (and matured, when asked)
    first = data.leads.set_index("source")["created_at"]
    in_quarters = first[(first >= "2025-01-01") & (first < "2025-10-01")]
    if not matured_only:
        assert got.set_index("source").loc[sources[0], "leads"] == int((in_quarters.index == sources[0]).sum())
