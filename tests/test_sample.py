"""The sample generator: deterministic, consistent, and true to its parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnelkit.sample import SOURCES, generate_sample, write_sample


@pytest.fixture(scope="module")
def big():
    return generate_sample(60_000, seed=42)


def test_same_seed_same_sample():
    a, b = generate_sample(500, seed=3), generate_sample(500, seed=3)
    pd.testing.assert_frame_equal(a.leads, b.leads)
    pd.testing.assert_frame_equal(a.opportunities, b.opportunities)
    assert not generate_sample(500, seed=4).leads.equals(a.leads)


def test_counts_by_source_match_an_independent_count(big):
    leads, opps = big.leads, big.opportunities
    counts = big.counts_by_source()
    assert counts["leads"].sum() == len(leads)
    assert counts["opportunities"].sum() == len(opps)
    assert counts["won"].sum() == int(opps["is_won"].sum())
    assert counts["lost"].sum() == int((opps["is_closed"] & ~opps["is_won"]).sum())
    assert counts["open"].sum() == int((~opps["is_closed"]).sum())
    converted = leads["opportunity_id"].notna()
    assert counts["sqls"].sum() == int((leads["sql_at"].notna() | converted).sum())


def test_nothing_happens_after_as_of(big):
    stamps = pd.concat(
        [big.leads[c] for c in ("created_at", "mql_at", "sql_at", "converted_at", "first_touch_at")]
        + [big.opportunities["closed_at"]]
    )
    assert stamps.max() <= big.as_of
    assert big.opportunities.loc[~big.opportunities["is_closed"], "closed_at"].isna().all()


def test_every_opportunity_has_exactly_one_lead(big):
    opps, leads = big.opportunities, big.leads
    assert opps["opportunity_id"].is_unique
    linked = leads.dropna(subset=["opportunity_id"]).set_index("opportunity_id")["lead_id"]
    assert (opps.set_index("opportunity_id")["lead_id"] == linked.loc[opps["opportunity_id"]]).all()


def test_stage_dates_are_in_order(big):
    leads = big.leads
    for later, earlier in (
        ("mql_at", "created_at"),
        ("sql_at", "mql_at"),
        ("converted_at", "sql_at"),
    ):
        both = leads[later].notna() & leads[earlier].notna()
        assert both.sum() > 1000
        assert (leads.loc[both, later] >= leads.loc[both, earlier]).all(), later


def test_true_rates_are_recovered(big):
    leads = big.leads
    for profile in SOURCES:
        group = leads[leads["source"] == profile.name]
        mql_rate = group["mql_at"].notna().mean()
        # matured leads only: the newest have had no time to qualify
        assert abs(mql_rate - profile.lead_to_mql) < 0.04, profile.name


def test_the_planted_drift_is_there_and_the_flat_source_is_flat(big):
    leads = big.leads
    mql = leads[leads["mql_at"].notna() & (leads["created_at"] < big.as_of - pd.Timedelta(days=60))]
    quarter = mql["created_at"].dt.year * 10 + mql["created_at"].dt.quarter
    sql = mql["sql_at"].notna() | mql["opportunity_id"].notna()
    rate = sql.groupby([mql["source"], quarter]).mean()
    social, referrals = rate["Paid Social"], rate["Referrals"]
    assert social.iloc[0] == pytest.approx(0.35, abs=0.06)
    assert social.iloc[-1] == pytest.approx(0.35 - 0.2 * 6 / 7, abs=0.06)  # 7 quarters in, of 7
    assert abs(referrals.iloc[0] - referrals.iloc[-1]) < 0.1


def test_salesforce_export_layout(tmp_path):
    truth = generate_sample(300, seed=1)
    write_sample(truth, tmp_path, format="salesforce")
    raw = (tmp_path / "leads.csv").read_bytes().decode("utf-8")
    lines = raw.split("\n")
    assert lines[0].startswith('"Lead ID","First Name","Last Name","Company","Email","Lead Source"')
    assert f'"Grand Totals ({len(truth.leads)} records)"' in lines
    assert '"Confidential Information - Do Not Distribute"' in lines
    assert not raw.startswith("\ufeff")
    opp_line = (tmp_path / "opportunities.csv").read_text().split("\n")[1]
    assert '"USD ' in opp_line


def test_hubspot_export_layout(tmp_path):
    truth = generate_sample(300, seed=1)
    write_sample(truth, tmp_path, format="hubspot")
    contacts = (tmp_path / "contacts.csv").read_bytes()
    assert contacts.startswith(b"\xef\xbb\xbf")
    header = contacts[3:].split(b"\n", 1)[0].decode()
    assert '"Became a Marketing Qualified Lead Date"' in header and '"Associated Deal"' in header
    deals_header = (tmp_path / "deals.csv").read_bytes()[3:].split(b"\n", 1)[0].decode()
    assert '"Date entered ""Closed Won (Sales Pipeline)"""' in deals_header


def test_no_python_loop_per_lead_scales(tmp_path):
    # 100k leads in one go: a per-row loop would show as a timeout in CI, not here
    truth = generate_sample(100_000, seed=9)
    assert len(truth.leads) == 100_000
    assert np.isfinite(truth.opportunities["amount"]).all()
