"""funnelkit's funnel counts agree with an independent DuckDB SQL computation from the raw CSVs."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

import funnelkit as fk
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from duckdb_peer import peer_metrics  # noqa: E402
from headline import conversion_counts  # noqa: E402


@pytest.mark.parametrize("folder", ["salesforce_report"])
def test_conversion_counts_match_duckdb(data_dir, folder):
    data = fk.load(data_dir / folder, cache=False)
    peer = peer_metrics(data_dir / folder)["conversion"]
    ours = conversion_counts(data)
    pd.testing.assert_frame_equal(
        ours.sort_values(["source", "quarter"]).reset_index(drop=True),
        peer.astype({c: "int64" for c in peer.columns[2:]}).astype({"source": "str", "quarter": "str"}),
        check_dtype=False,
    )


def test_generated_export_matches_duckdb(tmp_path):
    sample = pytest.importorskip("funnelkit.sample")
    sample.write_sample(20_000, tmp_path, format="salesforce", seed=5)
    data = fk.load(tmp_path, cache=False)
    peer = peer_metrics(tmp_path)
    ours = conversion_counts(data).sort_values(["source", "quarter"]).reset_index(drop=True)
    theirs = peer["conversion"].astype({"source": "str", "quarter": "str"})
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
    opps = data.opportunities
    closed = opps[opps["is_closed"] & ~opps["closed_before_created"]]
    days = (closed["closed_at"] - closed["created_at"]).dt.total_seconds() / 86400
    assert days.median() == pytest.approx(peer["time_to_close"]["median_days"].iloc[0])
    won_by_source = data.funnel.assign(won_amount=data.funnel["amount"].where(data.funnel["is_won"], 0.0))
    value = won_by_source.groupby("source")["won_amount"].sum()
    assert value.to_dict() == pytest.approx(peer["lead_value"].set_index("source")["won_revenue"].to_dict())


def test_public_metrics_match_duckdb(tmp_path):
    """fk.conversion and fk.win_rate themselves, not just the funnel counts, agree with SQL."""
    sample = pytest.importorskip("funnelkit.sample")
    sample.write_sample(8_000, tmp_path, format="salesforce", seed=8)
    data = fk.load(tmp_path, cache=False)
    peer = peer_metrics(tmp_path)
    # lead -> mql cohorts by quarter of lead creation: entered = leads, converted = reached MQL
    ours = fk.conversion(data, from_stage="lead", to_stage="mql", by="source", period="Q")
    ours = ours.assign(quarter=ours["period"].str.replace(" ", "-"))[["source", "quarter", "entered", "converted"]]
    theirs = peer["conversion"].rename(columns={"leads": "entered", "mqls": "converted"})
    theirs = theirs.astype({"source": "str", "quarter": "str"})[["source", "quarter", "entered", "converted"]]
    pd.testing.assert_frame_equal(
        ours.sort_values(["source", "quarter"]).reset_index(drop=True),
        theirs.sort_values(["source", "quarter"]).reset_index(drop=True),
        check_dtype=False,
    )
    rates = fk.win_rate(data, period="Q")
    win = peer["win_rate"].assign(period=lambda t: t["quarter"].str.replace("-", " "))
    merged = rates.merge(win, on="period", suffixes=("", "_sql"))
    assert len(merged) == len(rates) == len(win)
    assert (merged["won"] == merged["won_sql"]).all() and (merged["lost"] == merged["lost_sql"]).all()
    assert merged["rate"].to_numpy() == pytest.approx(merged["rate_sql"].to_numpy())
