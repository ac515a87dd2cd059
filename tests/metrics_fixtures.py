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
