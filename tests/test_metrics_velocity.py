"""Sales velocity per quarter of opportunity creation, against the hand-worked funnel."""

from __future__ import annotations

import pytest
from metrics_fixtures import tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def test_velocity(data):
    table = fk.velocity(data, period="Q").set_index("period")
    q1 = table.loc["2025 Q1"]
    # Q1 opportunities O1 (won, 1000, 30 days) and O2 (lost, 10 days)
    assert (q1["opportunities"], q1["won"], q1["closed"], q1["cycle_days"]) == (2, 1, 2, 20.0)
    assert q1["velocity_per_day"] == pytest.approx(2 * 0.5 * 1000 / 20)
    # Q2: O3 open, O4 won (2000, 30 days): 2 opportunities x 1/1 x 2000 / 30
    assert table.loc["2025 Q2", "velocity_per_day"] == pytest.approx(2 * 1.0 * 2000 / 30)


def test_velocity_by_source(data):
    table = fk.velocity(data, period="Y", by="source").set_index("source")
    assert table["opportunities"].to_dict() == {"A": 1, "B": 3}
    assert table.loc["A", "velocity_per_day"] == pytest.approx(1 * 1.0 * 1000 / 30)
