"""Read one export file into a table of raw text, keeping every row accounted for.

A :class:`RawTable` holds the export's cells as text (nothing parsed yet), the
physical line of every row, and what was set aside before parsing: report
footer lines, rows with the wrong number of fields, repeated header rows.
pandas' own CSV reader would pad short rows, drop bad ones with
``on_bad_lines="skip"`` or guess encodings; here each of those is either an
error naming the file or a quarantined row.

What is read
------------
Only regular files: a FIFO, a device (``/dev/zero``) or a socket is refused
before it is opened (opening a FIFO blocks, a device never ends). CSV, TSV and
TXT exports; ``.xlsx``/``.xlsm`` workbooks (first sheet); and a ``.zip`` (or
``.csv.zip``) holding exactly one CSV/TSV/TXT file, read as that file (its
line numbers are the member's; the file named in the quarantine is the zip).
A zip whose parts are a workbook is read as a workbook whatever its name.

Limits
------
Each limit is a module constant; going past one is an
:class:`~funnelkit.InputFileError` naming the file and the limit, raised
before the bulk of the file is parsed.

``MAX_COLUMNS`` (5,000)
    Columns in a CSV header or a sheet (declared ``<dimension>`` or as read).
    Real CRM exports stay well below (a full Salesforce report: a few hundred).
``MAX_HEADER_BYTES`` (8 MiB)
    Length of a CSV header row (5,000 column names of 1,600 characters).
``MAX_SHEET_ROWS`` (1,048,576, Excel's own maximum) and ``MAX_SHEET_CELLS``
(2,000,000 cells, e.g. 40,000 rows x 50 columns)
    Checked on the declared dimension, on a count of the sheet's cells in its
    raw XML, and again while reading. openpyxl reads some 60,000 cells a
    second here, so the cell limit bounds a workbook to about half a minute
    and some 600 MB; a larger sheet should be exported as CSV, which has no
    such limit and reads many times faster.
``MAX_XLSX_PART_BYTES`` (1 GiB)
    Uncompressed size of any part of a workbook (sheet XML, shared strings).
``MAX_UNZIPPED_BYTES`` (20 GiB), ``MAX_ZIP_RATIO`` (100) above ``ZIP_RATIO_FLOOR`` (1 GiB)
    A CSV inside a zip: its declared uncompressed size, and the ratio that
    marks a zip bomb once the member is past the floor. A workbook part past
    the floor of 64 MiB with a ratio over 100 is refused the same way.

Large files
-----------
A plain UTF-8 CSV of ``SPILL_BYTES`` (1 GiB) or more is never read into
memory: the file is memory-mapped, and its cells, parsed by Arrow's streaming
reader, are set aside in an Arrow file in the temporary folder (``TMPDIR``)
that is memory-mapped in turn and deleted at once (the mapping keeps it until
the dataset is dropped). The text table pandas sees points into that mapping,
so the pages behind it belong to the operating system's file cache, not to
the process: a 7 GB export loads on a machine with less free memory than the
file and its text take together. Scans over the bytes (quote parity, record
ends, line numbers) go ``SCAN_WINDOW_BYTES`` at a time. Every check and
result is the one of the in-memory read; a large file that is not UTF-8
(Windows-1252) is read in memory as before.

Excel numbers
-------------
Cells keep the text Excel shows where it matters for ids: a number with a
zero-padded format (``00000``) keeps its leading zeros ("01234"). A number of
16 digits or more cannot be an exact id (Excel keeps 15 significant digits):
its row is quarantined (``excel_lost_digits``) and a note names the column.
"""

from __future__ import annotations

import atexit
import csv
import io
import mmap
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import FunnelkitError, InputFileError, Reason, SchemaError
from ..scratch import scratch_file

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
ZIP_SUFFIXES = {".zip"}
DELIMITERS = (",", ";", "\t", "|")

MIB, GIB = 2**20, 2**30
MAX_COLUMNS = 5_000
MAX_HEADER_BYTES = 8 * MIB
MAX_SHEET_ROWS = 1_048_576
MAX_SHEET_CELLS = 2_000_000
MAX_XLSX_PART_BYTES = 1 * GIB
XLSX_RATIO_FLOOR = 64 * MIB
MAX_UNZIPPED_BYTES = 20 * GIB
MAX_ZIP_RATIO = 100
ZIP_RATIO_FLOOR = 1 * GIB
#: Excel keeps 15 significant digits: a number from 10**15 up may have lost its last ones.
EXCEL_EXACT_DIGITS = 15
#: Bytes of sheet XML counted at a time when checking the cell limit.
SCAN_CHUNK_BYTES = 8 * MIB
#: A plain UTF-8 CSV from this size up is memory-mapped and its text set aside on disk (see "Large files").
SPILL_BYTES = 1 * GIB
#: Bytes of a CSV scanned at a time for quotes, record ends and delimiters.
SCAN_WINDOW_BYTES = 256 * MIB
#: Arrow's own default block: the reader's unit of input
ARROW_BLOCK_BYTES = 1 * MIB
#: Arrow's block when the text is set aside: a 7 GB file in some hundred chunks, not thousands.
SPILL_BLOCK_BYTES = 64 * MIB

#: Lines a Salesforce report writes under its data ("Grand Totals (12 records)", ...).
FOOTER_PATTERNS = re.compile(
    r"""^\s*"?\s*(
        grand\s+totals?\s*\(\s*[\d,.\s]+\s*records?\s*\)
      | total\s*\(\s*[\d,.\s]+\s*records?\s*\)
      | copyright\s*(\(c\)|©)?\s*\d{4}
      | confidential\s+information
      | generated\s+by\s*:
    )""",
    re.IGNORECASE | re.VERBOSE,
)
GRAND_TOTAL = re.compile(r"grand\s+totals?\s*\(\s*([\d,.\s]+?)\s*records?\s*\)", re.IGNORECASE)


@dataclass
class RawTable:
    """The cells of one export as text, and the accounting of its rows.

    Attributes
    ----------
    file : Path
    frame : pandas.DataFrame
        One row per data row kept for parsing; every cell a ``str`` as written
        in the file, surrounding spaces included (empty cells are ``""``),
        columns as in the export's header.
    lines : numpy.ndarray
        Physical line (CSV) or row number (Excel) of each row of ``frame``.
    rejected : pandas.DataFrame
        Rows set aside before parsing, in the quarantine's shape
        (``file, line, column, value, reason, detail``).
    footer_lines : int
        Report footer lines recognised (not counted as rows).
    footer_total : int or None
        The row count the report footer states ("Grand Totals (N records)").
    """

    file: Path
    frame: pd.DataFrame
    lines_: np.ndarray | None
    rejected: pd.DataFrame
    footer_lines: int = 0
    footer_total: int | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    notes: list[str] = field(default_factory=list)
    line_source: object = None

    @property
    def lines(self) -> np.ndarray:
        if self.lines_ is None:
            self.lines_ = self.line_source()
        return self.lines_

    @lines.setter
    def lines(self, value: np.ndarray) -> None:
        self.lines_ = value

    @property
    def headers(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.rejected)


def read_table(path: Path, *, header_hint=None) -> RawTable:
    """Read a CSV/TSV, Excel or zipped CSV export as text. Raises :class:`InputFileError`."""
    check_regular_file(path)
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputFileError(f"{path}: old-style .xls workbooks are not supported; save it as .xlsx or CSV")
    if suffix in EXCEL_SUFFIXES or (zipfile.is_zipfile(path) and _is_workbook(path)):
        return _read_excel(path, header_hint=header_hint)
    return _read_csv(path)


def check_regular_file(path: Path) -> None:
    """Refuse anything but a regular file before it is opened.

    Opening a FIFO blocks until something writes to it, and a device such as
    ``/dev/zero`` never ends: neither is an export.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: the file cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a folder"
            if stat.S_ISDIR(mode)
            else "not a file"
        )
        raise InputFileError(f"{path}: is not a regular file ({kind}); pass the export file itself")


# ---------------------------------------------------------------- zip --


def _size(n: int) -> str:
    """A byte count as people read it: "20 GiB", "3.5 MiB", "900 bytes"."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{n:,} bytes"


def _is_workbook(path: Path) -> bool:
    """A zip whose parts are those of an Excel workbook."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)


def _file_bytes(path: Path) -> tuple[bytes, str, str]:
    """The bytes of a text export: ``(bytes, label for messages, member name or "")``.

    A zip that is not a workbook is read as the one CSV/TSV/TXT file it holds.
    """
    with path.open("rb") as handle:
        start = handle.read(4)
    if start != b"PK\x03\x04" and path.suffix.lower() not in ZIP_SUFFIXES:
        return path.read_bytes(), str(path), ""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        if path.suffix.lower() in ZIP_SUFFIXES:
            raise InputFileError(f"{path}: the zip file is damaged or incomplete; download it again") from None
        return path.read_bytes(), str(path), ""  # the text checks name it as not a text export
    with archive:
        member = _zip_member(path, archive)
        label = f"{path}!{member.filename}"
        _check_unzipped_size(label, member)
        try:
            with archive.open(member) as stream:
                # zipfile stops at the declared size, which was checked above
                data = stream.read()
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
            raise InputFileError(f"{label}: the zipped file cannot be extracted ({exc})") from None
    return data, label, member.filename


def _zip_member(path: Path, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [
        m
        for m in archive.infolist()
        if not m.is_dir() and not m.filename.startswith("__MACOSX/") and not Path(m.filename).name.startswith(".")
    ]
    texts = [m for m in members if Path(m.filename).suffix.lower() in TEXT_SUFFIXES]
    if len(texts) == 1:
        return texts[0]
    names = [m.filename for m in members]
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    if not texts:
        raise InputFileError(
            f"{path}: the zip holds no CSV/TSV/TXT file (it holds: {shown or 'nothing'}); "
            "zip exactly one CSV export, or unzip it and pass the export"
        )
    raise InputFileError(
        f"{path}: the zip holds {len(texts)} CSV/TSV/TXT files ({shown}); funnelkit reads a zip "
        "holding exactly one. Unzip it and pass the folder"
    )


def _oversized(member: zipfile.ZipInfo, *, cap: int, ratio_floor: int) -> str | None:
    """Why a zip member must not be unzipped: "too big" (over ``cap``), "bomb" (over ``ratio_floor``
    and more than :data:`MAX_ZIP_RATIO` times its compressed size), or None. Read from the zip's
    directory, before a byte is unzipped."""
    size, packed = member.file_size, max(member.compress_size, 1)
    if size > cap:
        return "too big"
    if size > ratio_floor and size > MAX_ZIP_RATIO * packed:
        return "bomb"
    return None


def _check_unzipped_size(label: str, member: zipfile.ZipInfo) -> None:
    size, packed = member.file_size, max(member.compress_size, 1)
    verdict = _oversized(member, cap=MAX_UNZIPPED_BYTES, ratio_floor=ZIP_RATIO_FLOOR)
    if verdict == "too big":
        raise InputFileError(
            f"{label}: unzipped it would take {_size(size)}; funnelkit unzips at most "
            f"{_size(MAX_UNZIPPED_BYTES)}. Unzip it yourself and pass the CSV"
        )
    if verdict == "bomb":
        raise InputFileError(
            f"{label}: {_size(packed)} compressed would unzip to {_size(size)} "
            f"(more than {MAX_ZIP_RATIO} times larger): this looks like a zip bomb, not an export"
        )


# ---------------------------------------------------------------- encodings --


def _decode_plan(path: Path | str, raw: bytes) -> tuple[bytes, str]:
    """Return the file's bytes as UTF-8 and the name of the encoding it was in.

    A file with no byte-order mark is taken to be UTF-8 without a full pass
    over it: Arrow's CSV reader validates every cell as it parses, and a file
    that fails there is read again through :func:`_legacy_decode`.
    """
    if not raw or raw.isspace():
        raise InputFileError(f"{path}: the file is empty (0 data rows, no header)")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:], "utf-8-sig"
    for bom, name in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            return _transcode(path, raw[2:], name), "utf-16"
    head = raw[:4096]
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise InputFileError(
            f"{path}: this is not a text export but a damaged zip or an old Excel workbook "
            "with a text file's name; export the report again as CSV or .xlsx"
        )
    odd_nuls, even_nuls = head[1::2].count(b"\x00"), head[0::2].count(b"\x00")
    if max(odd_nuls, even_nuls) > len(head) // 4 and min(odd_nuls, even_nuls) < len(head) // 50 + 1:
        # UTF-16 without a byte-order mark: every other byte is NUL.
        name = "utf-16-le" if odd_nuls > even_nuls else "utf-16-be"
        return _transcode(path, raw, name), name
    if b"\x00" in head or _looks_binary(head):
        raise InputFileError(
            f"{path}: this is not a text export (binary content such as a zip or "
            "an Excel file renamed to .csv); export the report as CSV or .xlsx"
        )
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml")):
        raise InputFileError(
            f"{path}: this file is a web page (HTML), not a CSV export; the download "
            "probably failed or needed a login. Download the export again"
        )
    if not _is_utf8(raw[:65536]):  # the header must decode before Arrow sees the rest
        return _legacy_decode(path, raw)
    return raw, "utf-8"


def _legacy_decode(path: Path | str, raw: bytes) -> tuple[bytes, str]:
    """A file that is not valid UTF-8: Windows-1252 if it decodes as that, else an error naming the line."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    else:
        return raw, "utf-8"
    try:
        return raw.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError:
        pos = utf8_error.start
        line = raw.count(b"\n", 0, pos) + 1
        raise InputFileError(
            f"{path}: line {line}: byte {raw[pos : pos + 1]!r} is neither UTF-8 nor "
            "Windows-1252 text; re-export the file as UTF-8"
        ) from None


def _is_utf8(raw: bytes) -> bool:
    """UTF-8 validation in Arrow; a multi-byte character cut at the end of ``raw`` still counts as valid."""
    for cut in range(4):  # a slice may end inside a character of up to four bytes
        try:
            pa.array([raw[: len(raw) - cut]], type=pa.large_binary()).cast(pa.large_string())
        except pa.ArrowInvalid:
            continue
        return True
    return False


def _transcode(path: Path | str, raw: bytes, encoding: str) -> bytes:
    try:
        return raw.decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}: the file looks like {encoding.upper()} text but byte {exc.start} "
            "is not valid in it; re-export the file as UTF-8"
        ) from None


def _looks_binary(head: bytes) -> bool:
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control > max(4, len(head) // 100)


# ---------------------------------------------------------------- CSV text --


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: _count_unquoted(first_line, d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        # A single column: fine only if the file really has one column.
        return ","
    return best


def _count_unquoted(line: str, delimiter: str) -> int:
    return sum(part.count(delimiter) for part in line.split('"')[::2])


def _parse_header(path: Path | str, text_head: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(text_head), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputFileError(f"{path}: line 1: the header row cannot be read ({exc})") from None
    _check_width(path, len(header))
    return _check_header(path, [h.strip() for h in header])


def _check_header(path: Path | str, header: list[str]) -> list[str]:
    """A header row every column of which has a name, no name twice."""
    if not any(header):
        raise InputFileError(f"{path}: line 1: the header row is blank")
    blanks = [i + 1 for i, h in enumerate(header) if not h]
    if blanks:
        raise SchemaError(
            f"{path}: line 1: column(s) {blanks} have no name in the header row; name them or delete them"
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name.casefold() in seen:
            raise SchemaError(
                f"{path}: line 1: the column name {name!r} appears twice (columns "
                f"{seen[name.casefold()] + 1} and {i + 1}); pandas would silently rename "
                f"the second to '{name}.1'. Rename or remove one of them"
            )
        seen[name.casefold()] = i
    return header


def _check_width(path: Path | str, columns: int) -> None:
    if columns > MAX_COLUMNS:
        raise InputFileError(
            f"{path}: the file has {columns:,} columns; funnelkit reads at most {MAX_COLUMNS:,}. "
            "Export only the columns the funnel needs (ids, dates, stage, amount, source, owner)"
        )


def _header_end(path: Path | str, data: bytes) -> int:
    """Where the header record ends: its first newline outside quotes (the header may hold quoted newlines)."""
    pos, quotes = 0, 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        if end > MAX_HEADER_BYTES:
            raise InputFileError(
                f"{path}: line 1: the header row is longer than {_size(MAX_HEADER_BYTES)}; "
                "this is not a CSV export funnelkit can read (or a quote in the header is never closed)"
            )
        quotes += data.count(b'"', pos, end)
        if quotes % 2 == 0 or end == len(data):
            return end
        pos = end + 1


def _read_csv(path: Path) -> RawTable:
    mapped = _mapped_text(path)
    if mapped is not None:
        data, encoding = mapped
        try:
            return _read_csv_text(path, data, encoding, label=str(path), spill=True)
        except _NotUtf8:
            del data  # not UTF-8 after all: read in memory as Windows-1252 below
    raw, label, member = _file_bytes(path)
    data, encoding = _decode_plan(label, raw)
    try:
        table = _read_csv_text(path, data, encoding, label=label, member=member)
    except _NotUtf8:
        data, encoding = _legacy_decode(label, raw)
        table = _read_csv_text(path, data, encoding, label=label, member=member)
    if member:
        table.notes.insert(0, f"{path.name}: read the zipped file {member}")
    return table


class _NotUtf8(Exception):
    """Arrow met bytes that are not UTF-8 past the part of the file checked up front."""


def _read_csv_text(path: Path, data, encoding: str, *, label: str, member: str = "", spill: bool = False) -> RawTable:
    """Parse UTF-8 CSV bytes (``encoding`` names what the file was in; ``label`` names it in messages).

    ``data`` is ``bytes`` or, with ``spill``, a memory-mapped file whose
    byte-order mark, if any, is still in place (Arrow skips the header row
    it is part of); its text table is then set aside on disk (see "Large files").
    """
    head = bytes(data[: MAX_HEADER_BYTES + 4]).removeprefix(b"\xef\xbb\xbf")
    first_end = head.find(b"\n")
    head_text = head[: first_end if first_end >= 0 else len(head)].decode("utf-8", "replace")
    # the header may contain a quoted newline: csv reads the whole header record
    delimiter = "\t" if Path(member or path).suffix.lower() == ".tsv" else _sniff_delimiter(head_text)
    header = _parse_header(label, head[: _header_end(label, head)].decode("utf-8", "replace"), delimiter)
    if _count_byte(data, b'"') % 2:
        records = _RecordIndex(data, delimiter)
        raise InputFileError(
            f"{label}: line {records.start_lines[-1]}: the file ends inside a quoted field "
            "(a quote is opened and never closed); the file looks truncated. Export it again"
        )

    data, footer_lines, footer_total = _split_footer(data, delimiter)
    try:
        table, invalid = _parse_csv(data, header, delimiter, spill=spill)
    except _ArrowFailed as failed:
        exc = failed.args[0]
        if "invalid UTF8" in str(exc) and encoding == "utf-8":
            raise _NotUtf8 from None
        raise InputFileError(f"{label}: the file cannot be read as CSV: {exc}") from None
    # cells stay as written: each parser trims the columns it reads (a copy of every column here
    # would cost seconds and gigabytes on a large export)
    frame = table.to_pandas() if table.num_rows else pd.DataFrame({h: pd.Series(dtype="str") for h in header})
    del table

    raw_table = RawTable(
        file=path,
        frame=frame,
        lines_=None,
        rejected=_empty_rejected(),
        encoding=encoding,
        delimiter=delimiter,
    )
    if invalid:
        _account_rows(raw_table, header, _RecordIndex(data, delimiter))
    else:
        # Clean file: lines are only needed if a value fails to parse later, and then the
        # file is read again rather than kept in memory all along.
        raw_table.line_source = lambda: _clean_lines(_RecordIndex(_body(path, delimiter, encoding), delimiter))
    raw_table.footer_lines += footer_lines
    if footer_total is not None:
        raw_table.footer_total = (raw_table.footer_total or 0) + footer_total
    _reject_repeated_headers(raw_table, header)
    if encoding == "cp1252":
        raw_table.notes.append(f"{path.name}: read as Windows-1252 (not valid UTF-8)")
    return raw_table


class _ArrowFailed(Exception):
    """Arrow could not parse the CSV (the Arrow error is the argument)."""


def _parse_csv(data, header: list[str], delimiter: str, *, spill: bool = False):
    try:
        return _arrow_csv(data, header, delimiter, spill=spill)
    except pa.ArrowInvalid:
        # A record longer than Arrow's block (1 MiB by default, e.g. a very wide export):
        # read again with blocks that hold the longest record.
        records = _RecordIndex(data, delimiter)
        longest = int((records.ends - records.starts).max()) if len(records.ends) else 0
        return _arrow_csv(data, header, delimiter, block_size=2 * longest + MIB, spill=spill)


def _arrow_csv(data, header: list[str], delimiter: str, *, block_size: int | None = None, spill: bool = False):
    """Parse CSV bytes with Arrow, every column as text: ``(table, [(fields, text) of rows skipped])``.

    With ``spill`` the table is read batch by batch into a memory-mapped
    Arrow file (:func:`_set_aside`) instead of into memory.
    Raises ``pa.ArrowInvalid`` for a record longer than the block (the caller retries with
    a larger one) and :class:`_ArrowFailed` for anything else.
    """
    invalid: list[tuple[int, str]] = []

    def on_invalid(row) -> str:
        invalid.append((row.actual_columns, row.text))
        return "skip"

    read_options = pacsv.ReadOptions(column_names=header, skip_rows=1)
    first_block = SPILL_BLOCK_BYTES if spill else ARROW_BLOCK_BYTES
    read_options.block_size = _unsplit_block_size(data, max(block_size or 0, first_block))
    options = {
        "read_options": read_options,
        "parse_options": pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        "convert_options": pacsv.ConvertOptions(
            # large_string is what pandas' str dtype holds: the conversion below copies nothing
            column_types={h: pa.large_string() for h in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }
    source = pa.BufferReader(pa.py_buffer(data))
    try:
        table = _set_aside(pacsv.open_csv(source, **options)) if spill else pacsv.read_csv(source, **options)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if "straddl" in str(exc) and block_size is None:
            raise
        raise _ArrowFailed(exc) from None
    return table, invalid


def _unsplit_block_size(data, block_size: int) -> int:
    """``block_size``, or the next size up, such that no block of ``data`` ends between a CR and its LF.

    Arrow's CSV reader drops the LF of a CRLF inside a quoted value when one
    input block ends with the CR and the next starts with the LF
    (apache/arrow#51368, open in pyarrow 26): a multi-line note comes back a
    byte short, without an error. Blocks start at multiples of the block size,
    so moving the size by a byte or two keeps every CRLF whole.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    while True:
        ends = np.arange(block_size, len(buf), block_size)
        if not ((buf[ends - 1] == ord("\r")) & (buf[ends] == ord("\n"))).any():
            return block_size
        block_size += 1


def _set_aside(reader: pacsv.CSVStreamingReader) -> pa.Table:
    """The batches of a streaming CSV read, in an Arrow file that is memory-mapped and deleted at once."""
    name = None
    try:
        handle, name = scratch_file("text", ".arrow")
        os.close(handle)
        with pa.OSFile(name, "wb") as sink, pa.ipc.new_file(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        return pa.ipc.open_file(pa.memory_map(name)).read_all()
    except OSError as exc:
        raise InputFileError(
            f"the text of a large export could not be set aside in {tempfile.gettempdir()} ({exc}); "
            "free some disk space there or point TMPDIR to a folder with room for about twice the file"
        ) from None
    finally:
        if name is not None:
            _remove_mapped(name)


def _remove_mapped(name: str) -> None:
    """Delete a file that is memory-mapped: at once where the mapping keeps it (POSIX), else when Python exits."""
    try:
        os.unlink(name)
    except PermissionError:  # Windows refuses to delete a mapped file
        atexit.register(lambda: os.path.exists(name) and os.unlink(name))


def _mapped_text(path: Path) -> tuple[mmap.mmap, str] | None:
    """A plain UTF-8 CSV of ``SPILL_BYTES`` or more, memory-mapped, and its encoding; None for any other file."""
    if path.stat().st_size < SPILL_BYTES or path.suffix.lower() in ZIP_SUFFIXES:
        return None
    with path.open("rb") as handle:
        head = handle.read(65536)
        if head.startswith(b"PK\x03\x04"):
            return None
        encoding = _decode_plan(path, head)[1]  # refuses web pages and binary files as the in-memory read does
        if encoding not in ("utf-8", "utf-8-sig"):
            return None
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mmap, "MADV_SEQUENTIAL"):  # read front to back: the system may read ahead and drop what was read
        mapped.madvise(mmap.MADV_SEQUENTIAL)
    return mapped, encoding


def _count_byte(data, byte: bytes) -> int:
    """How often ``byte`` occurs in ``data`` (bytes or a mapping), ``SCAN_WINDOW_BYTES`` at a time."""
    buf = np.frombuffer(data, dtype=np.uint8)
    code = ord(byte)
    return sum(
        int(np.count_nonzero(buf[lo : lo + SCAN_WINDOW_BYTES] == code)) for lo in range(0, len(buf), SCAN_WINDOW_BYTES)
    )


def _body(path: Path, delimiter: str, encoding: str):
    """The file's data as UTF-8 bytes (or a mapping of them) without its report footer (as parsed)."""
    mapped = _mapped_text(path) if encoding in ("utf-8", "utf-8-sig") else None
    if mapped is not None:
        return _split_footer(mapped[0], delimiter)[0]
    raw, label, _ = _file_bytes(path)
    data = _legacy_decode(label, raw)[0] if encoding == "cp1252" else _decode_plan(label, raw)[0]
    return _split_footer(data, delimiter)[0]


def _split_footer(data: bytes, delimiter: str) -> tuple[memoryview, int, int | None]:
    """Cut a report footer off the end of the file: ``(body, footer lines, stated total)``.

    Walking back from the end, blank lines and one-field lines are footer
    candidates; the block counts as a footer only if one of its lines is a
    known footer line ("Grand Totals (N records)", copyright, ...). Taking it
    off before parsing spares clean exports the slower record-by-record scan.
    """
    tail_start = max(0, len(data) - 8192)
    lines = data[tail_start:].split(b"\n")
    cut = len(lines)
    matched = False
    for i in range(len(lines) - 1, 0, -1):  # the tail's first line may be partial
        line = lines[i].decode("utf-8", "replace").strip()
        if line and (_count_unquoted(line, delimiter) > 0 or len(line) > 200):
            break
        matched |= bool(FOOTER_PATTERNS.match(line))
        cut = i
    if not matched:
        return memoryview(data), 0, None
    body_end = tail_start + sum(len(line) + 1 for line in lines[:cut])
    footer = [line.decode("utf-8", "replace") for line in lines[cut:]]
    footer_lines = sum(1 for line in footer if line.strip())
    totals = [int(re.sub(r"[^\d]", "", m.group(1))) for line in footer if (m := GRAND_TOTAL.search(line))]
    # a view, not a slice: a copy of a multi-gigabyte export would double the peak memory
    return memoryview(data)[:body_end], footer_lines, (sum(totals) if totals else None)


class _RecordIndex:
    """Where each CSV record starts (physical line) and how many fields it has.

    Vectorised over the file's bytes: a newline ends a record when the number
    of quote characters before it is even (RFC 4180 doubles quotes inside a
    quoted field, so the parity rule holds).
    """

    def __init__(self, data, delimiter: str):
        buf = np.frombuffer(data, dtype=np.uint8)
        newline_pos, ends, fields = self._scan(buf, ord(delimiter))
        if len(data) and (not len(ends) or ends[-1] != len(data) - 1):
            ends = np.append(ends, len(data))
        else:
            fields = fields[:-1]  # no record is open after the last newline
        starts = np.concatenate(([0], ends[:-1] + 1))
        # physical line of each record start: newlines before it, plus one
        self.start_lines = np.searchsorted(newline_pos, starts) + 1
        content_len = ends - starts
        ends_cr = np.zeros(len(ends), bool)
        inside = ends < len(data)
        ends_cr[inside] = buf[np.maximum(ends[inside] - 1, 0)] == ord("\r")
        content_len = content_len - ends_cr
        self.blank = content_len <= 0
        self.fields = fields + 1
        self.starts, self.ends = starts, ends
        self._data = data

    @staticmethod
    def _scan(buf: np.ndarray, delimiter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every newline, the record ends among them and the delimiters of each record (the last one still open).

        ``SCAN_WINDOW_BYTES`` at a time, carrying the quote parity and the
        open record's delimiters from one window to the next, so a scan of a
        7 GB file holds a window's masks, not the file's.
        """
        none = np.zeros(0, np.int64)
        newlines, ends, fields = [none], [none], []
        parity, open_fields = 0, 0
        for lo in range(0, len(buf), SCAN_WINDOW_BYTES):
            window = buf[lo : lo + SCAN_WINDOW_BYTES]
            # uint8 wraps at 256, which keeps the parity we need at an eighth of the memory
            quotes = np.cumsum(window == ord('"'), dtype=np.uint8)
            quotes += parity
            at_newline = np.flatnonzero(window == ord("\n"))
            window_ends = at_newline[(quotes[at_newline] % 2) == 0]
            at_delimiter = np.flatnonzero(window == delimiter)
            at_delimiter = at_delimiter[(quotes[at_delimiter] % 2) == 0]
            counts = np.bincount(np.searchsorted(window_ends, at_delimiter), minlength=len(window_ends) + 1)
            counts[0] += open_fields
            newlines.append(at_newline + lo)
            ends.append(window_ends + lo)
            fields.append(counts[:-1])
            open_fields, parity = int(counts[-1]), int(quotes[-1] % 2)
        fields.append(np.array([open_fields]))
        return np.concatenate(newlines), np.concatenate(ends), np.concatenate(fields).astype(np.int64)

    def text(self, i: int) -> str:
        return bytes(self._data[self.starts[i] : self.ends[i]]).decode("utf-8", "replace").rstrip("\r")


def _account_rows(table: RawTable, header: list[str], records: _RecordIndex | None) -> None:
    """Give every kept row its line, and classify the records pyarrow skipped."""
    if records is None:
        return
    n_fields = len(header)
    body = np.arange(1, len(records.ends))  # record 0 is the header
    body = body[~records.blank[body]]
    # A one-field record needs no delimiter, so in a one-column file every record fits.
    fits = records.fields[body] == n_fields
    kept = body[fits]
    if len(kept) != len(table.frame):
        raise InputFileError(
            f"{table.file}: the file's rows could not be lined up with its {n_fields} "
            f"columns ({len(kept)} rows expected, {len(table.frame)} parsed); a stray "
            'quote character (") probably opens a field that never closes'
        )
    table.lines = records.start_lines[kept]
    skipped = body[~fits]
    texts = [records.text(i) for i in skipped]  # only the malformed records
    is_footer = np.array([bool(FOOTER_PATTERNS.match(t)) for t in texts], dtype=bool)
    _extend_footer_block(records, skipped, kept, is_footer)
    totals = [int(re.sub(r"[^\d]", "", m.group(1))) for t in texts if (m := GRAND_TOTAL.search(t))]
    table.footer_lines = int(is_footer.sum())
    table.footer_total = sum(totals) if totals else None
    ragged = ~is_footer
    table.rejected = pd.DataFrame(
        {
            "file": str(table.file),
            "line": records.start_lines[skipped[ragged]].astype(np.int64),
            "column": "(whole row)",
            "value": [t[:200] for t, r in zip(texts, ragged, strict=True) if r],
            "reason": str(Reason.RAGGED_ROW),
            "detail": [f"{records.fields[i]} fields where the header has {n_fields}" for i in skipped[ragged]],
        }
    )


def _clean_lines(records: _RecordIndex) -> np.ndarray:
    body = np.arange(1, len(records.ends))
    return records.start_lines[body[~records.blank[body]]].astype(np.int64)


def _extend_footer_block(records: _RecordIndex, skipped: np.ndarray, kept: np.ndarray, is_footer: np.ndarray) -> None:
    """Footer lines no pattern can know (the org's name Salesforce writes last).

    A one-field line right after a footer line belongs to the footer, and so
    does every malformed line after the last data row once a footer line is there.
    """
    position = np.arange(len(records.ends))
    last_nonblank = np.maximum.accumulate(np.where(records.blank, -1, position))
    footer_records = set(skipped[is_footer].tolist())
    for k in np.flatnonzero(~is_footer):  # malformed lines only
        previous = last_nonblank[skipped[k] - 1] if skipped[k] > 0 else -1
        if records.fields[skipped[k]] == 1 and previous in footer_records:
            is_footer[k] = True
            footer_records.add(int(skipped[k]))
    after_data = skipped > (kept.max() if len(kept) else 0)
    if (is_footer & after_data).any():
        is_footer |= after_data


def _reject_repeated_headers(table: RawTable, header: list[str]) -> None:
    """Rows that repeat the header (exports pasted one after another) are set aside."""
    frame = table.frame
    if not len(frame):
        return
    first = header[0]
    candidates = frame[first].str.contains(first, regex=False)  # a literal search first: fast
    if not candidates.any():
        return
    candidates[candidates] = frame.loc[candidates, first].str.strip() == first
    same = candidates.copy()
    for name in header[1:]:
        same[candidates] &= frame.loc[candidates, name].str.strip() == name
    if not same.any():
        return
    idx = np.flatnonzero(same.to_numpy())
    repeated = pd.DataFrame(
        {
            "file": str(table.file),
            "line": table.lines[idx].astype(np.int64),
            "column": "(whole row)",
            "value": ",".join(header)[:200],
            "reason": str(Reason.DUPLICATE_HEADER),
            "detail": "the header row appears again (exports pasted together?)",
        }
    )
    table.rejected = pd.concat([table.rejected, repeated], ignore_index=True)
    keep = ~same.to_numpy()
    table.frame = frame.loc[keep].reset_index(drop=True)
    table.lines = table.lines[keep]


def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": pd.Series(dtype="str"),
            "line": pd.Series(dtype="int64"),
            "column": pd.Series(dtype="str"),
            "value": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
            "detail": pd.Series(dtype="str"),
        }
    )


# ---------------------------------------------------------------- Excel --


def _read_excel(path: Path, *, header_hint=None) -> RawTable:
    cells, lost = _sheet_cells(path)
    sheet = pd.DataFrame(cells, dtype="str")
    del cells
    if sheet.empty:
        raise InputFileError(f"{path}: the first sheet is empty")
    header_row = _find_header_row(sheet, header_hint)
    header = [str(h).strip() for h in sheet.iloc[header_row]]
    # trailing unnamed columns that are empty everywhere are layout, not data
    while header and not header[-1] and not sheet.iloc[header_row + 1 :, len(header) - 1].str.strip().any():
        header.pop()
    sheet = sheet.iloc[:, : len(header)]
    _check_header(path, header)
    body = sheet.iloc[header_row + 1 :].reset_index(drop=True)
    body.columns = header
    body = body.apply(lambda c: c.str.strip())
    lines = np.arange(header_row + 2, header_row + 2 + len(body), dtype=np.int64)
    blank = (body == "").all(axis=1).to_numpy()
    first_cells = body.iloc[:, 0]
    others_blank = (body.iloc[:, 1:] == "").all(axis=1).to_numpy() if body.shape[1] > 1 else blank
    footer = others_blank & first_cells.str.match(FOOTER_PATTERNS).to_numpy()
    totals = [int(re.sub(r"[^\d]", "", m.group(1))) for t in first_cells[footer] if (m := GRAND_TOTAL.search(t))]
    keep = ~(blank | footer)
    lost_digits = _lost_digit_rows(path, lost, header_row, header)
    if len(lost_digits):
        keep[lost_digits["line"].to_numpy() - header_row - 2] = False
    table = RawTable(
        file=path,
        frame=body.loc[keep].reset_index(drop=True),
        lines_=lines[keep],
        rejected=_empty_rejected(),
        footer_lines=int(footer.sum()),
        footer_total=sum(totals) if totals else None,
        encoding="xlsx",
        delimiter="",
    )
    if header_row:
        table.notes.append(f"{path.name}: header found on row {header_row + 1} (title rows above it skipped)")
    if len(lost_digits):
        table.rejected = lost_digits.drop(columns="note")
        table.notes.extend(lost_digits["note"].drop_duplicates())
    _reject_repeated_headers(table, header)
    return table


def _check_workbook_parts(path: Path) -> None:
    """Refuse a workbook whose parts would unzip past the limits, before openpyxl reads any.

    Besides the parts' declared sizes, the first sheet's cells are counted on
    its raw XML (a streamed byte count, seconds for a gigabyte): openpyxl
    takes some 15 microseconds a cell, so a sheet past the cell limit is
    refused before it is parsed, whatever its declared dimension says.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            _check_part_sizes(path, archive.infolist())
            sheet = _first_sheet_part(archive)
            if sheet is not None:
                _count_cells(path, archive, sheet)
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError, EOFError) as exc:
        raise InputFileError(f"{path}: the workbook cannot be opened (not a valid .xlsx file: {exc})") from None


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _first_sheet_part(archive: zipfile.ZipFile) -> str | None:
    """The zip path of the workbook's first worksheet (the one read), or None if it cannot be told."""
    from xml.etree import ElementTree

    try:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
    names = set(archive.namelist())
    for sheet in book.iter(f"{_MAIN_NS}sheet"):
        target = targets.get(sheet.get(_REL_ID), "")
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        if part in names and "worksheets/" in part:  # chartsheets are not read
            return part
    return None


def _count_cells(path: Path, archive: zipfile.ZipFile, part: str) -> None:
    """Count the ``<c>`` elements of a sheet's XML in a streamed pass and refuse a sheet past the limit."""
    cells, tail, prefix = 0, b"", None
    with archive.open(part) as stream:
        while chunk := stream.read(SCAN_CHUNK_BYTES):
            block = tail + chunk
            if prefix is None:  # some writers prefix the main namespace: <x:worksheet>, <x:c>
                found = re.search(rb"<(\w+:)?worksheet[\s>]", block)
                prefix = (found.group(1) or b"") if found else b""
            # a cell element opens "<c " or "<c>"; "<col" and "<cfRule" are not cells. An element
            # inside the kept tail was counted with the previous chunk.
            cells += _cell_tags(block, prefix) - _cell_tags(tail, prefix)
            if cells > MAX_SHEET_CELLS:
                raise InputFileError(
                    f"{path}: the first sheet holds more than {MAX_SHEET_CELLS:,} cells; funnelkit reads at most "
                    f"{MAX_SHEET_CELLS:,} cells from a workbook. Save it as CSV, which has no such limit and reads "
                    "many times faster"
                )
            tail = block[-(len(prefix) + 3) :]  # an opening tag cut between two chunks is counted once


def _cell_tags(xml: bytes, prefix: bytes) -> int:
    start = b"<" + prefix + b"c"
    return xml.count(start + b" ") + xml.count(start + b">") + xml.count(start + b"/")


def _check_part_sizes(path: Path, parts: list[zipfile.ZipInfo]) -> None:
    for part in parts:
        size, packed = part.file_size, max(part.compress_size, 1)
        verdict = _oversized(part, cap=MAX_XLSX_PART_BYTES, ratio_floor=XLSX_RATIO_FLOOR)
        if verdict == "too big":
            raise InputFileError(
                f"{path}: the workbook's part {part.filename} unzips to {_size(size)}; funnelkit "
                f"reads workbook parts of at most {_size(MAX_XLSX_PART_BYTES)}. Save the sheet as CSV"
            )
        if verdict == "bomb":
            raise InputFileError(
                f"{path}: the workbook's part {part.filename} would unzip from {_size(packed)} to "
                f"{_size(size)} (more than {MAX_ZIP_RATIO} times larger): this looks like a zip "
                "bomb, not an export"
            )


def _sheet_cells(path: Path) -> tuple[list[list[str]], list[tuple[int, int, str]]]:
    """The first sheet's cells as text, rows padded to one width, and the numbers that lost digits.

    openpyxl reads cell by cell in Python (as pandas' Excel reader does); the
    limits are checked on the declared dimension first, then as rows arrive.
    """
    from openpyxl import load_workbook

    _check_workbook_parts(path)
    try:
        handle = path.open("rb")  # a file object: openpyxl would refuse a workbook named .zip or .csv
        book = load_workbook(handle, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many unrelated types on a bad workbook
        handle.close()
        raise InputFileError(f"{path}: the workbook cannot be opened ({type(exc).__name__}: {exc})") from None
    try:
        if not book.worksheets:
            raise InputFileError(f"{path}: the workbook has no sheet")
        sheet = book.worksheets[0]
        _check_dimension(path, sheet)
        # the declared dimension can be wrong: read every cell there is (and count them as they come)
        sheet.reset_dimensions()
        return _sheet_text(path, sheet)
    except FunnelkitError:
        raise
    except Exception as exc:  # a damaged sheet XML
        raise InputFileError(f"{path}: the first sheet cannot be read ({type(exc).__name__}: {exc})") from None
    finally:
        book.close()
        handle.close()


def _check_dimension(path: Path, sheet) -> None:
    rows, columns = sheet.max_row, sheet.max_column
    if rows is None or columns is None:
        return  # not declared: counted while reading
    where = f"the first sheet declares {rows:,} rows x {columns:,} columns"
    if columns > MAX_COLUMNS:
        raise InputFileError(
            f"{path}: {where}; funnelkit reads at most {MAX_COLUMNS:,} columns. "
            "Delete the unused columns (or save the sheet as CSV with the columns the funnel needs)"
        )
    if rows > MAX_SHEET_ROWS:
        raise InputFileError(f"{path}: {where}, more than Excel's {MAX_SHEET_ROWS:,} rows; the file is damaged")
    if rows * columns > MAX_SHEET_CELLS:
        raise InputFileError(
            f"{path}: {where} ({rows * columns:,} cells); funnelkit reads at most {MAX_SHEET_CELLS:,} cells "
            "from a workbook. Save the sheet as CSV, which has no such limit and reads many times faster"
        )


def _sheet_text(path: Path, sheet) -> tuple[list[list[str]], list[tuple[int, int, str]]]:
    rows: list[list[str]] = []
    lost: list[tuple[int, int, str]] = []
    zero_pad: dict[str, int] = {}
    last_filled, width, cells = -1, 0, 0
    for r, row in enumerate(sheet.iter_rows()):
        if r >= MAX_SHEET_ROWS:
            raise InputFileError(f"{path}: the first sheet has more than Excel's {MAX_SHEET_ROWS:,} rows")
        cells += len(row)
        if len(row) > MAX_COLUMNS:
            raise InputFileError(
                f"{path}: row {r + 1} of the first sheet reaches column {len(row):,}; funnelkit reads "
                f"at most {MAX_COLUMNS:,} columns. Delete the unused columns"
            )
        if cells > MAX_SHEET_CELLS:
            raise InputFileError(
                f"{path}: the first sheet holds more than {MAX_SHEET_CELLS:,} cells; save it as CSV, "
                "which has no such limit and reads many times faster"
            )
        texts = [_cell_text(cell, zero_pad) for cell in row]
        lost.extend((r, c, texts[c]) for c, cell in enumerate(row) if _lost_digits(cell))
        while texts and texts[-1] == "":
            texts.pop()
        if texts:
            last_filled, width = r, max(width, len(texts))
        rows.append(texts)
    del rows[last_filled + 1 :]
    if len(rows) * width > MAX_SHEET_CELLS:
        raise InputFileError(
            f"{path}: the first sheet spans {len(rows):,} rows x {width:,} columns; funnelkit reads at most "
            f"{MAX_SHEET_CELLS:,} cells from a workbook. Save it as CSV"
        )
    for texts in rows:
        texts.extend([""] * (width - len(texts)))
    return rows, lost


def _cell_text(cell, zero_pad: dict[str, int]) -> str:
    """A cell as text: strings as written, whole numbers without ".0", zero-padded formats applied."""
    value = cell.value
    if value is None or cell.data_type == "e":  # empty, or an error such as #N/A
        return ""
    if cell.data_type != "n" or isinstance(value, bool):
        return value if isinstance(value, str) else str(value)
    try:
        whole = int(value)
    except (OverflowError, ValueError):  # inf, nan
        return str(value)
    if whole != value:
        return str(float(value))
    fmt = cell.number_format
    if fmt not in zero_pad:
        zero_pad[fmt] = _zero_pad_width(fmt)
    text = str(whole)
    return text.zfill(zero_pad[fmt]) if zero_pad[fmt] and whole >= 0 else text


def _zero_pad_width(number_format: str) -> int:
    """Digits a zero-padded number format shows ("00000" for zip codes -> 5); 0 for any other format."""
    positive = number_format.split(";")[0]
    return len(positive) if re.fullmatch(r"0{2,}", positive) else 0


def _lost_digits(cell) -> bool:
    """A number Excel cannot hold exactly: 16 digits or more (Excel keeps 15 significant ones)."""
    value = cell.value
    return (
        cell.data_type == "n"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and abs(value) >= 10**EXCEL_EXACT_DIGITS
    )


def _lost_digit_rows(path: Path, lost: list[tuple[int, int, str]], header_row: int, header: list[str]) -> pd.DataFrame:
    """One quarantine row per data row holding a number that lost digits, and a note per column."""
    cells = pd.DataFrame(lost, columns=["sheet_row", "col", "value"])
    cells = cells[(cells["sheet_row"] > header_row) & (cells["col"] < len(header))]
    cells = cells.drop_duplicates("sheet_row")  # one entry per row: rows read = kept + quarantined
    if cells.empty:
        return pd.DataFrame()
    names = [header[c] for c in cells["col"]]
    counts = pd.Series(names).value_counts()
    first = {name: (row + 1, value) for name, row, value in zip(names, cells["sheet_row"], cells["value"], strict=True)}
    detail = "ids stored as numbers in Excel lose digits after the 15th; format the column as Text and export again"
    return pd.DataFrame(
        {
            "file": str(path),
            "line": (cells["sheet_row"].to_numpy() + 1).astype(np.int64),
            "column": names,
            "value": cells["value"].to_numpy(),
            "reason": str(Reason.LOST_DIGITS),
            "detail": f"a number of 16 digits or more: {detail}",
            "note": [
                f"{path.name}: column {name!r}: {counts[name]:,} row{'s' if counts[name] != 1 else ''} "
                "quarantined for a number of 16 digits or more "
                f"(first on row {first[name][0]}: {first[name][1]}); {detail}"
                for name in names
            ],
        }
    )


def _find_header_row(sheet: pd.DataFrame, header_hint) -> int:
    """The first of the top rows that best matches known headers, else the first full row."""
    top = sheet.head(30)
    filled = (top != "").sum(axis=1)
    if header_hint is not None:
        scores = [header_hint([str(v).strip() for v in row if str(v).strip()]) for row in top.itertuples(index=False)]
        best = int(np.argmax(scores))
        if scores[best] > 0:
            return best
    return int(np.flatnonzero(filled.to_numpy() == filled.max())[0])
