"""Large CSV exports: memory-mapped, their text set aside on disk, every result as the in-memory read.

The size threshold (``SPILL_BYTES``) is set to zero here so the small files of
``tests/data`` take the large-file path, and the scan window to a few bytes so
the quote parity, the open record and the line count are carried across
windows many times per file. ``benchmarks/big.py`` writes the 30M-lead export
the README's memory figures come from.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import funnelkit as fk
from funnelkit.errors import FunnelkitError, InputFileError
from funnelkit.load import _read
from funnelkit.load._read import read_table

DATA = Path(__file__).parent / "data"


@pytest.fixture
def large(monkeypatch, tmp_path):
    """Every plain CSV read as a large one; the scan window 7 bytes; the text set aside under ``tmp_path``."""
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    monkeypatch.setattr(_read, "SPILL_BYTES", 0)
    monkeypatch.setattr(_read, "SCAN_WINDOW_BYTES", 7)
    monkeypatch.setattr(_read, "SPILL_BLOCK_BYTES", 64 * 1024)
    monkeypatch.setattr(tempfile, "tempdir", str(spill_dir))
    set_aside = []
    original = _read._set_aside
    monkeypatch.setattr(_read, "_set_aside", lambda reader: set_aside.append(1) or original(reader))
    return spill_dir, set_aside


def _read_outcome(path: Path):
    """What reading ``path`` gives: the raw table's parts, or the error's message."""
    try:
        table = read_table(path)
    except FunnelkitError as exc:
        return f"{type(exc).__name__}: {exc}"
    return {
        "frame": table.frame,
        "lines": np.asarray(table.lines),
        "rejected": table.rejected,
        "footer": (table.footer_lines, table.footer_total),
        "encoding": (table.encoding, table.delimiter),
        "notes": table.notes,
    }


def _text_files() -> list[Path]:
    return sorted(p for p in DATA.rglob("*") if p.suffix.lower() in _read.TEXT_SUFFIXES)


@pytest.mark.parametrize("path", _text_files(), ids=lambda p: str(p.relative_to(DATA)))
def test_every_test_export_reads_the_same_as_a_large_file(path, request):
    in_memory = _read_outcome(path)
    spill_dir, set_aside = request.getfixturevalue("large")
    as_large = _read_outcome(path)
    if isinstance(in_memory, str):
        assert as_large == in_memory
        return
    pd.testing.assert_frame_equal(as_large["frame"], in_memory["frame"])
    assert np.array_equal(as_large["lines"], in_memory["lines"])
    pd.testing.assert_frame_equal(as_large["rejected"], in_memory["rejected"])
    for part in ("footer", "encoding", "notes"):
        assert as_large[part] == in_memory[part], part
    # UTF-8 files were set aside (a Windows-1252 or UTF-16 file is read in memory); nothing is left behind
    assert len(set_aside) == (in_memory["encoding"][0] in ("utf-8", "utf-8-sig"))
    assert list(spill_dir.iterdir()) == []


def test_a_large_file_keeps_lines_rejects_and_footer_worked_by_hand(tmp_path, large):
    path = tmp_path / "leads.csv"
    path.write_bytes(
        b'\xef\xbb\xbf"Lead ID","Lead Source","Note"\r\n'  # line 1, with a byte-order mark
        b'"L1","Web","two\r\nlines"\r\n'  # lines 2-3: one record
        b'"L2","Event"\r\n'  # line 4: two fields of three
        b'"L3","Web","say ""hi"", then go"\r\n'  # line 5
        b"\r\n"  # line 6: blank
        b'"Grand Totals (3 records)"\r\n'
    )
    table = read_table(path)
    assert table.frame["Lead ID"].tolist() == ["L1", "L3"]
    assert table.frame["Note"].tolist() == ["two\r\nlines", 'say "hi", then go']
    assert table.lines.tolist() == [2, 5]
    assert table.rejected[["line", "reason", "detail"]].values.tolist() == [
        [4, "ragged_row", "2 fields where the header has 3"]
    ]
    assert (table.footer_lines, table.footer_total, table.encoding) == (1, 3, "utf-8-sig")
    assert large[1] == [1]


def test_a_loaded_large_export_equals_the_in_memory_load(request):
    folder = DATA / "salesforce_report"
    in_memory = fk.load(folder, cache=False)
    request.getfixturevalue("large")
    as_large = fk.load(folder, cache=False)
    pd.testing.assert_frame_equal(as_large.leads, in_memory.leads)
    pd.testing.assert_frame_equal(as_large.opportunities, in_memory.opportunities)
    pd.testing.assert_frame_equal(as_large.quarantine, in_memory.quarantine)
    assert as_large.notes == in_memory.notes
    assert as_large.summary.table.equals(in_memory.summary.table)
    assert len(as_large.leads) == 6  # the six "00Q..." rows of leads.csv
    pd.testing.assert_frame_equal(fk.win_rate(as_large, by="source"), fk.win_rate(in_memory, by="source"))


def test_a_bad_value_in_a_large_file_is_quarantined_at_its_line(tmp_path, large):
    path = tmp_path / "leads.csv"
    rows = [f'"L{i}","Web","01/0{1 + i % 9}/2024 10:00 AM"' for i in range(1, 40)]
    rows[29] = '"L30","Web","not a date"'
    path.write_text('"Lead ID","Lead Source","Create Date"\n' + "\n".join(rows) + "\n", encoding="utf-8")
    data = fk.load(path, source="salesforce_report", date_order="mdy", cache=False)
    bad = data.quarantine
    assert bad[["line", "column", "value"]].values.tolist() == [[31, "Create Date", "not a date"]]
    assert (len(data.leads), int(data.summary.table["rows_read"].iloc[0])) == (38, 39)


def test_no_room_to_set_the_text_aside_is_an_error_naming_the_folder(tmp_path, large, monkeypatch):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    path = tmp_path / "leads.csv"
    path.write_text('"Lead ID","Lead Source"\n"L1","Web"\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=f"could not be set aside in {missing}.*TMPDIR"):
        read_table(path)


def test_records_spanning_arrow_blocks_read_the_same(tmp_path, monkeypatch):
    # 2,000 records with quoted newlines and doubled quotes, read in 4 KiB blocks: hundreds of block edges
    notes = [f'"line one of {i}\nline ""two""\r\nthree"' for i in range(2000)]
    rows = [f'"L{i}","{"Web" if i % 3 else "Event"}",{note}' for i, note in enumerate(notes)]
    path = tmp_path / "leads.csv"
    path.write_text('"Lead ID","Lead Source","Note"\n' + "\n".join(rows) + "\n", encoding="utf-8")
    in_memory = read_table(path)
    monkeypatch.setattr(_read, "SPILL_BYTES", 0)
    monkeypatch.setattr(_read, "SCAN_WINDOW_BYTES", 1000)
    monkeypatch.setattr(_read, "SPILL_BLOCK_BYTES", 4096)
    as_large = read_table(path)
    pd.testing.assert_frame_equal(as_large.frame, in_memory.frame)
    assert as_large.frame["Note"].iloc[1999] == 'line one of 1999\nline "two"\r\nthree'
    # each record takes three physical lines: record i starts on line 2 + 3 * i
    assert as_large.lines.tolist() == in_memory.lines.tolist() == list(range(2, 6002, 3))


@pytest.mark.parametrize("spill", [False, True])
def test_a_crlf_in_a_note_on_arrow_s_block_edge_is_kept(tmp_path, monkeypatch, spill):
    # apache/arrow#51368: a quoted CRLF whose CR ends one input block lost its LF, silently
    header = '"Lead ID","Note"\n'
    block = _read.SPILL_BLOCK_BYTES if spill else _read.ARROW_BLOCK_BYTES
    if spill:
        monkeypatch.setattr(_read, "SPILL_BYTES", 0)
        monkeypatch.setattr(_read, "SPILL_BLOCK_BYTES", block := 64 * 1024)
    padding = "x" * (block - 1 - len(header) - len('"L1","'))  # the CR is the block's last byte
    path = tmp_path / "leads.csv"
    path.write_bytes(f'{header}"L1","{padding}\r\nafter"\n"L2","plain"\n'.encode())
    assert path.read_bytes()[block - 1 : block + 1] == b"\r\n"
    frame = read_table(path).frame
    assert frame["Note"].str.len().tolist() == [len(padding) + 7, 5]
    assert frame["Note"].iloc[0].endswith("x\r\nafter")


def test_a_record_longer_than_the_block_is_read_again_with_a_larger_block(tmp_path, large):
    # the fixture's block is 64 KiB; one note of 200 KB cannot fit in it
    path = tmp_path / "leads.csv"
    long_note = "n" * 200_000
    path.write_text(f'"Lead ID","Note"\n"L1","short"\n"L2","{long_note}"\n"L3","end"\n', encoding="utf-8")
    table = read_table(path)
    assert table.frame["Note"].str.len().tolist() == [5, 200_000, 3]
    assert table.lines.tolist() == [2, 3, 4]
