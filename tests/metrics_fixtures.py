"""A six-lead funnel small enough to work every metric out by hand.

    lead  source  created     mql        sql         opportunity        outcome
    L1    A       2025-01-05  01-06      01-10       O1 01-15           won 02-14 (30 days), 1,000
    L2    A       2025-01-10  01-12      -           -             disqualified 01-20, "No budget"
    L3    A       2025-02-01  -          -           -                  -
    L4    B       2025-01-20  01-21      01-25       O2 02-01           lost 02-11 (10 days), 500
    L5    B       2025-04-02  04-03      (skipped)   O3 04-10           open at as_of (81 days)
    L6    B       2025-04-05  04-06      04-08       O4 04-09           won 05-09 (30 days), 2,000

First sales touch after the MQL: L1 10 min, L2 20 min, L4 45 min, L5 2 days, L6 never.
as_of is 2025-06-30.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import funnelkit as fk
from funnelkit import schema as s

AS_OF = pd.Timestamp("2025-06-30", tz="UTC")


def t(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC") if text else pd.NaT


def _column(values):
    return pd.Series([t(v) for v in values], dtype=s.TIMESTAMP)


def empty_events() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in s.EVENT_COLUMNS}).astype({s.AT: s.TIMESTAMP})


def tiny() -> fk.Dataset:
    mql = ["2025-01-06", "2025-01-12", None, "2025-01-21", "2025-04-03", "2025-04-06"]
    touch = ["2025-01-06 00:10", "2025-01-12 00:20", None, "2025-01-21 00:45", "2025-04-05", None]
    leads = pd.DataFrame(
        {
            s.LEAD_ID: ["L1", "L2", "L3", "L4", "L5", "L6"],
            s.CREATED_AT: _column(["2025-01-05", "2025-01-10", "2025-02-01", "2025-01-20", "2025-04-02", "2025-04-05"]),
            s.SOURCE: ["A", "A", "A", "B", "B", "B"],
            s.OWNER: ["ann", "ann", "bob", "bob", "ann", "bob"],
            s.STATUS: [
                "Closed - Converted",
                "Closed - Not Converted",
                "Open",
                "Closed - Converted",
                "Closed - Converted",
                "Closed - Converted",
            ],  # fmt: skip
            "mql_at": _column(mql),
            "sql_at": _column(["2025-01-10", None, None, "2025-01-25", None, "2025-04-08"]),
            s.CONVERTED_AT: _column(["2025-01-15", None, None, "2025-02-01", "2025-04-10", "2025-04-09"]),
            s.OPPORTUNITY_ID: ["O1", None, None, "O2", "O3", "O4"],
            s.FIRST_TOUCH_AT: _column(touch),
            s.TOUCHES: [3.0, 1.0, 0.0, 4.0, 2.0, 0.0],
            s.DISQUALIFIED_AT: _column([None, "2025-01-20", None, None, None, None]),
            s.DISQUALIFY_REASON: [None, "No budget", None, None, None, None],
            "employees": [50, 500, 20, 300, 80, 1000],
        }
    )
    opps = pd.DataFrame(
        {
            s.OPPORTUNITY_ID: ["O1", "O2", "O3", "O4"],
            s.LEAD_ID: ["L1", "L4", "L5", "L6"],
            s.CREATED_AT: _column(["2025-01-15", "2025-02-01", "2025-04-10", "2025-04-09"]),
            s.CLOSED_AT: _column(["2025-02-14", "2025-02-11", None, "2025-05-09"]),
            s.STAGE: ["won", "lost", "opportunity", "won"],
            s.STAGE_LABEL: ["Closed Won", "Closed Lost", "Proposal", "Closed Won"],
            s.IS_CLOSED: [True, True, False, True],
            s.IS_WON: [True, False, False, True],
            s.AMOUNT: [1000.0, 500.0, 750.0, 2000.0],
            s.CURRENCY: ["USD"] * 4,
            s.SOURCE: ["A", "B", "B", "B"],
            s.OWNER: ["ann", "bob", "ann", "bob"],
            s.LOST_REASON: [None, "Price", None, None],
            "closed_before_created": [False] * 4,
        }
    )
    return fk.Dataset(leads, opps, empty_events(), as_of=AS_OF)


def deals(created: list[str], closed: list[str | None], as_of: str) -> fk.Dataset:
    """An opportunity-only dataset (stages opportunity > won)."""
    n = len(created)
    is_closed = [c is not None for c in closed]
    opps = pd.DataFrame(
        {
            s.OPPORTUNITY_ID: [f"O{i}" for i in range(n)],
            s.LEAD_ID: [None] * n,
            s.CREATED_AT: _column(created),
            s.CLOSED_AT: _column(closed),
            s.STAGE: ["won" if c else "opportunity" for c in is_closed],
            s.STAGE_LABEL: ["Won" if c else "Open" for c in is_closed],
            s.IS_CLOSED: is_closed,
            s.IS_WON: is_closed,
            s.AMOUNT: [100.0] * n,
            s.CURRENCY: ["USD"] * n,
            s.SOURCE: ["A"] * n,
            s.OWNER: ["ann"] * n,
            s.LOST_REASON: [None] * n,
        }
    )
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in s.LEAD_COLUMNS.items()})
    stages = fk.Stages(names=("opportunity", "won"))
    return fk.Dataset(leads, opps, empty_events(), stages=stages, as_of=t(as_of))


def _stamps(values) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True)).astype(s.TIMESTAMP)


def random_funnel(
    n_leads: int,
    *,
    seed: int,
    mql_to_sql: dict[str, float] | None = None,
    drift_to: dict[str, float] | None = None,
    drift_from: str = "2025-01-01",
    win_rate: float = 0.3,
    orphan_opportunities: int = 0,
    as_of: str = "2025-12-31",
) -> fk.Dataset:
    """A random lead funnel with known rates, built with numpy alone (not ``funnelkit.sample``).

    Leads arrive uniformly through 2024-2025 from the sources of ``mql_to_sql``.
    Half become MQLs a day or two later; an MQL becomes an SQL with its
    source's ``mql_to_sql`` rate (``drift_to`` replaces it for MQLs from
    ``drift_from`` on: a planted drift); 80% of SQLs become opportunities
    (one in ten without an SQL date of its own, a skipped stage); an
    opportunity is won with ``win_rate`` and closes after ~30 days, unless that
    is after ``as_of`` (still open). ``orphan_opportunities`` adds
    opportunities without a lead, whose source differs from any lead's.
    """
    rng = np.random.default_rng(seed)
    rates = mql_to_sql or {"A": 0.4, "B": 0.3, "C": 0.5}
    drift_to = drift_to or {}
    sources = np.array(list(rates))
    source = rng.choice(sources, n_leads)
    start, span = np.datetime64("2024-01-01"), np.timedelta64(730 * 86400, "s")
    created = start + (rng.random(n_leads) * span).astype("timedelta64[s]")
    day = np.timedelta64(86400, "s")

    def later(base, mean_days):
        return base + (rng.exponential(mean_days, len(base)) * day).astype("timedelta64[s]")

    mql_at = later(created, 1.5)
    is_mql = rng.random(n_leads) < 0.5
    drifted = mql_at >= np.datetime64(drift_from)
    p_sql = np.array([drift_to.get(x, rates[x]) if d else rates[x] for x, d in zip(source, drifted, strict=True)])
    is_sql = is_mql & (rng.random(n_leads) < p_sql)
    sql_at = later(mql_at, 4)
    is_opp = is_sql & (rng.random(n_leads) < 0.8)
    skipped_sql = is_opp & (rng.random(n_leads) < 0.1)
    opp_at = later(sql_at, 3)

    n_opps = int(is_opp.sum())
    lead_ids = np.array([f"L{i}" for i in range(n_leads)], dtype=object)
    opp_ids = np.array([f"O{i}" for i in range(n_opps + orphan_opportunities)], dtype=object)
    opp_created = np.concatenate([opp_at[is_opp], created[:orphan_opportunities]])
    closes = later(opp_created, 30)
    cutoff = np.datetime64(as_of)
    is_closed = closes <= cutoff
    is_won = is_closed & (rng.random(len(opp_ids)) < win_rate)
    opportunity_id = np.full(n_leads, None, dtype=object)
    opportunity_id[is_opp] = opp_ids[:n_opps]
    opp_source = np.concatenate([source[is_opp], np.full(orphan_opportunities, "Partner")])
    leads = pd.DataFrame(
        {
            s.LEAD_ID: pd.Series(lead_ids, dtype="str"),
            s.CREATED_AT: _stamps(created),
            s.SOURCE: pd.Series(source, dtype="str"),
            s.OWNER: pd.Series(rng.choice(["ann", "bob"], n_leads), dtype="str"),
            "mql_at": _stamps(np.where(is_mql, mql_at, np.datetime64("NaT"))),
            "sql_at": _stamps(np.where(is_sql & ~skipped_sql, sql_at, np.datetime64("NaT"))),
            s.OPPORTUNITY_ID: pd.Series(opportunity_id, dtype="str"),
        }
    )
    opps = pd.DataFrame(
        {
            s.OPPORTUNITY_ID: pd.Series(opp_ids, dtype="str"),
            s.LEAD_ID: pd.Series(np.concatenate([lead_ids[is_opp], [None] * orphan_opportunities]), dtype="str"),
            s.CREATED_AT: _stamps(opp_created),
            s.CLOSED_AT: _stamps(np.where(is_closed, closes, np.datetime64("NaT"))),
            s.STAGE: pd.Series(np.where(is_won, "won", np.where(is_closed, "lost", "opportunity")), dtype="str"),
            s.STAGE_LABEL: "x",
            s.IS_CLOSED: is_closed,
            s.IS_WON: is_won,
            s.AMOUNT: np.round(rng.lognormal(7, 0.5, len(opp_ids)), 2),
            s.CURRENCY: "USD",
            s.SOURCE: pd.Series(opp_source, dtype="str"),
            s.OWNER: "ann",
            s.LOST_REASON: pd.Series([None] * len(opp_ids), dtype="str"),
        }
    )
    return fk.Dataset(leads, opps, empty_events(), as_of=t(as_of))


def closed_deals(groups: int, per_group: int, win_rate: float, *, seed: int) -> fk.Dataset:
    """An opportunity-only dataset: ``groups`` owners with ``per_group`` closed deals each,
    every deal won with probability ``win_rate``. One owner is one independent draw."""
    rng = np.random.default_rng(seed)
    n = groups * per_group
    won = rng.random(n) < win_rate
    created = _stamps(np.datetime64("2025-01-01") + rng.integers(0, 90, n).astype("timedelta64[D]"))
    opps = pd.DataFrame(
        {
            s.OPPORTUNITY_ID: pd.Series([f"O{i}" for i in range(n)], dtype="str"),
            s.LEAD_ID: pd.Series([None] * n, dtype="str"),
            s.CREATED_AT: created,
            s.CLOSED_AT: created + pd.Timedelta(days=20),
            s.STAGE: pd.Series(np.where(won, "won", "lost"), dtype="str"),
            s.STAGE_LABEL: "x",
            s.IS_CLOSED: True,
            s.IS_WON: won,
            s.AMOUNT: 100.0,
            s.CURRENCY: "USD",
            s.SOURCE: "A",
            s.OWNER: pd.Series(np.repeat([f"owner{i:03d}" for i in range(groups)], per_group), dtype="str"),
            s.LOST_REASON: pd.Series([None] * n, dtype="str"),
        }
    )
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in s.LEAD_COLUMNS.items()})
    return fk.Dataset(leads, opps, empty_events(), stages=fk.Stages(names=("opportunity", "won")))
