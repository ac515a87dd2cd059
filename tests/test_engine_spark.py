"""The same Ibis expressions on Spark (local[2]) give what they give on DuckDB, and what pandas gives.

One SparkSession for the module; skipped, with the reason, where no Java runtime
or no PySpark is installed (``make test`` installs Debian's default-jre-headless
when it runs as root).
"""

from __future__ import annotations

import os
import shutil

import duckdb
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
    leads_only_engine,
    on_engine,
    sample_data,
    write_delta,
)
from metrics_fixtures import random_funnel

import funnelkit as fk

pytestmark = pytest.mark.slow

if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip("no Java runtime (java not on PATH, JAVA_HOME unset): Spark cannot start", allow_module_level=True)
pyspark_sql = pytest.importorskip("pyspark.sql", reason="PySpark is not installed (pip install 'funnelkit[spark]')")

#: a few calls per metric, with by= and period=, so the module stays near a minute (a query costs ~1 s on Spark)
SPARK_CALLS = [
    ("conversion", {"from_stage": "sql", "by": "source", "period": "Q", "fiscal_year_start": 2}),
    ("conversion", {"from_stage": "mql", "to_stage": "opportunity", "window": "30D", "start": "2025-01-01"}),
    ("conversion", {"basis": "period", "from_stage": "lead", "to_stage": "mql", "by": "source", "period": "M"}),
    ("win_rate", {"by": "owner", "period": "W"}),
    ("win_rate", {"by": "source", "period": "Q", "stall_days": 60}),
    ("lead_value", {}),
    ("time_to_close", {"by": "source", "period": "Q"}),
    ("km_curve", {"by": "source"}),
]


@pytest.fixture(scope="module")
def spark():
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("funnelkit-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        # small test data: compiling Java code and re-planning cost more than they save
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.driver.memory", "1g")
        # a short-lived JVM: the quick (C1) compiler warms up faster than it loses on throughput
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def engines(spark, tmp_path_factory):
    data = random_funnel(1500, seed=11, orphan_opportunities=40)
    folder = tmp_path_factory.mktemp("random")
    return data, connected(data, folder, source=spark), connected(data, tmp_path_factory.mktemp("random_duckdb"))


def test_spark_runs_the_engine(engines):
    _, on_spark, on_duckdb = engines
    assert on_spark.backend.name == "pyspark"
    assert on_duckdb.backend.name == "duckdb"


@pytest.mark.parametrize("call", SPARK_CALLS, ids=call_id)
def test_metric_on_spark_equals_duckdb_and_pandas(engines, call):
    data, on_spark, on_duckdb = engines
    got = on_engine(on_spark, *call)
    assert_same(on_engine(on_duckdb, *call), got)
    assert_same(in_memory(data, *call), got)


def _cached_partitions(spark) -> list[tuple[int, int]]:
    """(cached, all) partitions of every RDD Spark holds in its cache."""
    infos = spark.sparkContext._jsc.sc().getRDDStorageInfo()
    return [(info.numCachedPartitions(), info.numPartitions()) for info in infos]


def test_funnel_view_is_cached_whole_on_spark_before_any_metric(spark, tmp_path):
    data = random_funnel(300, seed=5)
    engine = connected(data, tmp_path, source=spark)
    before = len(_cached_partitions(spark))
    _ = engine.funnel_table  # what the first metric asks for: the view, kept in Spark's cache
    after = _cached_partitions(spark)
    assert len(after) == before + 1
    assert all(cached == total > 0 for cached, total in after), after  # every partition computed, none left


def test_durations_between_times_with_fractions_of_a_second_equal_on_spark(spark, tmp_path):
    # each lead enters 0.9 s past a second and becomes an MQL 0.1 s past one, a day and 1-3 s later:
    # whole seconds (Spark's unix_timestamp) would make every gap 0.8 s longer
    start, day, second = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timedelta(days=1), pd.Timedelta(seconds=1)
    created = [start + i * day + 0.9 * second for i in range(4)]
    leads = pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(4)],
        "created_at": pd.Series(created, dtype="datetime64[us, UTC]"),
        "mql_at": pd.Series([at + day + (i + 1) * second - 0.8 * second for i, at in enumerate(created)],
                            dtype="datetime64[us, UTC]"),
        "opportunity_id": pd.Series([None] * 4, dtype="string"),
    })  # fmt: skip
    as_of = pd.Timestamp("2025-03-01", tz="UTC")
    on_duckdb = leads_only_engine(tmp_path, leads, as_of=as_of)
    tables = {p.stem: str(p) for p in tmp_path.glob("*.parquet")}
    on_spark = fk.connect(spark, tables=tables, as_of=as_of)
    call = {"from_stage": "lead", "to_stage": "mql"}
    got, expected = on_spark.conversion(**call), on_duckdb.conversion(**call)
    # gaps of a day and 0.2, 1.2, 2.2, 3.2 s: the 75th percentile is a day and 2.45 s
    assert got["horizon_days"].iloc[0] == expected["horizon_days"].iloc[0] == pytest.approx(1 + 2.45 / 86400, abs=1e-12)
    assert_same(expected, got)


def test_funnel_view_with_stage_history_on_spark(spark, tmp_path):
    data = export_data("hubspot")  # history ("Date entered ...") decides stage times here
    engine = connected(data, tmp_path, source=spark)
    expected, got = funnel_sorted(data.funnel), funnel_sorted(engine.funnel)
    assert list(got.columns) == list(expected.columns)
    assert got["entity_id"].tolist() == expected["entity_id"].tolist()
    for column in ("lead_at", "mql_at", "sql_at", "opportunity_at", "won_at", "furthest_stage", "skipped_stages"):
        assert got[column].tolist() == expected[column].tolist(), column


# ------------------------------------- every metric, DuckDB beside Spark, and a plain SQL peer --


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory):
    """A generated Salesforce export (2,500 leads) read by the loader, its tables as Parquet, on both engines."""
    data = sample_data(tmp_path_factory.mktemp("generated"))
    folder = tmp_path_factory.mktemp("generated_parquet")
    on_spark = connected(data, folder, source=spark)
    return data, folder, on_spark, connected(data, folder)


@pytest.mark.parametrize("call", CALLS, ids=call_id)
def test_every_engine_metric_is_identical_on_duckdb_and_spark(generated, call):
    _, _, on_spark, on_duckdb = generated
    assert_same(on_engine(on_duckdb, *call), on_engine(on_spark, *call))


def sql_peer(folder) -> dict:
    """The headline numbers in plain DuckDB SQL over the canonical Parquet tables (no funnelkit code)."""
    leads, opps = folder / "leads.parquet", folder / "opportunities.parquet"
    con = duckdb.connect()
    closed = con.sql(
        f"""select count(*) filter (where is_closed) as closed,
                   count(*) filter (where is_closed and is_won) as won
            from '{opps}'"""
    ).fetchone()
    # every lead with a created date, with the opportunity it converted to
    per_lead = con.sql(
        f"""select count(*) as leads,
                   count(*) filter (where o.is_won) as won,
                   sum(o.amount) filter (where o.is_won) as won_revenue
            from '{leads}' l left join '{opps}' o on o.opportunity_id = l.opportunity_id
            where l.created_at is not null"""
    ).fetchone()
    return {
        "closed": closed[0],
        "won": closed[1],
        "win_rate": closed[1] / closed[0],
        "leads": per_lead[0],
        "leads_won": per_lead[1],
        "won_revenue": per_lead[2],
    }


def test_headline_numbers_equal_a_plain_duckdb_sql_peer_on_both_engines(generated):
    _, folder, on_spark, on_duckdb = generated
    peer = sql_peer(folder)
    assert peer["closed"] > 100 and peer["won"] > 20  # the generated export closes enough deals to mean something
    for engine in (on_duckdb, on_spark):
        win = engine.win_rate().iloc[0]
        assert (win["closed"], win["won"]) == (peer["closed"], peer["won"])
        assert win["rate"] == pytest.approx(peer["win_rate"], rel=1e-12)
        value = engine.lead_value(by=None, matured_only=False).iloc[0]
        assert (value["leads"], value["won"]) == (peer["leads"], peer["leads_won"])
        assert value["won_revenue"] == pytest.approx(peer["won_revenue"], rel=1e-12)
        overall = engine.overall_conversion().iloc[0]
        assert (overall["entered"], overall["converted"]) == (peer["leads"], peer["leads_won"])


def test_a_delta_table_on_a_session_without_delta_lake_says_what_the_session_needs(spark, tmp_path):
    pytest.importorskip("deltalake", reason="deltalake is not installed (pip install 'funnelkit[delta]')")
    write_delta(random_funnel(50, seed=3), tmp_path)
    tables = {"leads": str(tmp_path / "leads"), "opportunities": str(tmp_path / "opportunities")}
    # this test session has no Delta Lake reader (its jars are not installed here): a clear error, not the JVM's
    said = r"leads is a Delta Lake table, and the pyspark backend could not read it \(\[DATA_SOURCE_NOT_FOUND\]"
    with pytest.raises(fk.ParameterError, match=said):
        fk.connect(spark, tables=tables)
