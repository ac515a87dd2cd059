"""data.filter(...) and data.between(...): a smaller Dataset that every metric accepts."""

from __future__ import annotations

import pandas as pd
import pytest

import funnelkit as fk


@pytest.fixture
def data(data_dir):
    return fk.load(data_dir / "salesforce_report", cache=False)


def test_filter_keeps_each_lead_with_its_opportunity(data):
    trade = data.filter(source="Trade Show")
    # leads 3 and 4 (Trade Show) converted to opportunities 1 (won) and 2 (lost)
    assert sorted(trade.leads["lead_id"]) == ["00Q000000000003AAA", "00Q000000000004AAA"]
    assert sorted(trade.opportunities["opportunity_id"]) == ["006000000000001AAA", "006000000000002AAA"]
    assert trade.as_of == data.as_of  # the moment results are computed against does not move
    assert trade.notes[-1] == "filtered to source = 'Trade Show': 2 of 6 funnel entities"


def test_a_filtered_metric_equals_the_same_group_of_a_breakdown(data):
    by_source = fk.conversion(data, by="source").set_index(["source", "from_stage"])
    with pytest.warns(fk.SmallSampleWarning):
        only = fk.overall_conversion(data.filter(source=["Web"]))
    assert (int(only["entered"].iloc[0]), int(only["converted"].iloc[0])) == (3, 0)
    assert int(by_source.loc[("Web", "lead"), "entered"]) == 3


def test_filter_by_mask_and_unknown_column(data):
    f = data.funnel
    assert len(data.filter(f["is_won"]).funnel) == 1
    assert len(data.filter(lambda funnel: funnel["source"] != "Web").funnel) == 3
    with pytest.raises(fk.ParameterError, match="did you mean 'source'"):
        data.filter(sorce="Web")
    with pytest.raises(fk.ParameterError, match="boolean Series"):
        data.filter(pd.Series([True]))


def test_between_takes_entities_by_their_entry_into_the_funnel(data):
    march = data.between("2025-03-01", None)
    assert sorted(march.leads["lead_id"]) == ["00Q000000000005AAA", "00Q000000000006AAA"]
    assert sorted(march.opportunities["opportunity_id"]) == ["006000000000003AAA"]
    assert len(data.between(end="2025-01-16").funnel) == 1
