"""The funnel review's headline and sections on the hand-worked funnel (see metrics_fixtures)."""

from __future__ import annotations

import warnings

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


def test_where_deals_are_lost_pipeline_lost_reasons_and_stalled_deals():
    result = fk.review(tiny(), period="Q")
    lost = result.sections["lost_reasons"]
    assert lost[["lost_reason", "lost", "lost_value"]].values.tolist() == [["Price", 1, 500.0]]  # O2
    assert result.sections["pipeline"][["stage", "open", "open_value"]].values.tolist() == [["opportunity", 1, 750.0]]
    # the opportunity stage's stall line: O1 and O4 each took 30 days to be won; O3 has been open 81 days
    stalled = result.sections["stalled_deals"]
    assert stalled[["opportunity_id", "days_in_stage", "stall_line_days", "days_over"]].values.tolist() == [
        ["O3", 81.0, 30.0, 51.0]
    ]
    # nothing to say about the stalled deals but the dates they are counted at
    assert result.section("stalled_deals").ok
    assert result.section("stalled_deals").note() == "<p class='fk-note'>Open deals as of 2025-06-30.</p>"


def test_a_measure_the_data_cannot_support_says_why_instead_of_a_zero():
    data = tiny()
    opps = data.opportunities.drop(columns=["lost_reason"])
    result = fk.review(fk.Dataset(data.leads, opps, data.events, as_of=data.as_of), period="Q")
    assert "lost_reasons" not in result.sections
    assert "no lost reason column" in result.skipped["lost_reasons"]
    assert result.section("lost_reasons").note().startswith("<p class='fk-note'>This section is left out: ")


def test_a_by_column_the_export_does_not_fill_is_said_once_and_the_review_goes_on_without_it():
    data = tiny()
    leads, opps = data.leads.assign(source=None), data.opportunities.assign(source=None)
    result = fk.review(fk.Dataset(leads, opps, data.events, as_of=data.as_of), period="Q", by="source")
    said = "This export does not fill the column 'source': the review is shown without a breakdown by source."
    assert result.notes["review"] == [said]
    assert sum(said.replace("'", "&#x27;") in f for f in result.findings) == 1
    assert "source" not in result.sections["win_rate"].columns and "mix" not in result.sections
    assert not any("(not set)" in f for f in result.findings)
    with pytest.raises(fk.ParameterError, match="not a column"):
        fk.review(data, by="ownr")


def test_the_mix_finding_says_rate_changes_in_points():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        result = fk.review(tiny(), by="source")
    mix = result.sections["mix"].set_index("source").loc["(total)"]
    assert (mix["total_change"], mix["mix_effect"], mix["rate_effect"]) == (0.5, -0.25, 0.75)  # -0.25 + 0.75 = 0.5
    assert "Of the overall change of +50.0 pts, -25.0 pts came from a shift in mix and +75.0 pts from rates " \
        "within groups." in result.findings  # fmt: skip


def test_every_section_says_which_dates_it_counts():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        result = fk.review(tiny(), by="source")
    first = {name: notes[0] for name, notes in result.notes.items() if name != "review"}
    # closed: O2 lost 02-11, O1 won 02-14, O4 won 05-09; leads created 01-05 .. 04-05; entries 01-05 .. 05-09;
    # opportunities created 01-15 (O1) .. 04-10 (O3, still open at as_of 2025-06-30)
    assert first == {
        "dropoff": "Stage entries dated 2025-01-05 to 2025-05-09.",
        "conversion": "Stage entries dated 2025-01-05 to 2025-05-09.",
        "win_rate": "Deals closed 2025-02-11 to 2025-05-09.",
        "drift": "Deals closed 2025-02-11 to 2025-05-09.",
        "lost_reasons": "Deals lost 2025-02-11 to 2025-02-11.",
        "lead_value": "Leads created 2025-01-05 to 2025-04-05.",
        "time_to_close": "Deals that entered Opportunity 2025-01-15 to 2025-04-10; those still open are counted to "
        "2025-06-30.",
        "pipeline": "Open deals as of 2025-06-30.",
        "stalled_deals": "Open deals as of 2025-06-30.",
        "revenue_change": "2025 Q2: 2025-04-01 to 2025-06-30; 2025 Q1: 2025-01-01 to 2025-03-31.",
        "mix": "2025 Q2: 2025-04-01 to 2025-06-30; 2025 Q1: 2025-01-01 to 2025-03-31.",
    }


@pytest.mark.parametrize("enabled_before", [True, False])
def test_garbage_collection_waits_for_the_end_of_the_review_and_is_left_as_it_was(monkeypatch, enabled_before):
    import gc
    import sys

    review_module = sys.modules["funnelkit.review"]
    seen = []
    real_dropoff = review_module.dropoff

    def dropoff(data):
        seen.append(gc.isenabled())
        return real_dropoff(data)

    monkeypatch.setattr(review_module, "dropoff", dropoff)
    (gc.enable if enabled_before else gc.disable)()
    try:
        result = fk.review(tiny(), period="Q")
        assert seen == [False]
        assert gc.isenabled() is enabled_before
        assert "dropoff" in result.sections
    finally:
        gc.enable()


def test_days_to_close_are_not_measurable_when_only_open_deals_have_a_start_date():
    # deal creation is the start (one deal has it), but neither closed deal has one
    data = deals([None, None, "2025-02-01"], ["2025-03-01", "2025-03-05", None], as_of="2025-04-01")
    head = fk.review(data, period="Q").headline.set_index("measure")
    days = head.loc["Median days to close (closed deals)"]
    assert days["note"] == "not measurable: no closed deal has a start date (see the time-to-close section)"
    assert days[["this_period", "previous_period"]].isna().all()


def test_days_to_close_count_from_deal_creation_when_a_closed_deal_has_it():
    data = deals([None, "2025-02-20", "2025-02-01"], ["2025-03-01", "2025-03-05", None], as_of="2025-04-01")
    head = fk.review(data, period="Q").headline.set_index("measure")
    days = head.loc["Median days to close (closed deals)"]
    assert days["note"].startswith("from the opportunity's creation")
    assert days["this_period"] == 13.0  # 2025-02-20 to 2025-03-05; the deal without a start is left out
