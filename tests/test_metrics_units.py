"""Every public metric declares the unit of each number it returns, so tables and charts format by meaning."""

from __future__ import annotations

import html
import re
import warnings

import pandas as pd
import pytest
from metrics_fixtures import deals, tiny

import funnelkit as fk
from funnelkit.present import table_html
from funnelkit.units import Unit, units_of

#: Every public metric, called on the six-lead funnel of ``metrics_fixtures.tiny``.
CALLS = {
    "conversion": lambda d: fk.conversion(d, period="Q"),
    "overall_conversion": lambda d: fk.overall_conversion(d),
    "dropoff": lambda d: fk.dropoff(d),
    "win_rate": lambda d: fk.win_rate(d, period="Q", stall_days=30),
    "time_to_close": lambda d: fk.time_to_close(d),
    "km_curve": lambda d: fk.km_curve(d),
    "stage_durations": lambda d: fk.stage_durations(d),
    "lead_value": lambda d: fk.lead_value(d, matured_only=False),
    "velocity": lambda d: fk.velocity(d),
    "drift": lambda d: fk.drift(d, metric="win_rate", by=None),
    "mix_decomposition": lambda d: fk.mix_decomposition(d, current="2025 Q2", previous="2025 Q1", by="source"),
    "revenue_change": lambda d: fk.revenue_change(d, current="2025 Q2", previous="2025 Q1"),
    "sla": lambda d: fk.sla(d, mql_target=2, period="M", touches_target=2),
    "plan": lambda d: fk.plan(d, quota=10_000),
    "qualify": lambda d: fk.qualify(d, "employees >= 100"),
    "pipeline": lambda d: fk.pipeline(d),
    "coverage": lambda d: fk.coverage(d, target=5_000, period_end="2025-06-30"),
    "stalled_deals": lambda d: fk.stalled_deals(d),
    "lost_reasons": lambda d: fk.lost_reasons(d),
}


def cells(markup: str) -> list[str]:
    """The text of every body cell of an HTML table, row by row."""
    body = markup.split("<tbody>")[1]
    return [html.unescape(c.strip()) for c in re.findall(r"<td>(.*?)</td>", body, flags=re.S)]


def public_metrics() -> set[str]:
    """The metric functions ``funnelkit`` exports (``period_labels`` is a helper, ``SLAResult`` a result)."""
    return {name for name in fk.metrics.__all__ if name not in ("period_labels", "SLAResult")}


def tables(result) -> dict[str, pd.DataFrame]:
    if isinstance(result, fk.SLAResult):
        return {"delivery": result.delivery, "response": result.response, "feedback": result.feedback}
    return {"": result}


def test_every_public_metric_is_checked():
    # a new metric must join CALLS (and so declare its units) for this file to pass
    assert public_metrics() == set(CALLS)
    assert {"conversion", "drift", "lead_value", "sla", "plan"} <= public_metrics()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_number_a_metric_returns_has_a_unit(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        result = CALLS[name](tiny())
    for part, table in tables(result).items():
        numbers = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
        numbers = [c for c in numbers if not pd.api.types.is_bool_dtype(table[c])]
        assert numbers, f"{name} {part}: no numeric column to check"
        units = units_of(table)
        assert [c for c in numbers if c not in units] == [], f"{name} {part}: numbers without a unit"


def test_units_mean_what_the_columns_hold():
    data = tiny()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        rate_drift = units_of(fk.drift(data, metric="win_rate", by=None))
        value = units_of(fk.lead_value(data, matured_only=False))
        scorecard = fk.sla(data, mql_target=2, period="M")
        plan = units_of(fk.plan(data, quota=10_000))
    assert (rate_drift["value"], rate_drift["previous_value"], rate_drift["change"]) == (
        Unit.RATE,
        Unit.RATE,
        Unit.POINTS,
    )
    assert rate_drift["p_adjusted"] is Unit.P_VALUE
    assert {value[c] for c in ("won_revenue", "revenue_per_lead", "revenue_per_mql", "avg_deal_size")} == {Unit.MONEY}
    assert value["leads"] is Unit.COUNT
    assert units_of(scorecard.response)["median_minutes"] is Unit.MINUTES
    assert units_of(scorecard.delivery)["ratio"] is Unit.RATE
    assert (plan["needed"], plan["rate_to_next"], plan["lead_time_days"]) == (Unit.COUNT, Unit.RATE, Unit.DAYS)


def test_a_36_day_time_to_close_drift_reads_in_days():
    # two deals closed in 2025 Q1 after 36 days each, two in Q2 after 30: the median falls by 6 days
    data = deals(
        created=["2025-01-01", "2025-01-10", "2025-04-01", "2025-04-05"],
        closed=["2025-02-06", "2025-02-15", "2025-05-01", "2025-05-05"],
        as_of="2025-06-30",
    )
    table = fk.drift(data, metric="time_to_close", by=None)
    assert table[["period", "value", "change"]].to_dict("list") == {
        "period": ["2025 Q1", "2025 Q2"],
        "value": [36.0, 30.0],
        "change": [pytest.approx(float("nan"), nan_ok=True), -6.0],
    }
    units = units_of(table)
    assert (units["value"], units["previous_value"], units["change"]) == (Unit.DAYS, Unit.DAYS, Unit.DAYS)
    assert cells(table_html(table, columns=["period", "value", "change"])) == [
        "2025 Q1", "36.0 days", "",
        "2025 Q2", "30.0 days", "-6.0 days",
    ]  # fmt: skip
