"""Generated exports load back to exactly the funnel that was generated."""

from __future__ import annotations

import pandas as pd
import pytest

import funnelkit as fk

sample = pytest.importorskip("funnelkit.sample")

STAGE_COLUMNS = ["leads", "mqls", "sqls", "opportunities", "won", "lost"]


@pytest.fixture(scope="module")
def truth():
    return sample.generate_sample(3000, seed=11)


def loaded_counts(data: fk.Dataset) -> pd.DataFrame:
    f = data.funnel
    counts = (
        pd.DataFrame(
            {
                "leads": data.reached("lead"),
                "mqls": data.reached("mql"),
                "sqls": data.reached("sql"),
                "opportunities": data.reached("opportunity"),
                "won": f["is_won"],
                "lost": f["is_lost"],
            }
        )
        .groupby(f["source"])
        .sum()
    )
    return counts.astype("int64")


@pytest.mark.parametrize("fmt", ["salesforce", "hubspot"])
def test_every_count_is_recovered(truth, tmp_path, fmt):
    sample.write_sample(truth, tmp_path, format=fmt)
    data = fk.load(tmp_path, cache=False)
    assert data.quarantine.empty
    assert data.summary.balanced
    expected = truth.counts_by_source()[STAGE_COLUMNS].astype("int64").sort_index()
    got = loaded_counts(data).sort_index()
    pd.testing.assert_frame_equal(got, expected, check_names=False)


def test_salesforce_and_hubspot_exports_agree(truth, tmp_path):
    sample.write_sample(truth, tmp_path / "sf", format="salesforce")
    sample.write_sample(truth, tmp_path / "hs", format="hubspot")
    sf = fk.load(tmp_path / "sf", cache=False)
    hs = fk.load(tmp_path / "hs", cache=False)
    pd.testing.assert_frame_equal(loaded_counts(sf), loaded_counts(hs))
    won = lambda d: d.opportunities.loc[d.opportunities["is_won"]].groupby("source")["amount"].sum()  # noqa: E731
    pd.testing.assert_series_equal(won(sf).round(2), won(hs).round(2))


def test_bundled_sample_loads_cleanly():
    from conftest import ROOT

    folder = ROOT / "data" / "sample"
    if not any(folder.glob("*.csv")):
        pytest.fail("data/sample holds no export; run `make sample`")
    data = fk.load(folder, cache=False)
    assert data.quarantine.empty and data.summary.balanced
    assert data.funnel["source"].nunique() >= 5
    assert int(data.funnel["is_won"].sum()) > 0 and int((~data.opportunities["is_closed"]).sum()) > 0
