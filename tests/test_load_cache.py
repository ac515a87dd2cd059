"""The Parquet cache: an unchanged export is not parsed again, and gives the same tables."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

import funnelkit as fk
from funnelkit.errors import ParameterError
from funnelkit.load import _cache, _load


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


@pytest.mark.parametrize("export", ["salesforce_report", "salesforce_api", "hubspot", "pipedrive"])
def test_second_load_reads_the_assembled_dataset(data_dir, tmp_path, monkeypatch, export):
    first = fk.load(data_dir / export, cache_dir=tmp_path)

    def no_reading(*args, **kwargs):
        raise AssertionError("not served by the dataset entry")

    monkeypatch.setattr(_load, "read_table", no_reading)
    monkeypatch.setattr(_cache, "get", no_reading)  # not even the files' own entries
    second = fk.load(data_dir / export, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(first.leads, second.leads)
    pd.testing.assert_frame_equal(first.opportunities, second.opportunities)
    assert second.notes == first.notes and second.stages == first.stages


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


# ------------------------------------------------- cache correctness (#10) --

DEALS = (
    "id,title,value,currency,status,stage,add_time,stage_change_time,won_time,lost_time,close_time,lost_reason,"
    "owner_name,org_name\n"
    "1,Deal A,{a},EUR,won,Negotiations Started,2025-01-10 10:00:00,2025-02-01 09:00:00,2025-02-01 09:00:00,,"
    "2025-02-01 09:00:00,,Mia,Org A\n"
    "2,Deal B,{b},EUR,lost,Proposal Made,2025-01-12 10:00:00,2025-01-30 09:00:00,,2025-01-30 09:00:00,"
    "2025-01-30 09:00:00,Price,Mia,Org B\n"
    "3,Deal C,{c},EUR,won,Qualified,2025-02-12 10:00:00,2025-02-12 10:00:00,2025-03-01 09:00:00,,"
    "2025-03-01 09:00:00,,Lou,Org C\n"
)


def _deals(path, a=1000, b=2000, c=3000):
    """A three-deal Pipedrive export: deals 1 and 3 won (amounts a and c), deal 2 lost (amount b)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEALS.format(a=a, b=b, c=c))
    return path


def _won_revenue(data) -> float:
    opps = data.opportunities
    return float(opps.loc[opps["is_won"], "amount"].sum())


def _file_entry(cache, name):
    """The folder of the per-file entry of the export called ``name``."""
    for folder in cache.iterdir():
        if folder.is_dir() and not folder.name.startswith(("dataset-", ".tmp-")):
            meta = json.loads((folder / "meta.json").read_text())
            if Path(meta["path"]).name == name:
                return folder
    raise AssertionError(f"no cache entry for {name}")


def _dataset_entries(cache):
    return sorted(cache.glob("dataset-*"))


def _forbid_parsing(monkeypatch):
    def no_parsing(*args, **kwargs):
        raise AssertionError("the export was parsed again")

    monkeypatch.setattr(_load, "read_table", no_parsing)


def test_in_place_edit_with_mtime_restored_is_parsed_again(tmp_path):
    path = _deals(tmp_path / "deals.csv")
    cache = tmp_path / "cache"
    assert _won_revenue(fk.load(path, cache_dir=cache)) == 4000.0  # deals 1 and 3: 1,000 + 3,000
    before = path.stat()
    _deals(path, a=9000)  # one digit changed: same byte size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # what `touch -r` does
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    edited = fk.load(path, cache_dir=cache)
    assert edited.opportunities.set_index("opportunity_id").loc["1", "amount"] == 9000.0
    assert _won_revenue(edited) == 12000.0  # 9,000 + 3,000


def test_digest_reads_small_files_whole_and_the_ends_of_big_ones(tmp_path):
    small_a, small_b = tmp_path / "a.csv", tmp_path / "b.csv"
    small_a.write_bytes(b"x" * 1000 + b"1" + b"x" * 1000)
    small_b.write_bytes(b"x" * 1000 + b"2" + b"x" * 1000)  # same size, one byte in the middle differs
    assert _cache.content_digest(small_a, 2001) != _cache.content_digest(small_b, 2001)
    size = _cache.WHOLE_FILE_BYTES + 10
    big = bytearray(b"y" * size)
    (tmp_path / "big.csv").write_bytes(big)
    big[-1:] = b"z"  # the last byte
    (tmp_path / "big_end.csv").write_bytes(big)
    big[-1:], big[size // 2] = b"y", ord("z")  # a byte in the middle, outside both 1 MiB ends
    (tmp_path / "big_middle.csv").write_bytes(big)
    names = ("big.csv", "big_end.csv", "big_middle.csv")
    digest = {name: _cache.content_digest(tmp_path / name, size) for name in names}
    assert digest["big.csv"] != digest["big_end.csv"]
    # the middle of a big file is not read (the ctime in the key catches such an edit)
    assert digest["big.csv"] == digest["big_middle.csv"]


def _damage_file_entry(folder, how, other):
    if how == "meta []":
        (folder / "meta.json").write_text("[]")
    elif how == "meta {}":
        (folder / "meta.json").write_text("{}")
    elif how == "meta wrong types":
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps(meta | {"summary": [1, 2], "notes": "text"}))
    elif how == "frame garbage":
        (folder / "frame.parquet").write_bytes(b"PAR1 not a parquet file at all")
    elif how == "frame of another entry":
        shutil.copyfile(other / "frame.parquet", folder / "frame.parquet")  # same columns, same row count
    elif how == "frame missing":
        (folder / "frame.parquet").unlink()


@pytest.mark.parametrize(
    "how", ["meta []", "meta {}", "meta wrong types", "frame garbage", "frame of another entry", "frame missing"]
)
def test_damaged_file_entry_is_parsed_again_and_rewritten(tmp_path, monkeypatch, how):
    a = _deals(tmp_path / "a" / "deals_a.csv")
    b = _deals(tmp_path / "b" / "deals_b.csv", a=1500, b=2500, c=3500)
    cache = tmp_path / "cache"
    fk.load(a, cache_dir=cache)
    fk.load(b, cache_dir=cache)
    for folder in _dataset_entries(cache):  # so the load goes through the per-file entry
        shutil.rmtree(folder)
    _damage_file_entry(_file_entry(cache, "deals_a.csv"), how, _file_entry(cache, "deals_b.csv"))

    again = fk.load(a, cache_dir=cache)
    fresh = fk.load(a, cache=False)
    pd.testing.assert_frame_equal(again.opportunities, fresh.opportunities)
    assert _won_revenue(again) == 4000.0  # A's deals, not B's 5,000
    assert again.summary.table["rows_kept"].tolist() == [3]

    for folder in _dataset_entries(cache):
        shutil.rmtree(folder)
    _forbid_parsing(monkeypatch)  # the rewritten entry is read, not the file
    third = fk.load(a, cache_dir=cache)
    pd.testing.assert_frame_equal(third.opportunities, fresh.opportunities)
    assert json.loads((_file_entry(cache, "deals_a.csv") / "meta.json").read_text())["format"] == _cache.FORMAT


@pytest.mark.parametrize("how", ["meta []", "meta {}", "meta no stages", "table garbage", "table of another entry"])
def test_damaged_dataset_entry_is_assembled_again_and_rewritten(tmp_path, monkeypatch, how):
    a = _deals(tmp_path / "a" / "deals_a.csv")
    b = _deals(tmp_path / "b" / "deals_b.csv", a=1500, b=2500, c=3500)
    cache = tmp_path / "cache"
    fk.load(b, cache_dir=cache)
    (other,) = _dataset_entries(cache)
    fk.load(a, cache_dir=cache)
    (entry,) = [folder for folder in _dataset_entries(cache) if folder != other]
    if how == "meta []":
        (entry / "meta.json").write_text("[]")
    elif how == "meta {}":
        (entry / "meta.json").write_text("{}")
    elif how == "meta no stages":
        meta = json.loads((entry / "meta.json").read_text())
        del meta["stages"]
        (entry / "meta.json").write_text(json.dumps(meta))
    elif how == "table garbage":
        (entry / "opportunities.parquet").write_bytes(b"garbage")
    else:
        shutil.copyfile(other / "opportunities.parquet", entry / "opportunities.parquet")

    again = fk.load(a, cache_dir=cache)
    fresh = fk.load(a, cache=False)
    pd.testing.assert_frame_equal(again.opportunities, fresh.opportunities)
    pd.testing.assert_frame_equal(again.summary.table, fresh.summary.table)
    assert _won_revenue(again) == 4000.0
    assert int(again.opportunities["is_won"].sum()) == 2

    _forbid_parsing(monkeypatch)
    monkeypatch.setattr(_cache, "get", lambda *args, **kwargs: pytest.fail("read a file entry, not the dataset"))
    third = fk.load(a, cache_dir=cache)  # the rewritten dataset entry
    pd.testing.assert_frame_equal(third.opportunities, fresh.opportunities)


def test_least_recently_used_entries_are_evicted_under_the_cap(tmp_path, monkeypatch):
    files = [_deals(tmp_path / f"v{i}" / f"deals_{i}.csv", a=1000 + i) for i in range(3)]
    scratch = tmp_path / "scratch"
    fk.load(files[0], cache_dir=scratch)
    one_load = _cache.cache_bytes(scratch)  # a file entry and a dataset entry
    cap = int(one_load * 2.2)
    monkeypatch.setenv(_cache.MAX_BYTES_ENV, str(cap))
    cache = tmp_path / "cache"

    fk.load(files[0], cache_dir=cache)
    fk.load(files[1], cache_dir=cache)
    assert len(list(cache.iterdir())) == 4  # two loads fit under the cap
    assert fk.load(files[0], cache_dir=cache).opportunities["amount"].iloc[0] == 1000.0  # a hit: v0 used again
    fk.load(files[2], cache_dir=cache)  # a third load does not fit: v1, used longest ago, goes

    assert _cache.cache_bytes(cache) <= cap
    remaining = {json.loads((f / "meta.json").read_text()).get("path", "dataset") for f in cache.iterdir()}
    assert {Path(p).name for p in remaining if p != "dataset"} == {"deals_0.csv", "deals_2.csv"}
    assert len(_dataset_entries(cache)) == 2
    _forbid_parsing(monkeypatch)
    assert fk.load(files[0], cache_dir=cache).opportunities["amount"].iloc[0] == 1000.0  # still cached
    assert fk.load(files[2], cache_dir=cache).opportunities["amount"].iloc[0] == 1002.0


def test_cap_never_evicts_the_entry_just_written(tmp_path, monkeypatch):
    monkeypatch.setenv(_cache.MAX_BYTES_ENV, "0")
    cache = tmp_path / "cache"
    fk.load(_deals(tmp_path / "deals.csv"), cache_dir=cache)
    assert [f.name.startswith("dataset-") for f in cache.iterdir()] == [True]  # the file entry went


def test_stale_unfinished_writes_are_removed_and_nothing_else(tmp_path):
    cache = tmp_path / "cache"
    stale, fresh, mine = cache / ".tmp-stale", cache / ".tmp-fresh", cache / "my-notes"
    for folder in (stale, fresh, mine):
        folder.mkdir(parents=True)
    (cache / "readme.txt").write_text("not the cache's")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(mine, (two_hours_ago, two_hours_ago))
    fk.load(_deals(tmp_path / "deals.csv"), cache_dir=cache)
    assert not stale.exists()
    assert fresh.exists() and mine.exists() and (cache / "readme.txt").exists()


def test_cap_from_the_environment_must_be_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv(_cache.MAX_BYTES_ENV, "2GB")
    with pytest.raises(ParameterError, match="FUNNELKIT_CACHE_MAX_BYTES.*'2GB'"):
        fk.load(_deals(tmp_path / "deals.csv"), cache_dir=tmp_path / "cache")


def test_a_changed_parsing_rule_is_a_miss(tmp_path, monkeypatch):
    path = tmp_path / "deals.csv"
    path.write_text("id,status,add_time\n1,open,2025-04-03 10:00\n")
    cache = tmp_path / "cache"
    fk.load(path, source="pipedrive", cache_dir=cache)
    file_entries = lambda: [p for p in cache.iterdir() if len(p.name) == 32]  # noqa: E731 - not "dataset-..."
    assert len(file_entries()) == 1
    # a new release of the loader (another digest of its code) must not be served the old entry
    from funnelkit.load import _cache

    monkeypatch.setattr(_cache, "reader_digest", lambda: "another-loader")
    fk.load(path, source="pipedrive", cache_dir=cache)
    assert len(file_entries()) == 2
