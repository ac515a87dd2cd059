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
