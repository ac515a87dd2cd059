"""The engine's metrics take the in-memory metrics' parameters and fail on a bad one with the same words.

Every metric of an engine's dataset has the signature of the in-memory metric
of the same name (without ``data``: the dataset is ``self``), and runs its
parameters through the same checks (:mod:`funnelkit._params`): each bad value
below must raise a :class:`~funnelkit.ParameterError` whose message is the
in-memory metric's, word for word. The cases of ``test_api_parameters`` come
first (all but "wrong type of data": an engine's metric has no ``data`` to get
wrong), then the options only these metrics take.
"""

from __future__ import annotations

import inspect
import warnings

import pandas as pd
import pytest
from engine_cases import assert_same, connected
from metrics_fixtures import tiny
from test_api_parameters import CASES

import funnelkit as fk

#: the metrics an engine's dataset offers, each named as the in-memory metric it mirrors
ENGINE_METRICS = ("conversion", "overall_conversion", "win_rate", "lead_value", "time_to_close", "km_curve")

#: (case, options): one bad value each (or a bad pair), for every metric that takes all of the options
ENGINE_CASES = [
    *[(case, {name: value}) for case, names, value, *_ in CASES if names != ("data",) for name in names],
    ("unknown to_stage", {"to_stage": "wonn"}),
    ("stage in the wrong order", {"from_stage": "won", "to_stage": "mql"}),
    ("unknown basis", {"basis": "cohrt"}),
    ("unreadable window", {"window": "soon"}),
    ("negative window", {"window": "-3D"}),
    ("unparseable end date", {"end": "2025/13/01"}),
    ("date of the wrong type", {"start": 20250101}),
    ("end before start", {"start": "2025-06-01", "end": "2025-01-01"}),
    ("fiscal year starting in month 13", {"fiscal_year_start": 13}),
    ("negative stall_days", {"stall_days": -1}),
    ("negative maturity_days", {"maturity_days": -5}),
    ("bad spend_period", {"spend_period": "quarterly"}),
    ("by list with an unknown column", {"by": ["source", "ownr"]}),
]
#: the metrics whose ``from_stage`` was named ``start`` (elsewhere ``start`` is a date)
RENAMED_CASE = ("old and new name of from_stage", {"start": "lead", "from_stage": "lead"})
RENAMED = ("time_to_close", "km_curve")


def accepted(name: str) -> set[str]:
    """The options an in-memory metric takes (``overall_conversion`` passes its own on to ``conversion``)."""
    taken = set(inspect.signature(getattr(fk, name)).parameters) - {"data"}
    if name == "overall_conversion":
        taken |= set(inspect.signature(fk.conversion).parameters) - {"data", "from_stage", "to_stage"}
    return taken


def combinations():
    for metric in ENGINE_METRICS:
        for case, options in ENGINE_CASES:
            if set(options) <= accepted(metric):
                yield pytest.param(metric, options, id=f"{metric}-{case}-{'-'.join(options)}")
        if metric in RENAMED:
            case, options = RENAMED_CASE
            yield pytest.param(metric, options, id=f"{metric}-{case}-{'-'.join(options)}")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    data = tiny()
    return data, connected(data, tmp_path_factory.mktemp("tiny"))


def failure(compute) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # the old name's warning: tested below
        with pytest.raises(fk.ParameterError) as caught:
            compute()
    return str(caught.value)


def test_the_cases_reach_every_engine_metric():
    runs = list(combinations())
    per_metric = {m: sum(1 for p in runs if p.id.startswith(f"{m}-")) for m in ENGINE_METRICS}
    # of the 8 cases from test_api_parameters: by (2), from_stage, period, start where each is taken; then
    # conversion: to_stage, stage order, basis, window (2), end, date type, end before start, fiscal year, by list;
    # overall_conversion: those without the stages; win_rate: the dates, fiscal year, stall_days, by list;
    # lead_value: fiscal year, maturity_days, spend_period, by list; time_to_close: fiscal year, by list and
    # the old name beside the new; km_curve: by list and the old name beside the new
    assert per_metric == {
        "conversion": 5 + 10,
        "overall_conversion": 4 + 8,
        "win_rate": 4 + 6,
        "lead_value": 2 + 4,
        "time_to_close": 4 + 3,
        "km_curve": 3 + 2,
    }


@pytest.mark.parametrize(("metric", "options"), list(combinations()))
def test_a_bad_parameter_fails_on_the_engine_with_the_in_memory_message(pair, metric, options):
    data, engine = pair
    expected = failure(lambda: getattr(fk, metric)(data, **options))
    got = failure(lambda: getattr(engine, metric)(**options))
    assert got == expected


@pytest.mark.parametrize("metric", ENGINE_METRICS)
def test_engine_metrics_have_the_in_memory_signatures(pair, metric):
    _, engine = pair
    expected = list(inspect.signature(getattr(fk, metric)).parameters.values())[1:]  # without data
    got = list(inspect.signature(getattr(engine, metric)).parameters.values())
    assert [(p.name, p.kind, p.default) for p in got] == [(p.name, p.kind, p.default) for p in expected]


def test_defaults_give_the_in_memory_tables(pair):
    data, engine = pair
    # by defaults to None everywhere: one row over every lead; L1-L6 all matured before as_of
    value = engine.lead_value(matured_only=False)
    assert_same(fk.lead_value(data, matured_only=False), value)
    assert value[["leads", "won", "won_revenue"]].iloc[0].tolist() == [6, 2, 3000.0]
    assert "source" not in value


def test_names_are_read_in_any_case_on_the_engine(pair):
    _, engine = pair
    upper = engine.conversion(from_stage="MQL", to_stage="SQL", by="Source", period="q")
    lower = engine.conversion(from_stage="mql", to_stage="sql", by="source", period="Q")
    assert_same(lower, upper)
    # A: L1 and L2 entered MQL in January, L1 reached SQL; B: L4 (January), L5 and L6 (April) all went on
    assert upper[["source", "period", "entered", "converted"]].values.tolist() == [
        ["A", "2025 Q1", 2, 1],
        ["B", "2025 Q1", 1, 1],
        ["B", "2025 Q2", 2, 2],
    ]
    assert engine.time_to_close(from_stage="Opportunity")["n"].tolist() == [4]


def test_the_old_name_of_from_stage_works_with_the_in_memory_warning(pair):
    data, engine = pair
    with pytest.warns(DeprecationWarning, match=r"km_curve\(\): start= is now named from_stage="):
        old = engine.km_curve(start="opportunity")
    assert_same(fk.km_curve(data, from_stage="opportunity"), old)
    with pytest.warns(DeprecationWarning, match=r"time_to_close\(\): start= is now named from_stage="):
        ttc = engine.time_to_close(start="opportunity")
    # O2 closed after 10 days, O1 and O4 after 30, O3 open: 4 deals, 3 closed
    assert ttc[["n", "n_closed"]].iloc[0].tolist() == [4, 3]


def test_dates_are_iso_only_on_the_engine(pair):
    data, engine = pair
    with pytest.raises(fk.ParameterError, match="year-month-day"):
        engine.win_rate(start="03/04/2025")
    # O1 (won 02-14) and O2 (lost 02-11) closed in February; O4 (won 05-09) later
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        february = engine.win_rate(start=pd.Timestamp("2025-02-01"), end="2025-03-01")
    assert february[["won", "lost"]].values.tolist() == [[1, 1]]
