"""The peer: the benchmark's headline numbers computed by DuckDB SQL straight from the CSVs.

It reads a Salesforce report export folder (``leads.csv`` and
``opportunities.csv`` as ``funnelkit sample --format salesforce`` writes
them) with DuckDB's own CSV reader, so it shares no code with funnelkit: the
benchmark times both and checks that they agree.

Definitions (the same as funnelkit's):

- conversion: per lead source and quarter of lead creation, how many leads
  reached each stage; a stage counts as reached when it or any later stage has
  a date (skipped stages count as passed);
- win rate: per quarter of close, won / (won + lost);
- won revenue per lead: per lead source, won amount / leads;
- median time to close: days from opportunity creation to close, closed deals
  that closed on or after their creation.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

SALESFORCE_TIME = "%m/%d/%Y %I:%M %p"
SALESFORCE_DATE = "%m/%d/%Y"

# {path} is filled in with a quoted literal: DuckDB cannot prepare a view's file name.
LEADS = f"""
CREATE OR REPLACE TEMP VIEW leads AS
SELECT
    "Lead ID" AS lead_id,
    "Lead Source" AS source,
    try_strptime("Create Date", '{SALESFORCE_TIME}') AS created_at,
    try_strptime(nullif("MQL Date", ''), '{SALESFORCE_TIME}') AS mql_at,
    try_strptime(nullif("SQL Date", ''), '{SALESFORCE_TIME}') AS sql_at,
    try_strptime(nullif("Converted Date", ''), '{SALESFORCE_DATE}') AS converted_at,
    nullif("Converted Opportunity ID", '') AS opportunity_id
FROM read_csv({{path}}, all_varchar = true, ignore_errors = true)  -- skips the report footer
WHERE "Lead ID" IS NOT NULL AND "Lead ID" <> '' AND "Create Date" <> ''
"""

OPPORTUNITIES = f"""
CREATE OR REPLACE TEMP VIEW opportunities AS
SELECT
    "Opportunity ID" AS opportunity_id,
    CAST(replace(regexp_replace("Amount", '^[A-Z]{{3}} ', ''), ',', '') AS DOUBLE) AS amount,
    strptime("Created Date", '{SALESFORCE_DATE}') AS created_at,
    CASE WHEN "Closed" = '1' THEN strptime("Close Date", '{SALESFORCE_DATE}') END AS closed_at,
    "Closed" = '1' AS is_closed,
    "Won" = '1' AS is_won
FROM read_csv({{path}}, all_varchar = true, ignore_errors = true)  -- skips the report footer
WHERE "Opportunity ID" IS NOT NULL AND "Opportunity ID" <> '' AND "Created Date" <> ''
"""

FUNNEL = """
CREATE OR REPLACE TEMP TABLE funnel AS
SELECT
    l.lead_id,
    l.source,
    year(l.created_at) || '-Q' || quarter(l.created_at) AS quarter,
    o.is_won IS TRUE AS won,
    (o.is_won IS TRUE) OR o.opportunity_id IS NOT NULL OR l.converted_at IS NOT NULL AS opportunity,
    (o.is_won IS TRUE) OR o.opportunity_id IS NOT NULL OR l.converted_at IS NOT NULL
        OR l.sql_at IS NOT NULL AS sql,
    (o.is_won IS TRUE) OR o.opportunity_id IS NOT NULL OR l.converted_at IS NOT NULL
        OR l.sql_at IS NOT NULL OR l.mql_at IS NOT NULL AS mql,
    CASE WHEN o.is_won THEN o.amount ELSE 0 END AS won_amount
FROM leads l
LEFT JOIN opportunities o USING (opportunity_id)
"""

CONVERSION = """
SELECT source, quarter,
       count(*) AS leads,
       count(*) FILTER (mql) AS mqls,
       count(*) FILTER (sql) AS sqls,
       count(*) FILTER (opportunity) AS opportunities,
       count(*) FILTER (won) AS won
FROM funnel GROUP BY ALL ORDER BY ALL
"""

WIN_RATE = """
SELECT year(closed_at) || '-Q' || quarter(closed_at) AS quarter,
       count(*) FILTER (is_won) AS won,
       count(*) FILTER (NOT is_won) AS lost,
       count(*) FILTER (is_won) / count(*) AS rate
FROM opportunities WHERE is_closed GROUP BY ALL ORDER BY ALL
"""

LEAD_VALUE = """
SELECT source, count(*) AS leads, sum(won_amount) AS won_revenue,
       sum(won_amount) / count(*) AS revenue_per_lead
FROM funnel GROUP BY ALL ORDER BY ALL
"""

TIME_TO_CLOSE = """
SELECT median(date_diff('second', created_at, closed_at) / 86400.0) AS median_days,
       count(*) AS closed
FROM opportunities WHERE is_closed AND closed_at >= created_at
"""


def _sql_text(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def peer_metrics(folder: str | Path, *, threads: int | None = None) -> dict[str, pd.DataFrame]:
    """The four headline tables, computed by DuckDB from the raw CSVs in ``folder``."""
    folder = Path(folder)
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(LEADS.replace("{path}", _sql_text(folder / "leads.csv")))
    con.execute(OPPORTUNITIES.replace("{path}", _sql_text(folder / "opportunities.csv")))
    con.execute(FUNNEL)
    result = {
        "conversion": con.execute(CONVERSION).df(),
        "win_rate": con.execute(WIN_RATE).df(),
        "lead_value": con.execute(LEAD_VALUE).df(),
        "time_to_close": con.execute(TIME_TO_CLOSE).df(),
    }
    con.close()
    return result


def duckdb_headline(folder) -> dict:
    return headline_numbers(peer_metrics(folder))


def headline_numbers(peer: dict[str, pd.DataFrame]) -> dict:
    """The peer's tables as the headline numbers ``headline.compare`` checks against funnelkit's."""
    win = peer["win_rate"].assign(closed=lambda t: t["won"] + t["lost"])
    return {
        "conversion": peer["conversion"].to_dict("records"),
        "win_rate": win[["quarter", "won", "closed", "rate"]].to_dict("records"),
        "lead_value": peer["lead_value"][["source", "won_revenue", "leads", "revenue_per_lead"]].to_dict("records"),
        "median_days": float(peer["time_to_close"]["median_days"].iloc[0]),
    }
