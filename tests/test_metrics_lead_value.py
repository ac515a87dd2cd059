"""Lead value by source, matured cohorts only, with spend joined per period."""

from __future__ import annotations

import pandas as pd
import pytest
from metrics_fixtures import tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def data():
    return tiny()


def test_lead_value_by_source(data):
    table = fk.lead_value(data, by="source", matured_only=False).set_index("source")
    assert table.loc["A", ["leads", "mqls", "won", "won_revenue"]].tolist() == [3, 2, 1, 1000.0]
    assert table.loc["A", "revenue_per_lead"] == pytest.approx(1000 / 3)
    assert table.loc["A", "revenue_per_mql"] == pytest.approx(500.0)
    assert table.loc["A", "avg_deal_size"] == pytest.approx(1000.0)
    assert table.loc["B", "revenue_per_lead"] == pytest.approx(2000 / 3)
    assert table["currency"].unique().tolist() == ["USD"]
    assert table["matured_before"].isna().all()


def test_lead_value_keeps_only_matured_leads(data):
    # lead -> won: 40 and 34 days; 75th percentile 38.5: leads created by 22 May count (all six)
    table = fk.lead_value(data, by="source")
    assert table["leads"].sum() == 6
    assert table["matured_before"].iloc[0] == pd.Timestamp("2025-06-30", tz="UTC") - pd.Timedelta(days=38.5)
    cut = fk.lead_value(data.with_as_of("2025-05-01"), by="source", maturity_days=30)
    assert cut["leads"].sum() == 6 - 2  # L5 and L6 (April) are too young


def test_spend_is_matched_to_the_leads_of_its_periods(data):
    spend = pd.DataFrame({"source": ["A", "B", "B"], "period": ["2025 Q1", "2025 Q1", "2025 Q2"],
                          "spend": [300.0, 1000.0, 3000.0]})  # fmt: skip
    table = fk.lead_value(data, by="source", matured_only=False, spend=spend).set_index("source")
    assert table.loc["A", ["leads", "spend", "spend_periods"]].tolist() == [3, 300.0, 1]
    assert table.loc["A", "cost_per_lead"] == pytest.approx(100.0)
    assert table.loc["A", "roi"] == pytest.approx((1000 - 300) / 300)
    assert table.loc["B", "cost_per_won"] == pytest.approx(4000.0)
    assert table.loc["B", "roi"] == pytest.approx((2000 - 4000) / 4000)


def test_spend_of_one_period_counts_only_that_periods_leads(data):
    # B spent only in Q1, when its one lead (L4) was lost: its Q2 win is not bought by that spend
    spend = pd.DataFrame({"source": ["B"], "period": ["2025 Q1"], "spend": [1000.0]})
    table = fk.lead_value(data, by="source", matured_only=False, spend=spend).set_index("source")
    assert table.loc["B", ["leads", "won", "won_revenue"]].tolist() == [1, 0, 0.0]
    assert table.loc["B", "cost_per_lead"] == pytest.approx(1000.0)
    assert pd.isna(table.loc["B", "cost_per_won"])
    # A has no spend rows: all its leads, no costs
    assert table.loc["A", "leads"] == 3 and pd.isna(table.loc["A", "spend"])


def test_spend_of_young_periods_is_left_out_with_their_leads(data):
    spend = pd.DataFrame({"source": ["B", "B"], "period": ["2025 Q1", "2025 Q2"], "spend": [1000.0, 3000.0]})
    # as of 15 July with 30 days to mature: cut-off 15 June, so Q2 (ends 1 July) is not yet mature
    table = fk.lead_value(data.with_as_of("2025-07-15"), by="source", maturity_days=30, spend=spend).set_index("source")
    assert table.loc["B", ["leads", "spend", "spend_periods"]].tolist() == [1, 1000.0, 1]


def test_spend_periods_follow_the_fiscal_year(data):
    spend = pd.DataFrame({"source": ["A"], "period": ["FY2025 Q4"], "spend": [200.0]})  # January 2025
    table = fk.lead_value(data, by="source", matured_only=False, spend=spend, fiscal_year_start=2).set_index("source")
    assert table.loc["A", "leads"] == 2  # L1, L2 in January; L3 (February) is FY2026 Q1
    with pytest.raises(fk.ParameterError, match="labels like 'FY2026 Q1'"):
        fk.lead_value(data, by="source", spend=spend.assign(period="2025 Q1"), fiscal_year_start=2)


def test_spend_needs_its_columns_and_by_source(data):
    with pytest.raises(fk.ParameterError, match="spend must be a DataFrame with columns"):
        fk.lead_value(data, by="source", spend=pd.DataFrame({"source": ["A"], "spend": [1.0]}))
    spend = pd.DataFrame({"source": ["A"], "period": ["2025 Q1"], "spend": [1.0]})
    with pytest.raises(fk.ParameterError, match="needs by='source'"):
        fk.lead_value(data, by="owner", spend=spend)


def test_revenue_is_never_summed_across_currencies():
    data = tiny()
    opps = data.opportunities.assign(currency=["USD", "USD", "USD", "EUR"])
    mixed = fk.Dataset(data.leads, opps, data.history, as_of=data.as_of)
    table = fk.lead_value(mixed, by="source", matured_only=False)
    b = table[table["source"] == "B"].set_index("currency")
    assert b["won_revenue"].to_dict() == {"EUR": 2000.0}
    assert table.groupby("currency")["won_revenue"].sum().to_dict() == {"EUR": 2000.0, "USD": 1000.0}
    spend = pd.DataFrame({"source": ["A"], "period": ["2025 Q1"], "spend": [1.0]})
    with pytest.raises(fk.ParameterError, match="several currencies"):
        fk.lead_value(mixed, by="source", matured_only=False, spend=spend)
