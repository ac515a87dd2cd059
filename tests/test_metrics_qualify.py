"""The MQL-definition workbench on the hand-worked funnel."""

from __future__ import annotations

import pytest
from metrics_fixtures import deals, tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def test_a_rule_against_the_current_definition(data):
    table = fk.qualify(data, "source == 'B'", period="M")
    overall = table[table["period"] == "(all)"].set_index("definition")
    # rule: L4 (lost), L5 (open), L6 (won); current MQLs: L1, L2, L4, L5, L6
    assert overall.loc["rule", ["leads", "opportunities", "won"]].tolist() == [3, 3, 1]
    assert overall.loc["current", ["leads", "opportunities", "won"]].tolist() == [5, 4, 2]
    assert overall.loc["rule", "win_rate"] == pytest.approx(1 / 3)
    assert overall.loc["current", "to_opportunity_rate"] == pytest.approx(4 / 5)
    monthly = table[(table["definition"] == "rule") & (table["period"] != "(all)")]
    assert dict(zip(monthly["period"], monthly["leads"], strict=True)) == {"2025-01": 1, "2025-04": 2}


def test_a_callable_rule(data):
    table = fk.qualify(data, lambda f: f["employees"] >= 300)  # L2, L4, L6
    row = table.set_index(["definition", "period"]).loc[("rule", "(all)")]
    assert (row["leads"], row["opportunities"], row["won"]) == (3, 2, 1)


def test_every_rate_has_an_interval(data):
    table = fk.qualify(data, "employees >= 100", period="Q")
    for prefix in ("to_opportunity_", "win_"):
        assert (table[f"{prefix}ci_low"] <= table[f"{prefix}rate"]).all()
        assert (table[f"{prefix}rate"] <= table[f"{prefix}ci_high"]).all()


def test_bad_rules_and_data_say_why(data):
    with pytest.raises(fk.ParameterError, match="cannot be evaluated"):
        fk.qualify(data, "no_such_column > 3")
    with pytest.raises(fk.ParameterError, match="needs the stage 'mql'"):
        fk.qualify(deals(["2025-01-01"], [None], as_of="2025-02-01"), "source == 'A'")
