"""The real Maven Analytics CRM export (../shared/data/maven_crm) through the shipped mapping."""

from __future__ import annotations

import pandas as pd
import pytest

import funnelkit as fk
from conftest import ROOT, shared_path

MAPPING = ROOT / "data" / "mappings" / "maven_crm.yml"


@pytest.fixture(scope="module")
def maven():
    return fk.load(shared_path("maven_crm", "sales_pipeline.csv"), mapping=MAPPING, cache=False)


def test_known_stage_counts(maven):
    counts = maven.opportunities["stage"].value_counts().to_dict()
    assert counts == {"won": 4238, "lost": 2473, "engaging": 1589, "prospecting": 500}
    assert maven.summary.table.loc[0, ["rows_read", "rows_kept", "rows_quarantined"]].tolist() == [
        8800,
        8800,
        0,
    ]
    assert maven.stages.names == ("prospecting", "engaging", "won")


def test_dates_and_open_deals(maven):
    opps = maven.opportunities
    assert opps["closed_at"].min() == pd.Timestamp("2017-03-01", tz="UTC")
    assert opps["closed_at"].max() == pd.Timestamp("2017-12-31", tz="UTC")
    assert opps["engaging_at"].min() == pd.Timestamp("2016-10-20", tz="UTC")
    open_deals = ~opps["is_closed"]
    assert int(open_deals.sum()) == 1589 + 500
    assert opps.loc[open_deals, "closed_at"].isna().all()
    assert opps.loc[opps["stage"] == "prospecting", "engaging_at"].isna().all()
    assert maven.as_of == pd.Timestamp("2017-12-31", tz="UTC")


def test_funnel_of_an_opportunity_only_export(maven):
    assert int(maven.reached("prospecting").sum()) == 8800
    assert int(maven.reached("engaging").sum()) == 8800 - 500
    assert int(maven.reached("won").sum()) == 4238
    won_revenue = maven.opportunities.loc[maven.opportunities["is_won"], "amount"].sum()
    # independent check straight from the file
    raw = pd.read_csv(shared_path("maven_crm", "sales_pipeline.csv"))
    assert won_revenue == raw.loc[raw["deal_stage"] == "Won", "close_value"].sum()
