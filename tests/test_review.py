"""The funnel review's headline and sections on the hand-worked funnel (see metrics_fixtures)."""

from __future__ import annotations

import pytest
from metrics_fixtures import deals, tiny

import funnelkit as fk


def test_headline_compares_the_last_two_periods():
    result = fk.review(tiny(), period="Q")
    assert (result.period, result.previous) == ("2025 Q2", "2025 Q1")
    head = result.headline.set_index("measure")
    assert head.loc["New leads", ["this_period", "previous_period"]].tolist() == [2, 4]
    assert head.loc["New leads", "change"] == pytest.approx(-0.5)
    assert head.loc["Win rate", ["this_period", "previous_period"]].tolist() == [1.0, 0.5]
    assert head.loc["Win rate", "note"] == "1 won of 1 closed; 95% CI 21%-100%"
    assert head.loc["Won revenue", ["this_period", "previous_period"]].tolist() == [2000.0, 1000.0]
    assert head.loc["Median days to close (closed deals)", ["this_period", "previous_period"]].tolist() == [30.0, 20.0]


def test_sections_and_findings():
    result = fk.review(tiny(), period="Q")
    assert {"dropoff", "conversion", "win_rate", "time_to_close", "km", "lead_value", "drift"} <= set(result.sections)
    assert result.skipped == {}
    assert any("loses most at <b>opportunity</b>: 2 of 4 (50%)" in s for s in result.findings)


def test_what_the_data_cannot_support_is_left_out_with_a_reason():
    opportunity_only = deals(["2025-01-01", "2025-02-01"], ["2025-03-01", None], as_of="2025-04-01")
    result = fk.review(opportunity_only)
    assert "lead_value" in result.skipped and "no leads" in result.skipped["lead_value"]
    assert any("left out" in s for s in result.findings)


def test_report_tables_show_counts_with_separators_stage_names_and_no_negative_zero():
    import pandas as pd

    from funnelkit.present import table_html

    table = pd.DataFrame(
        {
            "stage": ["mql", "demo booked"],
            "leads": [6000, 1453],
            "mix_effect": [-0.00004, 0.0123],
            "note": ["a", "b"],
        }
    )
    html = table_html(table, percent=("mix_effect",))
    assert "<td>6,000</td>" in html and "<td>1,453</td>" in html
    assert "<td>0.0%</td>" in html and "-0.0%" not in html and "<td>1.2%</td>" in html
    assert "<td>MQL</td>" in html and "<td>demo booked</td>" in html  # custom stages as they are
