"""fk.conversion, fk.win_rate, fk.time_to_close and fk.lead_value agree with DuckDB SQL written from
the documented semantics, on a random funnel with skipped stages and lead-less opportunities."""

from __future__ import annotations

import pandas as pd
import pytest
from metrics_fixtures import random_funnel

import funnelkit as fk

duckdb = pytest.importorskip("duckdb")

# Entities: every lead (with its opportunity, if any) and every opportunity no lead points to.
# A stage reached without a date of its own takes the next later stage's date (COALESCE down
# the funnel); lead-less opportunities enter at the opportunity stage; a lead's source wins.
ENTITIES = """
WITH lead_rows AS (
    SELECT COALESCE(l.source, o.source) AS source, 'lead' AS entity, l.created_at AS lead_t,
           l.mql_at AS mql_own, l.sql_at AS sql_own, o.created_at AS opportunity_t,
           CASE WHEN o.is_won THEN o.closed_at END AS won_t,
           o.is_closed, o.is_won, o.closed_at, o.amount
    FROM leads l LEFT JOIN opps o ON o.opportunity_id = l.opportunity_id
), orphan_rows AS (
    SELECT o.source, 'opportunity', NULL, NULL, NULL, o.created_at,
           CASE WHEN o.is_won THEN o.closed_at END, o.is_closed, o.is_won, o.closed_at, o.amount
    FROM opps o
    WHERE o.opportunity_id NOT IN (SELECT opportunity_id FROM leads WHERE opportunity_id IS NOT NULL)
), raw AS (SELECT * FROM lead_rows UNION ALL SELECT * FROM orphan_rows)
SELECT source, entity, is_closed, is_won, closed_at, amount,
       lead_t,
       CASE WHEN entity = 'lead' THEN COALESCE(mql_own, sql_own, opportunity_t, won_t) END AS mql_t,
       CASE WHEN entity = 'lead' THEN COALESCE(sql_own, opportunity_t, won_t) END AS sql_t,
       COALESCE(opportunity_t, won_t) AS opportunity_t,
       won_t
FROM raw
"""


def quarter(column: str) -> str:
    return f"CAST(year({column}) AS VARCHAR) || ' Q' || CAST(quarter({column}) AS VARCHAR)"


@pytest.fixture(scope="module")
def data():
    return random_funnel(4_000, seed=21, orphan_opportunities=150)


@pytest.fixture(scope="module")
def sql(data):
    con = duckdb.connect()
    for name, frame in (("leads", data.leads), ("opps", data.opportunities)):
        naive = frame.copy()
        for column in naive.columns:
            if isinstance(naive[column].dtype, pd.DatetimeTZDtype):
                naive[column] = naive[column].dt.tz_convert(None)  # UTC wall time, no session time zone
        con.register(name, naive)
    con.execute(f"CREATE TABLE entities AS {ENTITIES}")
    yield con
    con.close()


def test_the_random_funnel_has_the_cases_worth_checking(data):
    f = data.funnel
    assert (f["skipped_stages"] > 0).sum() > 20
    assert (f["entity"] == "opportunity").sum() == 150
    assert f["source"].nunique() == 4  # three lead sources and the orphans' own


def test_conversion_counts_by_source_and_quarter(data, sql):
    steps = [("lead", "mql"), ("mql", "sql"), ("sql", "opportunity"), ("opportunity", "won")]
    query = " UNION ALL ".join(
        f"SELECT '{a}' AS from_stage, '{b}' AS to_stage, source, {quarter(f'{a}_t')} AS period, "
        f"count(*) AS entered, count({b}_t) AS converted FROM entities WHERE {a}_t IS NOT NULL GROUP BY ALL"
        for a, b in steps
    )
    keys = ["from_stage", "to_stage", "source", "period"]
    theirs = sql.sql(query).df().sort_values(keys).reset_index(drop=True)
    ours = fk.conversion(data, by="source", period="Q")[[*keys, "entered", "converted", "rate"]]
    ours = ours.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours[keys + ["entered", "converted"]], theirs, check_dtype=False)
    assert (ours["rate"] == theirs["converted"] / theirs["entered"]).all()


def test_win_rate_by_source_and_quarter_of_close(data, sql):
    theirs = sql.sql(
        f"SELECT source, {quarter('closed_at')} AS period, count(*) FILTER (WHERE is_won) AS won, "
        "count(*) FILTER (WHERE NOT is_won) AS lost FROM entities WHERE is_closed GROUP BY ALL"
    ).df()
    theirs = theirs.sort_values(["source", "period"]).reset_index(drop=True)
    ours = fk.win_rate(data, by="source", period="Q").sort_values(["source", "period"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours[["source", "period", "won", "lost"]], theirs, check_dtype=False)
    assert (ours["rate"] == theirs["won"] / (theirs["won"] + theirs["lost"])).all()


def test_closed_median_and_won_revenue_by_source(data, sql):
    days = "date_diff('second', opportunity_t, closed_at) / 86400.0"
    theirs = sql.sql(
        f"SELECT source, median({days}) AS closed_median FROM entities WHERE is_closed GROUP BY source"
    ).df()
    ours = fk.time_to_close(data, by="source").set_index("source")["closed_median"]
    assert ours.to_dict() == pytest.approx(theirs.set_index("source")["closed_median"].to_dict(), rel=1e-12)
    revenue = (
        sql.sql(
            "SELECT source, count(*) AS leads, sum(CASE WHEN is_won THEN amount ELSE 0 END) AS won_revenue "
            "FROM entities WHERE entity = 'lead' GROUP BY source"
        )
        .df()
        .set_index("source")
    )
    value = fk.lead_value(data, by="source", matured_only=False).set_index("source")
    assert value["leads"].to_dict() == revenue["leads"].to_dict()
    assert value["won_revenue"].to_dict() == pytest.approx(revenue["won_revenue"].to_dict(), rel=1e-12)
