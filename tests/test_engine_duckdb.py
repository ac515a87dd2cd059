"""The engine on DuckDB: the funnel view and every headline metric equal the in-memory ones.

Counts must match exactly and rates/days to 1e-9, with the same columns and
dtypes, on a random funnel (skipped stages, lead-less opportunities), a
generated Salesforce export read by the loader (statuses, converted flags) and
the hand-written HubSpot and Salesforce API exports (stage history). A six-lead
funnel worked by hand pins the numbers independently of the in-memory code.
"""

from __future__ import annotations

import warnings

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest
from engine_cases import (
    CALLS,
    assert_same,
    call_id,
    connected,
    export_data,
    funnel_sorted,
    in_memory,
    on_engine,
    random_data,
    sample_data,
)
from metrics_fixtures import AS_OF, tiny

import funnelkit as fk
from funnelkit import stats
from funnelkit.engine._common import fetch
from funnelkit.engine.parquet import write_tables
from funnelkit.engine.periods import period_label
from funnelkit.engine.statistics import (
    km_curve_from_counts,
    km_quantiles_from_counts,
    median_from_counts,
    quantile_from_counts,
)
from funnelkit.metrics import period_labels

#: on the tiny exports, one call per metric (their stage history shows in the funnel view test too)
EXPORT_CALLS = [
    ("conversion", {"by": "source", "period": "Q"}),
    ("win_rate", {"by": "source", "stall_days": 30}),
    ("lead_value", {"matured_only": False}),
    ("time_to_close", {"by": "source"}),
]


@pytest.fixture(scope="module")
def random_pair(tmp_path_factory):
    data = random_data()
    return data, connected(data, tmp_path_factory.mktemp("random"))


@pytest.fixture(scope="module")
def sample_pair(tmp_path_factory):
    data = sample_data(tmp_path_factory.mktemp("sample"))
    return data, connected(data, tmp_path_factory.mktemp("sample_parquet"))


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory):
    return connected(tiny(), tmp_path_factory.mktemp("tiny"))


# ------------------------------------------------------------ by hand --


def test_tiny_funnel_conversion_by_hand(tiny_engine):
    table = tiny_engine.conversion(from_stage="mql", to_stage="sql", by="source")
    # A: L1 and L2 became MQLs, only L1 an SQL; B: L4, L5 (SQL skipped, then an opportunity), L6 all did
    assert table[["source", "entered", "converted"]].to_dict("records") == [
        {"source": "A", "entered": 2, "converted": 1},
        {"source": "B", "entered": 3, "converted": 3},
    ]
    assert table["rate"].tolist() == [0.5, 1.0]


def test_tiny_funnel_win_rate_time_to_close_and_lead_value_by_hand(tiny_engine):
    with pytest.warns(fk.SmallSampleWarning):
        win = tiny_engine.win_rate()
    assert win[["won", "lost", "closed"]].iloc[0].tolist() == [2, 1, 3]  # O1 and O4 won, O2 lost
    assert win["rate"].iloc[0] == pytest.approx(2 / 3)

    # from opportunity creation: O2 10 days, O1 and O4 30 days, O3 open 81 days at as_of (censored)
    ttc = tiny_engine.time_to_close().iloc[0]
    assert (ttc["n"], ttc["n_closed"], ttc["n_censored"]) == (4, 3, 1)
    assert ttc["closed_median"] == 30.0
    # Kaplan-Meier: S(10) = 3/4, S(30) = 3/4 * 1/3 = 1/4 -> q25 at 10 days, median and q75 at 30
    assert (ttc["q25"], ttc["median"], ttc["q75"]) == (10.0, 30.0, 30.0)

    value = tiny_engine.lead_value(by="source", matured_only=False)
    assert value[["source", "leads", "won", "won_revenue"]].to_dict("records") == [
        {"source": "A", "leads": 3, "won": 1, "won_revenue": 1000.0},
        {"source": "B", "leads": 3, "won": 1, "won_revenue": 2000.0},
    ]
    assert value["currency"].tolist() == ["USD", "USD"]


def test_tiny_funnel_view_fills_the_skipped_sql_stage(tiny_engine):
    f = funnel_sorted(tiny_engine.funnel).set_index("entity_id")
    # L5 has no SQL date; it became an opportunity on 04-10, so it passed SQL then
    assert f.loc["L5", "sql_at"] == pd.Timestamp("2025-04-10", tz="UTC")
    assert f.loc["L5", "skipped_stages"] == 1
    assert f.loc["L6", "furthest_stage"] == "won"
    assert f.loc["L3", "furthest_stage"] == "lead"
    assert f["is_lost"].sum() == 1


# -------------------------------------------------- equal to pandas --


def test_funnel_view_equals_the_in_memory_view(random_pair, sample_pair, tmp_path):
    pairs = [random_pair, sample_pair]
    for name in ("hubspot", "salesforce_api", "salesforce_report"):
        data = export_data(name)
        pairs.append((data, connected(data, tmp_path / name)))
    for data, engine in pairs:
        expected, got = funnel_sorted(data.funnel), funnel_sorted(engine.funnel)
        assert list(got.columns) == list(expected.columns)
        pd.testing.assert_frame_equal(expected, got, check_dtype=False)


@pytest.mark.parametrize("call", CALLS, ids=call_id)
def test_metric_equals_pandas_on_a_random_funnel(random_pair, call):
    data, engine = random_pair
    assert_same(in_memory(data, *call), on_engine(engine, *call))


@pytest.mark.parametrize("call", CALLS, ids=call_id)
def test_metric_equals_pandas_on_a_loaded_salesforce_export(sample_pair, call):
    data, engine = sample_pair
    assert_same(in_memory(data, *call), on_engine(engine, *call))


@pytest.mark.parametrize("name", ["hubspot", "salesforce_api", "salesforce_report"])
def test_metrics_equal_pandas_on_exports_with_stage_history(name, tmp_path):
    data = export_data(name)
    engine = connected(data, tmp_path)
    for call in EXPORT_CALLS:
        assert_same(in_memory(data, *call), on_engine(engine, *call))


def test_small_sample_warnings_match(tiny_engine):
    with pytest.warns(fk.SmallSampleWarning, match="overall lead -> won"):
        table = tiny_engine.overall_conversion()
    assert table[["entered", "converted"]].iloc[0].tolist() == [6, 2]


# --------------------------------------------------------- sources --


def test_connect_to_a_duckdb_connection_with_a_mapping(tmp_path):
    data = tiny()
    write_tables(data, tmp_path)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE crm_leads AS SELECT * RENAME (lead_id AS \"Id\") FROM '{tmp_path / 'leads.parquet'}'")
    con.execute(f"CREATE TABLE crm_opps AS SELECT * FROM '{tmp_path / 'opportunities.parquet'}'")
    engine = fk.connect(
        con,
        tables={"leads": "crm_leads", "opportunities": "crm_opps"},
        mapping={"leads": {"lead_id": "Id"}},
        as_of=AS_OF,
    )
    assert_same(fk.conversion(data, by="source"), engine.conversion(by="source"))


def test_connect_to_a_duckdb_file_reads_as_of_from_the_data(tmp_path):
    data = random_data()
    write_tables(data, tmp_path)
    path = tmp_path / "funnel.duckdb"
    with duckdb.connect(str(path)) as con:
        for name in ("leads", "opportunities"):
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM '{tmp_path / name}.parquet'")
    engine = fk.connect(path)
    # as_of: the latest timestamp in the tables, as a Dataset built from them without as_of computes it
    assert engine.as_of == fk.Dataset(data.leads, data.opportunities).as_of
    assert engine.backend.name == "duckdb"


def test_connect_errors_name_what_is_missing(tmp_path):
    write_tables(tiny(), tmp_path)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE leads AS SELECT * EXCLUDE (created_at) FROM '{tmp_path / 'leads.parquet'}'")
    con.execute(f"CREATE TABLE opportunities AS SELECT * FROM '{tmp_path / 'opportunities.parquet'}'")
    with pytest.raises(fk.SchemaError, match=r"leads table lacks the column\(s\) \['created_at'\]"):
        fk.connect(con)
    with pytest.raises(fk.SchemaError, match="no table 'deals' for the opportunities"):
        fk.connect(con, tables={"leads": str(tmp_path / "leads.parquet"), "opportunities": "deals"})
    with pytest.raises(fk.SchemaError, match=r"names columns the table does not have: \['Id'\]"):
        fk.connect(tmp_path, mapping={"leads": {"lead_id": "Id"}})
    (tmp_path / "empty").mkdir()
    with pytest.raises(fk.ParameterError, match="must hold leads.parquet and opportunities.parquet"):
        fk.connect(tmp_path / "empty")
    with pytest.raises(fk.ParameterError, match="connect\\(\\) takes a DuckDB connection"):
        fk.connect(42)


def test_engine_refuses_a_by_column_the_data_lacks(tiny_engine):
    with pytest.raises(fk.ParameterError, match=r"by='region' is not a column of the data"):
        tiny_engine.win_rate(by="region")


# ------------------------------------------------- building blocks --


@pytest.mark.parametrize("period", ["W", "M", "Q", "Y"])
@pytest.mark.parametrize("fiscal_year_start", [1, 2, 7])
def test_period_labels_in_the_engine_equal_pandas_labels(period, fiscal_year_start):
    stamps = pd.Series(
        pd.to_datetime(
            ["2024-12-29 23:59:59", "2024-12-30", "2025-01-01", "2025-01-31 12:00", "2025-02-01", "2025-06-30",
             "2025-07-01", "2025-12-31 23:59:59", "2028-02-29"], utc=True, format="ISO8601",
        )
    )  # fmt: skip
    memtable = ibis.memtable({"at": stamps}, schema={"at": "timestamp('UTC')"})
    got = memtable.select(label=period_label(memtable["at"], period, fiscal_year_start=fiscal_year_start))
    expected = period_labels(stamps, period, fiscal_year_start=fiscal_year_start)
    assert fetch(got)["label"].tolist() == expected.tolist()


def test_kaplan_meier_from_counts_equals_the_fit_on_rows():
    rng = np.random.default_rng(4)
    for _ in range(50):
        days = rng.integers(0, 40, rng.integers(1, 80)).astype(float)
        closed = rng.random(len(days)) < 0.6
        frame = pd.DataFrame({"days": days, "closed": closed.astype(int), "open": (~closed).astype(int)})
        counts = frame.groupby("days")[["closed", "open"]].sum().reset_index()
        expected = stats.km_quantiles(days, closed)
        got = km_quantiles_from_counts(counts["days"], counts["closed"], counts["open"])
        assert got == pytest.approx(expected, nan_ok=True, abs=0)
        curve = stats.km_curve(days, closed)
        got_days, got_survival = km_curve_from_counts(counts["days"], counts["closed"], counts["open"])
        assert got_days.tolist() == curve["days"].tolist()
        assert got_survival.tolist() == curve["survival"].tolist()
        closed_days = days[closed]
        if len(closed_days):
            assert median_from_counts(counts["days"], counts["closed"]) == float(np.median(closed_days))
            assert quantile_from_counts(counts["days"], counts["closed"], 0.75) == float(np.quantile(closed_days, 0.75))


def test_the_public_metrics_hand_an_engine_dataset_to_its_engine(tiny_engine):
    # the same hand-worked numbers as above, through fk.<metric>(data) instead of data.<metric>()
    table = fk.conversion(tiny_engine, from_stage="mql", to_stage="sql", by="source")
    assert table[["source", "entered", "converted"]].values.tolist() == [["A", 2, 1], ["B", 3, 3]]
    with pytest.warns(fk.SmallSampleWarning):
        win = fk.win_rate(data=tiny_engine)
    assert win[["won", "lost", "closed"]].iloc[0].tolist() == [2, 1, 3]
    ttc = fk.time_to_close(tiny_engine).iloc[0]
    assert (ttc["n"], ttc["n_closed"], ttc["median"]) == (4, 3, 30.0)
    value = fk.lead_value(tiny_engine, by="source", matured_only=False)
    assert value["won_revenue"].tolist() == [1000.0, 2000.0]
    assert fk.km_curve(tiny_engine).equals(tiny_engine.km_curve())
    assert fk.overall_conversion(tiny_engine).equals(tiny_engine.overall_conversion())


def test_the_review_runs_every_section_in_the_engine(tiny_engine):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        result = fk.review(tiny_engine, by="source")
    assert {"conversion", "win_rate", "time_to_close", "km", "lead_value"} <= set(result.sections)
    win = result.sections["win_rate_total"]
    assert win[["won", "lost"]].sum().tolist() == [2, 1]  # O1 and O4 won, O2 lost
    assert result.sections["dropoff"]["reached"].tolist() == [6, 5, 4, 4, 2]  # worked out in test_engine_metrics_a
    # every section runs in the engine, none is left out (tests/test_review_engine.py compares them with pandas)
    assert result.skipped == {}
    assert {"pipeline", "lost_reasons", "stalled_deals", "revenue_change", "drift", "mix"} <= set(result.sections)
