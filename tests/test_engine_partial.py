"""The engine on partial exports: the same tables, notes and NotMeasurableErrors as the in-memory metrics.

Real exports come with a table missing, a date column missing, stages reached by
status alone (issue #15); the in-memory metrics then add a ``note`` column or stop
with a :class:`~funnelkit.NotMeasurableError` that says why. The engine must say the
same: the property test draws such funnels (the strategy of ``test_metrics_partial``)
and compares every engine metric with the in-memory one, error messages included;
the named exports below pin the notes by hand.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from engine_cases import assert_same, connected
from hypothesis import HealthCheck, given, settings
from test_metrics_partial import mql_by_status_files, partial_funnels, without_created_files, write

import funnelkit as fk

#: the engine's metrics as a user calls them on partial data (first and second stage filled in per funnel)
PARTIAL_CALLS = [
    ("conversion", {}),
    ("conversion", {"by": "source", "period": "Q"}),
    ("conversion", {"window": "30D", "start": "2025-01-01", "end": "2025-07-01"}),
    ("conversion", {"basis": "period", "period": "M"}),
    ("overall_conversion", {"period": "Q"}),
    ("win_rate", {"by": "source", "period": "Q", "stall_days": 30}),
    ("win_rate", {"start": "2025-03-01"}),
    ("time_to_close", {}),
    ("time_to_close", {"from_stage": "lead", "by": "source", "period": "Q"}),
    ("km_curve", {"by": "source"}),
    ("lead_value", {}),
    ("lead_value", {"by": None, "matured_only": False}),
]


def outcome(compute):
    """The table a metric returned, or the FunnelkitError it raised (its class and message)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        try:
            return compute()
        except fk.FunnelkitError as exc:
            return (type(exc).__name__, str(exc))


def assert_same_outcomes(data: fk.Dataset, engine) -> None:
    for metric, options in PARTIAL_CALLS:
        if metric in ("lead_value",) and "lead" not in data.stages.names:
            continue
        if options.get("from_stage") == "lead" and data.stages.first == data.stages.opportunity:
            options = {**options, "from_stage": data.stages.first}
        expected = outcome(lambda m=metric, o=options: getattr(fk, m)(data, **o))
        got = outcome(lambda m=metric, o=options: getattr(engine, m)(**o))
        if isinstance(expected, pd.DataFrame) and isinstance(got, pd.DataFrame):
            assert_same(expected, got)
        else:
            assert got == expected, (metric, options)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=partial_funnels())
def test_engine_metrics_say_what_the_in_memory_ones_say_on_partial_funnels(data):
    with tempfile.TemporaryDirectory() as folder:
        engine = connected(data, Path(folder), stages=data.stages)
        assert_same_outcomes(data, engine)


def loaded(folder: Path) -> fk.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fk.load(folder, cache=False)


def test_mql_reached_by_status_only_gives_one_all_time_row_with_its_reason(tmp_path):
    data = loaded(write(tmp_path / "export", mql_by_status_files()))
    engine = connected(data, tmp_path / "parquet")
    assert_same_outcomes(data, engine)
    table = engine.conversion(by="source", period="Q")
    step = table[table["from_stage"] == "mql"]
    # three leads reached MQL by status (2, 3 and the converted 4), none with an MQL date of its own:
    # Partner 1 of 2 went on to SQL, Web 0 of 1
    assert step[["source", "entered", "converted"]].to_dict("records") == [
        {"source": "Partner", "entered": 2, "converted": 1},
        {"source": "Web", "entered": 1, "converted": 0},
    ]
    assert step["period"].isna().all()
    assert step["note"].str.startswith("not measurable per period of entry").all()


def test_deals_without_a_created_date_are_left_out_of_time_to_close_with_a_note(tmp_path):
    data = loaded(write(tmp_path / "export", without_created_files()))
    engine = connected(data, tmp_path / "parquet")
    assert_same_outcomes(data, engine)
    with pytest.raises(fk.NotMeasurableError, match=r"from_stage='lead' \(the lead's creation\) for 3 deals"):
        engine.time_to_close()
    # from the lead: O1 won after 64 days, O2 lost after 57, O3 open (censored)
    ttc = engine.time_to_close(from_stage="lead").iloc[0]
    assert (ttc["n"], ttc["n_closed"], ttc["n_censored"], ttc["closed_median"]) == (3, 2, 1, 60.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        win = engine.win_rate(stall_days=30)
    # O3 is open and has no created date: not measurable as stalled
    assert win["stalled"].isna().all() and win["broad_rate"].isna().all()
    assert win["note"].iloc[0] == (
        "stalled deals and the broad rate: not measurable: no opportunity created date (created_at) for the 1 open deal"
    )


def test_won_deals_without_an_amount_are_counted_apart_on_the_engine(tmp_path):
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3"],
            "created_at": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"], utc=True),
            "source": ["Web", "Web", "Event"],
            "opportunity_id": ["O1", "O2", "O3"],
        }
    )
    opps = pd.DataFrame(
        {
            "opportunity_id": ["O1", "O2", "O3"],
            "lead_id": ["L1", "L2", "L3"],
            "created_at": pd.to_datetime(["2025-01-10", "2025-01-11", "2025-01-12"], utc=True),
            "closed_at": pd.to_datetime(["2025-02-01", "2025-02-02", "2025-02-03"], utc=True),
            "is_closed": [True, True, True],
            "is_won": [True, True, True],
            "amount": [100.0, None, None],
            "currency": ["USD", None, None],
        }
    )
    data = fk.Dataset(leads, opps, as_of="2025-03-01")
    engine = connected(data, tmp_path)
    expected = fk.lead_value(data, by="source", matured_only=False)
    got = engine.lead_value(by="source", matured_only=False)
    assert_same(expected, got)
    # Web: L1 won 100 USD, L2 won without an amount; Event: L3 won without one -> no revenue figure
    assert got[["source", "won", "won_without_amount"]].to_dict("records") == [
        {"source": "Event", "won": 1, "won_without_amount": 1},
        {"source": "Web", "won": 2, "won_without_amount": 1},
    ]
    assert pd.isna(got["won_revenue"].iloc[0]) and got["won_revenue"].iloc[1] == 100.0
    assert got["avg_deal_size"].iloc[1] == 100.0  # over the one won deal with an amount


def test_an_orphan_opportunity_is_not_disqualified_in_either_view(tmp_path):
    leads = pd.DataFrame(
        {
            "lead_id": ["L1"],
            "created_at": pd.to_datetime(["2025-01-01"], utc=True),
            "opportunity_id": pd.Series([None], dtype="str"),
            "is_disqualified": [False],
        }
    )
    opps = pd.DataFrame(
        {
            "opportunity_id": ["O9"],
            "lead_id": pd.Series([None], dtype="str"),
            "created_at": pd.to_datetime(["2025-01-05"], utc=True),
            "closed_at": pd.to_datetime([None], utc=True),
            "is_closed": [False],
            "is_won": [False],
        }
    )
    data = fk.Dataset(leads, opps, as_of="2025-03-01")
    engine = connected(data, tmp_path)
    for view in (data.funnel, engine.funnel):
        flags = dict(zip(view["entity_id"], view["is_disqualified"], strict=True))
        assert flags == {"L1": False, "O9": False}
