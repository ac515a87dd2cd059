"""Every public metric on partial exports: its rows, or a FunnelkitError that says why (issues #15, #10).

Real exports come with a table missing, a date column missing, stages reached by status alone. The
property test draws such funnels and calls every public metric and fk.review on them: each returns a
non-empty table (with a ``note`` where something could not be measured) or raises a FunnelkitError,
never another exception. The named cases below are small hand-written exports with their numbers
worked out by hand.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from conftest import ROOT, shared_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metrics_fixtures import empty_events

import funnelkit as fk
from funnelkit import schema as s
from funnelkit.load._load import _finish_leads, _finish_opportunities

DEFAULT = fk.Stages()
DEALS_ONLY = fk.Stages(names=("prospecting", "engaging", "won"), opportunity="prospecting")
LEAD_STATUSES = ["Open", "Marketing Qualified", "Sales Qualified", "Closed - Converted", "Closed - Not Converted"]


def stamp(day: int) -> pd.Timestamp:
    return pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=day)


def dates(draw, n: int, *, present: bool, blanks: bool = True) -> pd.Series:
    if not present:
        return None
    days = draw(st.lists(st.one_of(st.none(), st.integers(0, 400)) if blanks else st.integers(0, 400),
                         min_size=n, max_size=n))  # fmt: skip
    return pd.Series([stamp(d) if d is not None else pd.NaT for d in days], dtype=s.TIMESTAMP)


@st.composite
def partial_funnels(draw) -> fk.Dataset:
    """A dataset with any subset of tables, columns and stage dates, finished as the loader does."""
    stages = draw(st.sampled_from([DEFAULT, DEALS_ONLY]))
    n_leads = draw(st.integers(0, 6)) if stages is DEFAULT else 0
    n_opps = draw(st.integers(0, 6))
    leads = pd.DataFrame({s.LEAD_ID: pd.Series([f"L{i}" for i in range(n_leads)], dtype="str")})
    if n_leads:
        optional = {
            s.CREATED_AT: dates(draw, n_leads, present=draw(st.booleans())),
            "mql_at": dates(draw, n_leads, present=draw(st.booleans())),
            "sql_at": dates(draw, n_leads, present=draw(st.booleans())),
            s.FIRST_TOUCH_AT: dates(draw, n_leads, present=draw(st.booleans())),
            s.DISQUALIFIED_AT: dates(draw, n_leads, present=draw(st.booleans())),
        }
        for column, values in optional.items():
            if values is not None:
                leads[column] = values
        if draw(st.booleans()):
            leads[s.STATUS] = draw(st.lists(st.sampled_from(LEAD_STATUSES), min_size=n_leads, max_size=n_leads))
        if draw(st.booleans()):
            leads[s.SOURCE] = draw(st.lists(st.sampled_from(["Web", "Partner"]), min_size=n_leads, max_size=n_leads))
    opp_stages = [*stages.names[stages.names.index(stages.opportunity) :], "lost"]
    opps = pd.DataFrame({s.OPPORTUNITY_ID: pd.Series([f"O{i}" for i in range(n_opps)], dtype="str")})
    if n_opps:
        stage = draw(st.lists(st.sampled_from(opp_stages), min_size=n_opps, max_size=n_opps))
        opps[s.STAGE] = stage
        opps[s.STAGE_LABEL] = stage
        if n_leads and draw(st.booleans()):  # some deals came from leads
            linked = [f"L{i}" if i < n_leads and draw(st.booleans()) else None for i in range(n_opps)]
            opps[s.LEAD_ID] = pd.Series(linked, dtype="str")
            leads[s.OPPORTUNITY_ID] = pd.Series(
                [f"O{linked.index(f'L{i}')}" if f"L{i}" in linked else None for i in range(n_leads)], dtype="str"
            )
        created = dates(draw, n_opps, present=draw(st.booleans()))
        if created is not None:
            opps[s.CREATED_AT] = created
        if draw(st.booleans()):
            opps[s.CLOSED_AT] = dates(draw, n_opps, present=True)
        if stages is DEALS_ONLY and draw(st.booleans()):
            opps["engaging_at"] = dates(draw, n_opps, present=True)
        if draw(st.booleans()):
            opps[s.AMOUNT] = draw(st.lists(st.one_of(st.none(), st.floats(0, 1e5)), min_size=n_opps, max_size=n_opps))
            opps[s.AMOUNT] = opps[s.AMOUNT].astype("float64")
            opps[s.CURRENCY] = "USD"
        if draw(st.booleans()):
            opps[s.SOURCE] = draw(st.lists(st.sampled_from(["Web", "Event"]), min_size=n_opps, max_size=n_opps))
    notes: list[str] = []
    return fk.Dataset(
        _finish_leads(leads, stages), _finish_opportunities(opps, stages, notes), empty_events(), stages=stages
    )


def every_metric(data: fk.Dataset) -> dict:
    """Each public metric, as a user or the report would call it, on ``data``."""
    first, second = data.stages.names[:2]
    return {
        "conversion": lambda: fk.conversion(data),
        "conversion by source and quarter": lambda: fk.conversion(data, by="source", period="Q"),
        "conversion in a window": lambda: fk.conversion(data, window="30D", start="2025-01-01", end="2025-07-01"),
        "conversion per period": lambda: fk.conversion(data, basis="period", period="M"),
        "overall conversion": lambda: fk.overall_conversion(data, period="Q"),
        "dropoff": lambda: fk.dropoff(data, by="source"),
        "win rate": lambda: fk.win_rate(data, by="source", period="Q", stall_days=30),
        "time to close": lambda: fk.time_to_close(data),
        "time to close from the lead": lambda: fk.time_to_close(data, start="lead", by="source", period="Q"),
        "km curve": lambda: fk.km_curve(data, by="source"),
        "stage durations": lambda: fk.stage_durations(data),
        "lead value": lambda: fk.lead_value(data),
        "velocity": lambda: fk.velocity(data),
        "drift of the win rate": lambda: fk.drift(data, metric="win_rate"),
        "drift of a step": lambda: fk.drift(data, metric="conversion", from_stage=first, to_stage=second),
        "drift of time to close": lambda: fk.drift(data, metric="time_to_close", by=None),
        "mix": lambda: fk.mix_decomposition(data, current="2025 Q2", previous="2025 Q1"),
        "sla": lambda: fk.sla(data, mql_target=3, touches_target=2),
        "plan": lambda: fk.plan(quota=10_000, data=data),
        "plan with a deal size": lambda: fk.plan(quota=10_000, deal_size=500, data=data, by="source"),
        "qualify": lambda: fk.qualify(data, "source == 'Web'"),
        "review": lambda: fk.review(data),
    }


def outcome(compute):
    """What a metric returned, or the FunnelkitError it raised; anything else fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        try:
            return compute()
        except fk.FunnelkitError as exc:
            assert str(exc).strip(), "a FunnelkitError must say why"
            return exc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=partial_funnels())
def test_every_metric_returns_rows_or_says_why(data):
    for name, compute in every_metric(data).items():
        result = outcome(compute)
        if isinstance(result, fk.SLAResult):
            tables = {"delivery": result.delivery, "response": result.response}
        elif isinstance(result, fk.Review):
            tables = {**result.sections, "headline": result.headline}
        else:
            assert isinstance(result, pd.DataFrame | fk.FunnelkitError), (name, type(result))
            tables = {name: result} if isinstance(result, pd.DataFrame) else {}
        for part, table in tables.items():
            assert len(table), f"{name}: {part} is an empty table without a reason"
