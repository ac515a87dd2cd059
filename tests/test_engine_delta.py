"""fk.connect over Delta Lake tables: their current version, never the files of rows a later version removed.

A Delta table is a folder of Parquet files and a transaction log that says
which of them make up each version. Until the table is vacuumed, the folder
keeps the files of rows that later versions deleted or replaced: read as a
folder of Parquet files, those rows would be counted again.
"""

from __future__ import annotations

import sys

import pyarrow.dataset as ds
import pytest
from engine_cases import CALLS, assert_same, call_id, in_memory, on_engine, random_data, write_delta

import funnelkit as fk
from funnelkit.engine.memory import arrow_table
from funnelkit.engine.parquet import canonical_tables

deltalake = pytest.importorskip("deltalake", reason="deltalake is not installed (pip install 'funnelkit[delta]')")

#: one call per metric and option kind: the engine's metrics are tested at length on Parquet; here the reading
DELTA_CALLS = [call for call in CALLS if call_id(call) in {
    "conversion(basis=period, by=source, period=Q)", "win_rate(by=source, period=Q, stall_days=60)",
    "lead_value(by=source)", "time_to_close(by=source)", "km_curve(by=source)",
}]  # fmt: skip


@pytest.fixture(scope="module")
def delta_pair(tmp_path_factory):
    data = random_data()
    return data, fk.connect(write_delta(data, tmp_path_factory.mktemp("delta")), as_of=data.as_of)


def test_the_calls_cover_every_headline_metric():
    metrics = {metric for metric, _ in DELTA_CALLS}
    assert metrics == {"conversion", "win_rate", "lead_value", "time_to_close", "km_curve"}


@pytest.mark.parametrize("call", DELTA_CALLS, ids=call_id)
def test_a_metric_over_delta_tables_equals_the_loaded_datasets(delta_pair, call):
    data, engine = delta_pair
    metric, options = call
    assert_same(in_memory(data, metric, options), on_engine(engine, metric, options))


def test_rows_a_later_version_replaced_or_deleted_are_not_counted(tmp_path):
    data = random_data()
    folder = write_delta(data, tmp_path)
    leads = arrow_table(canonical_tables(data)["leads"])
    kept = leads.slice(0, 200)  # version 1: the table overwritten with its first 200 leads
    deltalake.write_deltalake(folder / "leads", kept, mode="overwrite")
    table = deltalake.DeltaTable(folder / "leads")
    first_source = kept.column("source")[0].as_py()
    table.delete(f"source = '{first_source}'")  # version 2: one source's leads deleted
    expected = sum(1 for value in kept.column("source").to_pylist() if value != first_source)
    assert table.version() == 2
    # the trap: the folder still holds every version's files
    assert ds.dataset(folder / "leads", format="parquet").count_rows() > len(leads)
    engine = fk.connect(folder, as_of=data.as_of)
    funnel = engine.funnel
    assert int((funnel["entity"] == "lead").sum()) == expected
    assert first_source not in set(funnel.loc[funnel["entity"] == "lead", "source"])


def test_a_delta_table_named_in_tables_is_read_as_delta(delta_pair, tmp_path):
    data, engine = delta_pair
    write_delta(data, tmp_path)
    tables = {"leads": tmp_path / "leads", "opportunities": str(tmp_path / "opportunities")}  # a Path, a str
    named = fk.connect(tables, as_of=data.as_of)
    assert_same(fk.win_rate(engine, by="source"), fk.win_rate(named, by="source"))


def test_without_the_deltalake_package_it_says_how_to_get_it(tmp_path, monkeypatch):
    folder = write_delta(random_data(), tmp_path)
    monkeypatch.setitem(sys.modules, "deltalake", None)  # as if not installed: importing it fails
    with pytest.raises(fk.ParameterError, match=r"leads is a Delta Lake table; .*pip install 'funnelkit\[delta\]'"):
        fk.connect(folder)


def test_a_damaged_delta_table_names_the_table_and_why(tmp_path):
    folder = write_delta(random_data(), tmp_path)
    for log in (folder / "opportunities" / "_delta_log").iterdir():
        log.unlink()  # the log left empty: no version to read
    said = r"the opportunities table .*opportunities cannot be read as Delta Lake"
    with pytest.raises(fk.ParameterError, match=said):
        fk.connect(folder)
