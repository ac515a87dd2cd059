"""The benchmark's headline numbers, computed by funnelkit and by DuckDB, and their comparison.

The headline set is what the funnel review leads with: conversion counts per
stage by source and quarter, win rate by quarter of close, won revenue per
lead by source, and the median time to close of closed deals.
"""

from __future__ import annotations

import time

import pandas as pd

import funnelkit as fk


def _quarter(stamps: pd.Series) -> pd.Series:
    return stamps.dt.year.astype("str") + "-Q" + stamps.dt.quarter.astype("str")


def funnelkit_headline(data: fk.Dataset) -> tuple[dict, dict]:
    """The headline numbers from a loaded Dataset, and the seconds each took."""
    timings: dict[str, float] = {}

    def timed(name, compute):
        started = time.perf_counter()
        value = compute()
        timings[name] = time.perf_counter() - started
        return value

    numbers = {
        "conversion": timed("conversion by source and quarter", lambda: _conversion(data)),
        "win_rate": timed("win rate by quarter", lambda: _win_rate(data)),
        "lead_value": timed("won revenue per lead by source", lambda: _lead_value(data)),
        "median_days": timed("median time to close", lambda: _median_days(data)),
    }
    return numbers, timings


def metric_suite(data: fk.Dataset) -> dict[str, float]:
    """Seconds of each public metric as the funnel review calls it, and of the whole review."""
    calls = {
        "fk.conversion(by=source, period=Q)": lambda: fk.conversion(data, by="source", period="Q"),
        "fk.dropoff()": lambda: fk.dropoff(data),
        "fk.win_rate(by=source, period=Q)": lambda: fk.win_rate(data, by="source", period="Q", stall_days=90),
        "fk.time_to_close(by=source)": lambda: fk.time_to_close(data, by="source"),
        "fk.km_curve(by=source)": lambda: fk.km_curve(data, by="source"),
        "fk.lead_value(by=source)": lambda: fk.lead_value(data, by="source"),
        "fk.drift(win_rate, by=source)": lambda: fk.drift(data, metric="win_rate", by="source"),
        "fk.sla(mql_target=1000)": lambda: fk.sla(data, mql_target=1000, period="M"),
        "fk.velocity(period=Q)": lambda: fk.velocity(data),
        "fk.review() (all funnel-review sections)": lambda: fk.review(data),
    }
    timings = {}
    for name, call in calls.items():
        started = time.perf_counter()
        call()
        timings[name] = time.perf_counter() - started
    return timings


def conversion_counts(data: fk.Dataset) -> pd.DataFrame:
    """Leads of each source and quarter of creation, and how many reached each later stage."""
    f = data.funnel
    leads = f["entity"].eq("lead").to_numpy()
    counts = pd.DataFrame(
        {
            "leads": data.reached("lead"),
            "mqls": data.reached("mql"),
            "sqls": data.reached("sql"),
            "opportunities": data.reached("opportunity"),
            "won": f["is_won"],
        }
    )[leads]
    table = counts.groupby([f["source"][leads], _quarter(f["lead_at"][leads])]).sum().astype("int64")
    return table.rename_axis(["source", "quarter"]).reset_index().astype({"source": str})


def _conversion(data: fk.Dataset) -> list[dict]:
    return conversion_counts(data).to_dict("records")


def _win_rate(data: fk.Dataset) -> list[dict]:
    opps = data.opportunities
    closed = opps[opps["is_closed"]]
    table = closed.groupby(_quarter(closed["closed_at"]))["is_won"].agg(won="sum", closed="size")
    table["rate"] = table["won"] / table["closed"]
    return table.rename_axis("quarter").reset_index().to_dict("records")


def _lead_value(data: fk.Dataset) -> list[dict]:
    f = data.funnel
    f = f[f["entity"].eq("lead")]
    won = f["amount"].where(f["is_won"], 0.0)
    table = won.groupby(f["source"]).agg(won_revenue="sum", leads="size")
    table["revenue_per_lead"] = table["won_revenue"] / table["leads"]
    return table.rename_axis("source").reset_index().to_dict("records")


def _median_days(data: fk.Dataset) -> float:
    opps = data.opportunities
    closed = opps[opps["is_closed"] & ~opps["closed_before_created"]]
    return float(((closed["closed_at"] - closed["created_at"]).dt.total_seconds() / 86400).median())


def compare(ours: dict, theirs: dict) -> dict:
    """Per headline table: do funnelkit and DuckDB give the same numbers?"""
    verdict = {}
    for name in ("conversion", "win_rate", "lead_value"):
        a = pd.DataFrame(ours[name])
        b = pd.DataFrame(theirs[name])[a.columns]
        key = list(a.columns[:2]) if name == "conversion" else [a.columns[0]]
        a, b = (t.sort_values(key).reset_index(drop=True) for t in (a, b))
        try:
            pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9)
            verdict[name] = True
        except AssertionError:
            verdict[name] = False
    verdict["median_days"] = abs(ours["median_days"] - theirs["median_days"]) < 1e-6
    verdict["all"] = all(verdict.values())
    return verdict
