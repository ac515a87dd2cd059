"""The Parquet cache: an unchanged export is not parsed again, and gives the same tables."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import funnelkit as fk
from funnelkit.load import _load


def test_second_load_reads_the_cache(data_dir, tmp_path, monkeypatch):
    first = fk.load(data_dir / "salesforce_report", cache_dir=tmp_path)

    def no_parsing(*args, **kwargs):
        raise AssertionError("the export was parsed again")

    monkeypatch.setattr(_load, "read_table", no_parsing)
    second = fk.load(data_dir / "salesforce_report", cache_dir=tmp_path)
    pd.testing.assert_frame_equal(first.leads, second.leads)
    pd.testing.assert_frame_equal(first.opportunities, second.opportunities)
    pd.testing.assert_frame_equal(first.events, second.events)
    pd.testing.assert_frame_equal(first.summary.table, second.summary.table)


def test_changed_file_is_parsed_again(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text("id,status,add_time\n1,open,2025-01-01\n")
    cache = tmp_path / "cache"
    assert len(fk.load(path, source="pipedrive", cache_dir=cache).opportunities) == 1
    path.write_text("id,status,add_time\n1,open,2025-01-01\n2,won,2025-01-02\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert len(fk.load(path, source="pipedrive", cache_dir=cache).opportunities) == 2


def test_cache_false_writes_nothing(data_dir, tmp_path):
    fk.load(data_dir / "pipedrive", cache=False, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("option", [{"date_order": "dmy"}, {"tz": "Europe/Paris"}])
def test_options_are_part_of_the_key(tmp_path, option):
    path = tmp_path / "deals.csv"
    path.write_text("id,status,add_time\n1,open,03/04/2025 10:00\n")
    cache = tmp_path / "cache"
    base = fk.load(path, source="pipedrive", date_order="mdy", cache_dir=cache)
    other = fk.load(path, source="pipedrive", cache_dir=cache, **({"date_order": "mdy"} | option))
    assert base.opportunities["created_at"].iloc[0] != other.opportunities["created_at"].iloc[0]


def test_cached_dataset_takes_the_as_of_of_each_call(data_dir, tmp_path):
    explicit = fk.load(data_dir / "salesforce_report", cache_dir=tmp_path, as_of="2025-06-30")
    assert explicit.as_of == pd.Timestamp("2025-06-30", tz="UTC")
    default = fk.load(data_dir / "salesforce_report", cache_dir=tmp_path)
    assert default.as_of == pd.Timestamp("2025-03-20", tz="UTC")  # the data's latest moment again
    assert fk.load(data_dir / "salesforce_report", cache_dir=tmp_path).quarantine.equals(default.quarantine)
