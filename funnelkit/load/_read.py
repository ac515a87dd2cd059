"""Read one export file into a table of raw text, keeping every row accounted for.

A :class:`RawTable` holds the export's cells as text (nothing parsed yet), the
physical line of every row, and what was set aside before parsing: report
footer lines, rows with the wrong number of fields, repeated header rows.
pandas' own CSV reader would pad short rows, drop bad ones with
``on_bad_lines="skip"`` or guess encodings; here each of those is either an
error naming the file or a quarantined row.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputFileError, Reason, SchemaError

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
DELIMITERS = (",", ";", "\t", "|")

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
    """Read a CSV/TSV or Excel export as text. Raises :class:`InputFileError`."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return _read_excel(path, header_hint=header_hint)
    if path.suffix.lower() == ".xls":
        raise InputFileError(f"{path}: old-style .xls workbooks are not supported; save it as .xlsx or CSV")
    return _read_csv(path)


# ---------------------------------------------------------------- encodings --


def _decode_plan(path: Path, raw: bytes) -> tuple[bytes, str]:
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
            f"{path}: this is not a text export but a zip or Excel workbook with a .csv "
            "name; rename it to .xlsx or export the report as CSV"
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


def _legacy_decode(path: Path, raw: bytes) -> tuple[bytes, str]:
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


def _transcode(path: Path, raw: bytes, encoding: str) -> bytes:
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


def _sniff_delimiter(path: Path, first_line: str) -> str:
    counts = {d: _count_unquoted(first_line, d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        # A single column: fine only if the file really has one column.
        return ","
    return best


def _count_unquoted(line: str, delimiter: str) -> int:
    return sum(part.count(delimiter) for part in line.split('"')[::2])


def _parse_header(path: Path, text_head: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(text_head), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputFileError(f"{path}: line 1: the header row cannot be read ({exc})") from None
    header = [h.strip() for h in header]
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


def _read_csv(path: Path) -> RawTable:
    raw = path.read_bytes()
    data, encoding = _decode_plan(path, raw)
    try:
        return _read_csv_text(path, data, encoding)
    except _NotUtf8:
        data, encoding = _legacy_decode(path, raw)
        return _read_csv_text(path, data, encoding)


class _NotUtf8(Exception):
    """Arrow met bytes that are not UTF-8 past the part of the file checked up front."""


def _read_csv_text(path: Path, data: bytes, encoding: str) -> RawTable:
    """Parse UTF-8 CSV bytes (``encoding`` names what the file was in)."""
    first_end = data.find(b"\n")
    head_text = data[: first_end if first_end >= 0 else len(data)].decode("utf-8", "replace")
    # The header may contain a quoted newline; give csv a generous slice.
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(path, head_text)
    header = _parse_header(path, data[:65536].decode("utf-8", "replace"), delimiter)
    if data.count(b'"') % 2:
        records = _RecordIndex(data, delimiter)
        raise InputFileError(
            f"{path}: line {records.start_lines[-1]}: the file ends inside a quoted field "
            "(a quote is opened and never closed); the file looks truncated. Export it again"
        )

    data, footer_lines, footer_total = _split_footer(data, delimiter)
    invalid: list[tuple[int, str]] = []

    def on_invalid(row) -> str:
        invalid.append((row.actual_columns, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                # large_string is what pandas' str dtype holds: the conversion below copies nothing
                column_types={h: pa.large_string() for h in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if "invalid UTF8" in str(exc) and encoding == "utf-8":
            raise _NotUtf8 from None
        raise InputFileError(f"{path}: the file cannot be read as CSV: {exc}") from None
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


def _body(path: Path, delimiter: str, encoding: str) -> bytes:
    """The file's data as UTF-8 bytes without its report footer (as parsed)."""
    raw = path.read_bytes()
    data = _legacy_decode(path, raw)[0] if encoding == "cp1252" else _decode_plan(path, raw)[0]
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

    def __init__(self, data: bytes, delimiter: str):
        buf = np.frombuffer(data, dtype=np.uint8)
        # uint8 wraps at 256, which keeps the parity we need at an eighth of the memory
        quotes = np.cumsum(buf == ord('"'), dtype=np.uint8)
        newline_pos = np.flatnonzero(buf == ord("\n"))
        outside = (quotes[newline_pos] % 2) == 0 if len(newline_pos) else np.zeros(0, bool)
        ends = newline_pos[outside]
        if len(data) and (not len(ends) or ends[-1] != len(data) - 1):
            ends = np.append(ends, len(data))
        starts = np.concatenate(([0], ends[:-1] + 1))
        # physical line of each record start: newlines before it, plus one
        self.start_lines = np.searchsorted(newline_pos, starts) + 1
        content_len = ends - starts
        ends_cr = np.zeros(len(ends), bool)
        inside = ends < len(data)
        ends_cr[inside] = buf[np.maximum(ends[inside] - 1, 0)] == ord("\r")
        content_len = content_len - ends_cr
        self.blank = content_len <= 0
        delim_pos = np.flatnonzero(buf == ord(delimiter))
        delim_pos = delim_pos[(quotes[delim_pos] % 2) == 0] if len(delim_pos) else delim_pos
        owner = np.searchsorted(ends, delim_pos)
        self.fields = np.bincount(owner, minlength=len(ends)) + 1
        self.starts, self.ends = starts, ends
        self._data = data

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
    try:
        sheet = pd.read_excel(path, header=None, dtype=str, keep_default_na=False, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many unrelated types on a bad workbook
        raise InputFileError(f"{path}: the workbook cannot be opened ({type(exc).__name__}: {exc})") from None
    sheet = sheet.fillna("").astype("str")
    if sheet.empty:
        raise InputFileError(f"{path}: the first sheet is empty")
    header_row = _find_header_row(sheet, header_hint)
    header = [str(h).strip() for h in sheet.iloc[header_row]]
    # trailing unnamed columns that are empty everywhere are layout, not data
    while header and not header[-1] and not sheet.iloc[header_row + 1 :, len(header) - 1].str.strip().any():
        header.pop()
    sheet = sheet.iloc[:, : len(header)]
    _parse_header(path, ",".join(f'"{h}"' for h in header) if all(header) else ",".join(header), ",")
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
    _reject_repeated_headers(table, header)
    return table


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
