"""The SLA scorecard on the hand-worked funnel, and data that cannot support it."""

from __future__ import annotations

import pytest
from metrics_fixtures import deals, tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def test_delivery_against_the_commitment(data):
    delivery = fk.sla(data, mql_target=2, period="M").delivery.set_index("period")
    # every month from the first MQL to as_of (2025-06-30): a month without an MQL is a 0, not a missing row
    assert delivery["mqls"].to_dict() == {
        "2025-01": 3, "2025-02": 0, "2025-03": 0, "2025-04": 2, "2025-05": 0, "2025-06": 0
    }  # fmt: skip
    # band 1.8 - 2.2: three MQLs are over, two within, none under
    assert delivery["status"].to_dict() == {
        "2025-01": "over", "2025-02": "under", "2025-03": "under", "2025-04": "within", "2025-05": "under",
        "2025-06": "under",
    }  # fmt: skip
    assert delivery["ratio"].to_dict() == {
        "2025-01": 1.5, "2025-02": 0.0, "2025-03": 0.0, "2025-04": 1.0, "2025-05": 0.0, "2025-06": 0.0
    }  # fmt: skip
    weeks = fk.sla(data, mql_target=1, period="W").delivery
    # weeks from Monday 2025-01-06 to Monday 2025-06-30: 26; MQLs on Mon 01-06 and Sun 01-12 (one week),
    # Tue 01-21, Thu 04-03 and Sun 04-06 (one week): three weeks hold the five MQLs
    assert (len(weeks), int((weeks["mqls"] > 0).sum()), int(weeks["mqls"].sum())) == (26, 3, 5)
    assert (weeks["period"].iloc[0], weeks["period"].iloc[-1]) == ("2025-01-06", "2025-06-30")
    assert (delivery["low"].iloc[0], delivery["high"].iloc[0]) == pytest.approx((1.8, 2.2))
    under = fk.sla(data, mql_target=5, period="Q", tolerance=0.25).delivery.set_index("period")
    assert under["status"].to_dict() == {"2025 Q1": "under", "2025 Q2": "under"}  # 3 and 2 < 3.75


def test_response_time_and_follow_up(data):
    result = fk.sla(data, mql_target=2, period="M", touches_target=3)
    response = result.response.iloc[0]
    assert response[["mqls", "touched", "within_target", "within_max", "never_touched"]].tolist() == [5, 4, 2, 3, 1]
    assert response["median_minutes"] == pytest.approx(32.5)  # of 10, 20, 45, 2,880 minutes
    assert response["within_target_rate"] == pytest.approx(2 / 5)
    assert response["never_touched_rate"] == pytest.approx(1 / 5)
    assert response["within_target_ci_low"] < 0.4 < response["within_target_ci_high"]
    assert response["followed_up"] == 2  # L1 (3 touches) and L4 (4)
    tight = fk.sla(data, mql_target=2, period="M", response_within="15min", max_response="1h").response.iloc[0]
    assert (tight["within_target"], tight["within_max"]) == (1, 3)


def test_rejected_leads_with_reasons(data):
    result = fk.sla(data, mql_target=2, period="M")
    assert result.feedback.to_dict("records") == [{"reason": "No budget", "mqls": 1}]
    assert "periods on target" in result.summary["measure"].tolist()


def test_response_by_owner(data):
    response = fk.sla(data, mql_target=2, period="M", by="owner").response.set_index("owner")
    assert response["mqls"].to_dict() == {"ann": 3, "bob": 2}
    assert response.loc["bob", "never_touched"] == 1


def test_bad_parameters_name_the_parameter(data):
    with pytest.raises(fk.ParameterError, match="response_within must be a duration"):
        fk.sla(data, mql_target=2, period="M", response_within="soon")
    with pytest.raises(fk.ParameterError, match="tolerance must be 0 or more"):
        fk.sla(data, mql_target=2, period="M", tolerance=-0.1)
    with pytest.raises(fk.ParameterError, match="period must be one of"):
        fk.sla(data, mql_target=2, period="D")
    # the target is MQLs per period: a period left out is never guessed
    with pytest.raises(fk.ParameterError, match=r"sla\(\) needs period=, the period mql_target counts MQLs per"):
        fk.sla(data, mql_target=2)


def test_sla_on_data_that_cannot_support_it_says_why(data_dir):
    pipedrive = fk.load(data_dir / "pipedrive", cache=False)
    with pytest.raises(fk.ParameterError, match="needs the column 'first_touch_at'"):
        fk.sla(pipedrive, mql_target=10, period="M")
    opportunity_only = deals(["2025-01-01"], [None], as_of="2025-02-01")
    with pytest.raises(fk.ParameterError, match="needs the stage 'mql'"):
        fk.sla(opportunity_only, mql_target=10, period="M")
