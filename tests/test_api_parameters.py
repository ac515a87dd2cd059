"""One vocabulary, one set of checks: every public metric fails the same way on the same bad parameter.

The metrics are enumerated from ``funnelkit``'s public API, so a new metric
joins every case below on its own; one that does not check its parameters
(through ``funnelkit._params``) fails here.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings

import pandas as pd
import pytest
from metrics_fixtures import tiny

import funnelkit as fk

#: Public metric functions: exported by funnelkit and defined in funnelkit.metrics.
METRICS = sorted(name for name in fk.__all__ if name in fk.metrics.__all__ and inspect.isfunction(getattr(fk, name)))

#: What each metric needs besides ``data`` to be called at all (positional, keyword).
NEEDS: dict[str, tuple[tuple, dict]] = {
    "sla": ((), {"mql_target": 2, "period": "M"}),
    "plan": ((), {"quota": 10_000}),
    "coverage": ((), {"target": 5_000, "period_end": "2025-06-30"}),
    "mix_decomposition": ((), {"current": "2025 Q2", "previous": "2025 Q1", "by": "source"}),
    "qualify": (("employees >= 100",), {}),
}

#: (case, the parameter names it applies to (the first one a metric takes), bad value, what the message must
#: name: the bad value, and a valid one)
CASES = [
    ("unknown by column", ("by",), "ownr", "'ownr'", "did you mean 'owner'?"),
    ("unknown stage", ("from_stage", "stage"), "wonn", "'wonn'", "did you mean 'won'?"),
    ("bad period", ("period",), "quarterly", "'quarterly'", "'Q'"),
    ("unparseable start date", ("start", "period_start", "as_of"), "31/02/2025", "'31/02/2025'", "'2025-06-30'"),
    ("wrong type of data", ("data",), pd.DataFrame({"lead_id": ["L1"]}), "DataFrame", "Dataset"),
    ("wrong type of by", ("by",), 3, "got 3", "by='source'"),
]


def accepted(name: str) -> set[str]:
    """The parameters a metric takes (``overall_conversion`` passes its options on to ``conversion``)."""
    taken = set(inspect.signature(getattr(fk, name)).parameters)
    if name == "overall_conversion":
        taken |= set(inspect.signature(fk.conversion).parameters) - {"from_stage", "to_stage"}
    return taken


def combinations():
    for metric in METRICS:
        for case, names, value, bad, valid in CASES:
            name = next((n for n in names if n in accepted(metric)), None)
            if name is not None:
                yield pytest.param(metric, name, value, bad, valid, id=f"{metric}-{case}")


@pytest.fixture(scope="module")
def data():
    return tiny()


def call(metric: str, data, name: str, value):
    args, options = NEEDS.get(metric, ((), {}))
    options = {**options, name: value} if name != "data" else dict(options)
    first = value if name == "data" else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        return getattr(fk, metric)(first, *args, **options)


def test_the_cases_reach_every_metric():
    assert len(METRICS) >= 18 and {"conversion", "drift", "sla", "plan", "coverage", "stalled_deals"} <= set(METRICS)
    runs = list(combinations())
    per_case = {case: sum(1 for p in runs if p.id.endswith(f"-{case}")) for case, *_ in CASES}
    assert per_case["wrong type of data"] == len(METRICS)  # every metric checks its data
    assert per_case["unknown by column"] >= 14
    assert per_case["unknown stage"] >= 7
    assert per_case["bad period"] >= 8
    assert per_case["unparseable start date"] >= 4
    # each metric needing more than data is listed in NEEDS, and NEEDS lists only metrics that exist
    assert set(NEEDS) <= set(METRICS)


@pytest.mark.parametrize(("metric", "name", "value", "bad", "valid"), combinations())
def test_a_bad_parameter_is_a_parameter_error_naming_the_value_and_a_valid_one(data, metric, name, value, bad, valid):
    with pytest.raises(fk.ParameterError) as caught:
        call(metric, data, name, value)
    assert isinstance(caught.value, fk.FunnelkitError)
    message = str(caught.value)
    assert bad in message, message
    assert valid in message, message


def test_every_metric_runs_on_the_good_parameters_the_cases_start_from(data):
    # the cases fail on the one bad value, not on something else missing
    for metric in METRICS:
        with contextlib.suppress(fk.NotMeasurableError):  # the tiny funnel cannot support every measure
            call(metric, data, "data", data)


@pytest.mark.parametrize("metric", [m for m in METRICS if "by" in accepted(m)])
def test_a_by_column_of_dicts_is_a_parameter_error_not_a_crash(data, metric):
    leads = data.leads.assign(meta=[{"tier": i % 2} for i in range(len(data.leads))])
    odd = fk.Dataset(leads, data.opportunities, data.history, stages=data.stages, as_of=data.as_of)
    with pytest.raises(fk.ParameterError) as err:
        call(metric, odd, "by", "meta")
    assert str(err.value).startswith("by='meta': the column holds dict values such as \"{'tier': 0}\"")


def test_review_checks_by_as_the_metrics_do(data):
    with pytest.raises(fk.ParameterError) as from_review:
        fk.review(data, by="ownr")
    with pytest.raises(fk.ParameterError) as from_conversion:
        fk.conversion(data, by="ownr")
    assert str(from_review.value) == str(from_conversion.value)
    assert "did you mean 'owner'?" in str(from_review.value)


def test_stage_names_periods_and_columns_are_read_in_any_case(data):
    upper = fk.conversion(data, from_stage="MQL", to_stage="SQL", by="Source", period="q")
    lower = fk.conversion(data, from_stage="mql", to_stage="sql", by="source", period="Q")
    pd.testing.assert_frame_equal(upper, lower)
    # L1 and L4 of source A and B reached SQL; L2 (A), L5 and L6 (B) did not or have no own date
    assert (
        upper[["source", "period", "entered", "converted"]].values.tolist()
        == lower[["source", "period", "entered", "converted"]].values.tolist()
    )
    assert fk.stalled_deals(data, stage="Opportunity").equals(fk.stalled_deals(data, stage="opportunity"))
    assert fk.win_rate(data, period="y")["period"].tolist() == ["2025"]


def test_dates_are_read_year_month_day_and_never_guessed(data):
    # 03/04/2025 could be March 4 or April 3: refused, not guessed
    with pytest.raises(fk.ParameterError, match="year-month-day"):
        fk.win_rate(data, start="03/04/2025")
    with pytest.raises(fk.ParameterError, match=r"start \(2025-06-01\) must come before end \(2025-01-01\)"):
        fk.win_rate(data, start="2025-06-01", end="2025-01-01")
    # O1 (won 02-14) and O2 (lost 02-11) closed in February; O4 (won 05-09) later
    february = fk.win_rate(data, start=pd.Timestamp("2025-02-01"), end="2025-03-01")
    assert february[["won", "lost"]].values.tolist() == [[1, 1]]


def test_old_keyword_names_work_one_release_with_a_warning_naming_the_new_one(data):
    with pytest.warns(DeprecationWarning, match=r"sla\(\): mql_stage= is now named stage="):
        old = fk.sla(data, mql_target=2, period="M", mql_stage="mql")
    assert old.delivery.equals(fk.sla(data, mql_target=2, period="M", stage="mql").delivery)
    with pytest.warns(DeprecationWarning, match=r"km_curve\(\): start= is now named from_stage="):
        fk.km_curve(data, start="opportunity")
    with pytest.raises(fk.ParameterError, match="give stage= only"):
        fk.qualify(data, "employees >= 100", stage="mql", mql_stage="mql")


def test_plan_takes_data_first_like_every_metric(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        first = fk.plan(data, quota=10_000)
        keyword = fk.plan(quota=10_000, data=data)
    pd.testing.assert_frame_equal(first, keyword)
    # measured deal size: mean of the won 1,000 and 2,000 = 1,500, so 10,000 needs 7 won deals
    assert first.set_index("stage").loc["won", "needed"] == 7
