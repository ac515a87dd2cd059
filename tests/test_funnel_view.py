"""The funnel view is a declared contract: names, dtypes and units, checked when it is built."""

from __future__ import annotations

import pandas as pd
import pytest

import funnelkit as fk
from funnelkit import funnel


def test_sample_funnel_matches_its_declaration_column_by_column(data_dir):
    data = fk.load(data_dir / "salesforce_report", cache=False)
    declared = funnel.declared(data.stages)
    f = data.funnel
    present = [c for c in declared if c in f]
    assert present == [c for c in f.columns if c in declared]  # declared columns come in declared order
    assert {c: str(f[c].dtype) for c in present} == {c: declared[c].dtype for c in present}
    assert [c for c in declared if c not in f] == []  # this export has every optional column too
    # 6 leads, and no opportunity without a lead
    assert (len(f), int(f[funnel.ENTRY_INDEX].eq(0).sum())) == (6, 6)


def test_a_view_that_breaks_its_declaration_is_refused(data_dir):
    data = fk.load(data_dir / "salesforce_report", cache=False)
    broken = data.funnel.assign(amount=data.funnel["amount"].astype(str)).drop(columns="is_lost")
    with pytest.raises(fk.SchemaError) as err:
        funnel.check_funnel(broken, data.stages)
    assert "is_lost is missing" in str(err.value)
    assert "amount is str, declared float64" in str(err.value)


@pytest.mark.parametrize(
    ("column", "unit"),
    [("amount", "money"), ("won_at", "timestamp"), ("is_won", "flag"), ("skipped_stages", "count"),
     ("furthest_stage", "stage"), ("touches", "count"), ("industry", None)],
)  # fmt: skip
def test_units_are_declared(column, unit):
    found = funnel.unit_of(column)
    assert (None if found is None else str(found)) == unit


def test_hand_built_tables_with_object_ids_conform(data_dir):
    leads = pd.DataFrame({"lead_id": pd.Series(["a", "b"], dtype=object), "opportunity_id": [None, None],
                          "created_at": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True)})  # fmt: skip
    data = fk.Dataset(leads=leads, opportunities=pd.DataFrame())
    assert str(data.funnel["lead_id"].dtype) == "str"
    assert data.reached("lead").sum() == 2


@pytest.mark.parametrize("folder", ["salesforce_report", "salesforce_api", "hubspot", "pipedrive", "../../data/sample"])
def test_the_funnel_columns_are_named_without_building_the_view(data_dir, folder):
    data = fk.load(data_dir / folder, cache=False)
    named = data.funnel_columns
    assert "funnel" not in data.__dict__
    assert named == list(data.funnel.columns)
    assert fk.load(data_dir / folder, cache=False).with_as_of("2030-01-01").funnel_columns == named


def test_a_review_on_duckdb_never_builds_the_funnel_view_in_pandas(data_dir):
    # at 30M leads the pandas view alone would take some 14 GB; the review's facts come from DuckDB
    reviews = {}
    for engine in ("duckdb", "pandas"):
        data = fk.load(data_dir / "../../data/sample", cache=False)
        fk.set_engine(engine)
        try:
            reviews[engine] = fk.review(data, period="Q", by="source")
        finally:
            fk.set_engine(None)
        assert ("funnel" in data.__dict__) == (engine == "pandas")
    pd.testing.assert_frame_equal(reviews["duckdb"].headline, reviews["pandas"].headline)
