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
