"""fk.review on a dataset whose rows stay in an engine (fk.connect): only aggregates come back.

The review's own figures (headline, the dates each section counts, the on-track target, the money findings) are
aggregate queries (funnelkit/review_facts.py). Every test here makes ``EngineDataset.funnel`` (which brings every
row to pandas) raise, so a review that pulled rows fails. The review of the engine's dataset must say what the
review of the loaded dataset says, section for section (every metric runs in the engine).
"""

from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from engine_cases import assert_same, connected, random_data, sample_data
from metrics_fixtures import t, tiny

import funnelkit as fk
from funnelkit.engine.dataset import EngineDataset

#: on-track columns that come from fk.coverage (the open pipeline weighed against what is left to win)
COVERAGE_COLUMNS = ["open", "open_value", "weighted_pipeline", "coverage", "verdict", "note"]


@pytest.fixture(autouse=True)
def no_rows_to_python(monkeypatch):
    """An engine dataset's rows must never come to Python during a review."""

    def pulled(self):
        raise AssertionError("the review brought every row of the engine's funnel to Python (EngineDataset.funnel)")

    monkeypatch.setattr(EngineDataset, "funnel", property(pulled))


@pytest.fixture(scope="module")
def random_pair(tmp_path_factory):
    data = random_data()
    return data, connected(data, tmp_path_factory.mktemp("review_random"))


@pytest.fixture(scope="module")
def sample_pair(tmp_path_factory):
    data = sample_data(tmp_path_factory.mktemp("review_sample"))
    return data, connected(data, tmp_path_factory.mktemp("review_sample_parquet"))


def quiet_review(data, **options) -> fk.Review:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        return fk.review(data, **options)


def assert_same_review(loaded: fk.Review, engine: fk.Review) -> None:
    """Every metric runs in the engine: the same sections, tables, notes, findings and on-track table."""
    pd.testing.assert_frame_equal(engine.headline, loaded.headline, rtol=1e-12)
    assert (engine.period, engine.previous) == (loaded.period, loaded.previous)
    assert engine.skipped == loaded.skipped
    assert set(engine.sections) == set(loaded.sections)
    for name, table in loaded.sections.items():
        assert_same(table, engine.sections[name])
    assert engine.notes == loaded.notes
    assert engine.findings == loaded.findings
    got, expected = engine.on_track, loaded.on_track
    target = [c for c in expected.columns if c not in COVERAGE_COLUMNS]
    pd.testing.assert_frame_equal(got[target], expected[target], rtol=1e-12)
    pd.testing.assert_frame_equal(got[COVERAGE_COLUMNS], expected[COVERAGE_COLUMNS], check_dtype=False)


OPTIONS = [
    {},
    {"period": "M", "quota": 1_000_000},
    {"period": "Y", "fiscal_year_start": 4, "by": "owner"},
    {"period": "W", "by": None},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_the_engine_review_of_the_random_funnel_says_what_the_loaded_review_says(random_pair, options):
    data, engine = random_pair
    assert_same_review(quiet_review(data, **options), quiet_review(engine, **options))


@pytest.mark.parametrize("options", OPTIONS[:3], ids=["default", "monthly-quota", "fiscal-years"])
def test_the_engine_review_of_a_salesforce_export_says_what_the_loaded_review_says(sample_pair, options):
    data, engine = sample_pair
    assert_same_review(quiet_review(data, **options), quiet_review(engine, **options))


# ---------------------------------------------------------------------------------------------- by hand --
# The six-lead funnel of metrics_fixtures, as of 2025-06-30: leads created 2025-01-05 .. 2025-04-05 (Q1: L1-L4,
# Q2: L5, L6); O1 won 2025-02-14 (1,000, created 01-15: 30 days), O2 lost 2025-02-11 (created 02-01: 10 days),
# O4 won 2025-05-09 (2,000, created 04-09: 30 days), O3 open.


def with_deals(data: fk.Dataset, **columns) -> fk.Dataset:
    """The funnel with some opportunity columns replaced."""
    opps = data.opportunities.copy()
    for name, values in columns.items():
        opps[name] = values
    return fk.Dataset(data.leads, opps, data.events, stages=data.stages, as_of=data.as_of)


def test_the_engine_headline_of_a_funnel_worked_by_hand(tmp_path):
    result = quiet_review(connected(tiny(), tmp_path))
    assert (result.period, result.previous) == ("2025 Q2", "2025 Q1")
    h = result.headline.set_index("measure")
    assert h.loc["New leads", ["this_period", "previous_period", "change"]].tolist() == [2, 4, -0.5]
    assert h.loc["New MQLs", ["this_period", "previous_period"]].tolist() == [2, 3]  # L3 has no MQL date
    # L5 skipped SQL: its SQL date is its opportunity's (2025-04-10), counted in Q2 beside L6's own
    assert h.loc["New SQLs", ["this_period", "previous_period"]].tolist() == [2, 2]
    assert h.loc["Win rate", ["this_period", "previous_period", "change"]].tolist() == [1.0, 0.5, 0.5]
    assert h.loc["Win rate", "note"].startswith("1 won of 1 closed")
    assert h.loc["Won revenue", ["this_period", "previous_period", "change"]].tolist() == [2000.0, 1000.0, 1.0]
    assert h.loc["Won revenue", "currency"] == "USD"
    # Q2: O4 30 days; Q1: O2 10 and O1 30 days, an even count: the median is their mean, 20
    days = h.loc["Median days to close (closed deals)"]
    assert days[["this_period", "previous_period", "change"]].tolist() == [30.0, 20.0, 10.0]
    assert result.notes["win_rate"][0] == "Deals closed 2025-02-11 to 2025-05-09."
    assert result.notes["lead_value"][0] == "Leads created 2025-01-05 to 2025-04-05."


def test_the_engine_on_track_takes_the_previous_quarter_from_the_data_s_first_day(tmp_path):
    row = quiet_review(connected(tiny(), tmp_path)).on_track.iloc[0]
    assert (row["period"], row["status"], row["days_left"]) == ("2025 Q2", "in progress", 1.0)
    assert (row["period_start"], row["period_end"]) == (t("2025-04-01"), t("2025-06-30"))
    # 2024 Q2 lies before the data's first day (2025-01-05): the target is 2025 Q1's 1,000, said to be partial
    assert row[["won_deals", "won_revenue", "target", "attainment"]].tolist() == [1, 2000.0, 1000.0, 2.0]
    assert row["target_basis"] == "the previous quarter (2025 Q1, from 2025-01-05 when the data starts)"
    assert (row["left_to_win"], row["verdict"], row["note"]) == (0.0, "on track", "the target is already won")


def test_the_engine_headline_gives_revenue_per_currency_never_added(tmp_path):
    # O1 (Q1) in USD, O4 (Q2) in EUR
    data = with_deals(tiny(), currency=["USD", "USD", "USD", "EUR"])
    result = quiet_review(connected(data, tmp_path))
    h = result.headline.set_index("measure")
    eur, usd = h.loc["Won revenue (EUR)"], h.loc["Won revenue (USD)"]
    assert eur[["this_period", "previous_period", "currency"]].tolist() == [2000.0, 0.0, "EUR"]
    assert np.isnan(eur["change"]) and eur["note"] == "in EUR; not added to USD"
    assert usd[["this_period", "previous_period", "change", "currency"]].tolist() == [0.0, 1000.0, -1.0, "USD"]
    assert any(f.startswith("Won revenue is in 2 currencies (EUR, USD)") for f in result.findings)
    assert result.on_track["currency"].tolist() == ["EUR", "USD"]
    assert result.on_track["won_revenue"].tolist() == [2000.0, 0.0]


def test_a_won_deal_without_an_amount_is_counted_apart_on_the_engine(tmp_path):
    # O1 (won in Q1) has no amount: Q1 has no revenue figure (not 0), and the note and a finding say why
    data = with_deals(tiny(), amount=[np.nan, 500.0, 750.0, 2000.0])
    result = quiet_review(connected(data, tmp_path))
    revenue = result.headline.set_index("measure").loc["Won revenue"]
    assert revenue["this_period"] == 2000.0 and np.isnan(revenue["previous_period"])
    assert revenue["note"] == "in USD; won deals without an amount left out: 0 this period, 1 before"
    assert "1 won deal has no amount" in " ".join(result.findings)
    assert result.headline.set_index("measure").loc["Win rate", "previous_period"] == 0.5  # still won


def test_an_engine_review_of_a_funnel_without_rows_says_there_is_nothing_to_review(tmp_path):
    data = tiny()
    empty = fk.Dataset(data.leads.iloc[:0], data.opportunities.iloc[:0], data.events, stages=data.stages, as_of=None)
    with pytest.raises(fk.NotMeasurableError, match="holds no leads and no deals"):
        fk.review(connected(empty, tmp_path))


@pytest.mark.slow
def test_the_review_on_spark_says_what_it_says_on_duckdb(tmp_path):
    if os.environ.get("FUNNELKIT_ENGINE") == "duckdb":
        pytest.skip(
            "runs once: the metric engine of a loaded dataset (FUNNELKIT_ENGINE) does not change Spark's review"
        )
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("no Java runtime (java not on PATH, JAVA_HOME unset): Spark cannot start")
    spark_sql = pytest.importorskip("pyspark.sql", reason="PySpark is not installed (pip install 'funnelkit[spark]')")
    spark = (
        spark_sql.SparkSession.builder.master("local[2]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    data = with_deals(tiny(), currency=["USD", "USD", "USD", "EUR"])  # two currencies: the grouped query too
    try:
        on_spark = quiet_review(connected(data, tmp_path / "spark", source=spark))
    finally:
        spark.stop()
    on_duckdb = quiet_review(connected(data, tmp_path / "duckdb"))
    pd.testing.assert_frame_equal(on_spark.headline, on_duckdb.headline)
    pd.testing.assert_frame_equal(on_spark.on_track, on_duckdb.on_track)
    assert on_spark.notes == on_duckdb.notes and on_spark.findings == on_duckdb.findings
    days = on_spark.headline.set_index("measure").loc["Median days to close (closed deals)"]
    assert days[["this_period", "previous_period"]].tolist() == [30.0, 20.0]  # worked out by hand above
