"""Vectorised parsers from export text to typed columns, with every failure collected.

Each parser returns the typed Series and a boolean mask of the cells that were
not empty and did not parse; :class:`Failures` turns masks into quarantine
rows naming file, line, column, value and reason.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._arrow import arrow, text_dtype
from ..errors import AmbiguousDateError, Reason
from ..schema import TIMESTAMP

EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")

_SLASH_DATE = re.compile(
    r"^(?P<a>\d{1,2})[/.\-](?P<b>\d{1,2})[/.\-](?P<y>\d{4})"
    r"(?:[ T]+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?$"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2}|UTC)?$")

DATE_ORDERS = ("auto", "mdy", "dmy", "ymd")


@dataclass
class Failures:
    """Collects failing cells of one file into the quarantine's long shape."""

    file: str
    lines: object  # callable returning the physical line per row, computed only if needed
    parts: list[pd.DataFrame] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, mask: pd.Series | np.ndarray, column: str, values: pd.Series, reason: Reason, detail) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        with self._lock:  # columns are typed in threads; line numbers are computed once
            self._add(mask, column, values, reason, detail)

    def _add(self, mask, column, values, reason, detail) -> None:
        rows = np.flatnonzero(mask)
        detail_values = detail[mask] if isinstance(detail, (pd.Series, np.ndarray)) else detail
        self.parts.append(
            pd.DataFrame(
                {
                    "file": self.file,
                    "row": rows,
                    "line": self.lines()[rows],
                    "column": column,
                    "value": np.asarray(values.to_numpy()[rows], dtype=object).astype(str),
                    "reason": str(reason),
                    "detail": np.asarray(detail_values, dtype=object)
                    if not isinstance(detail_values, str)
                    else detail_values,
                }
            )
        )

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["file", "row", "line", "column", "value", "reason", "detail"])
        # columns finish in any order when typed in threads: sort for a stable table
        return pd.concat(self.parts, ignore_index=True).sort_values(["row", "column"], kind="stable", ignore_index=True)

    def rows(self) -> np.ndarray:
        return np.unique(np.concatenate([p["row"].to_numpy() for p in self.parts])) if self.parts else np.empty(0, int)


# ---------------------------------------------------------------- distinct values --


def by_distinct(parse, values: pd.Series, **options) -> tuple:
    """Run a cell-by-cell ``parse`` once per distinct value and spread its results back.

    Exports repeat themselves: a flag column holds two values, a date column a
    few hundred dates over a million rows. Parsing the distinct values and
    taking the results back by position does the same work once per value.
    Only for parsers whose result for a cell depends on that cell alone.
    Columns that are mostly distinct (timestamps to the second) or hold nulls
    are parsed directly.
    """
    text = arrow(values)
    if text.null_count or len(text) < 1024 or _mostly_distinct(text[:8192]):
        return parse(values, **options)
    encoded = pc.dictionary_encode(text)
    if len(encoded.dictionary) > len(text) // 2:
        return parse(values, **options)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    distinct = pd.Series(encoded.dictionary.to_pandas(types_mapper=text_dtype), dtype="str")
    return tuple(_spread(result, codes, values.index) for result in parse(distinct, **options))


def _mostly_distinct(sample: pa.Array) -> bool:
    return pc.count_distinct(sample).as_py() > len(sample) // 2


def _spread(result, codes: np.ndarray, index: pd.Index):
    if isinstance(result, pd.Series):
        return pd.Series(result.array.take(codes), index=index, name=result.name)
    return np.asarray(result)[codes]


# ---------------------------------------------------------------- dates --


def extract(values: pd.Series, pattern: str) -> pd.DataFrame:
    """``Series.str.extract`` in Arrow's RE2 engine (pandas falls back to a Python loop)."""
    groups = pc.extract_regex(arrow(values), pattern)
    valid = groups.is_valid()
    names = [groups.type.field(i).name for i in range(groups.type.num_fields)]
    columns = {}
    for name in names:
        field = groups.field(name)
        # RE2 gives "" for an optional group that did not take part; pandas gives NaN
        keep = pc.and_(valid, pc.not_equal(field, ""))
        columns[name] = pc.if_else(keep, field, None).to_pandas(types_mapper=text_dtype).set_axis(values.index)
    return pd.DataFrame(columns, index=values.index)


_DAY_FIRST = r"^\s*(1[3-9]|2\d|3[01])[/.\-](0?[1-9]|1[0-2])[/.\-]\d{4}"
_MONTH_FIRST = r"^\s*(0?[1-9]|1[0-2])[/.\-](1[3-9]|2\d|3[01])[/.\-]\d{4}"


def date_order_evidence(values: pd.Series) -> tuple[bool, bool]:
    """(needs day-first, needs month-first) judged from slash-style dates in ``values``.

    Only a date valid in exactly one order is evidence: 25/06/2025 is day-first,
    06/25/2025 month-first, 31/31/2025 evidence of nothing.
    """
    text = arrow(values)
    day_first = pc.any(pc.match_substring_regex(text, _DAY_FIRST)).as_py()
    month_first = pc.any(pc.match_substring_regex(text, _MONTH_FIRST)).as_py()
    return bool(day_first), bool(month_first)


def _date_heads(values: pd.Series) -> pa.Array:
    """The distinct first ten characters of a column's cells (leading spaces aside).

    Day and month order shows in a date's first ten characters, and a column
    of a million timestamps holds only a few thousand distinct dates: the
    evidence regexes then run over those instead of every cell.
    """
    heads = pc.unique(pc.utf8_slice_codeunits(arrow(values), 0, 10))
    if pc.any(pc.match_substring_regex(heads, r"^\s")).as_py():  # cells are untrimmed: rare, so a second pass
        heads = pc.unique(pc.utf8_slice_codeunits(pc.utf8_ltrim_whitespace(arrow(values)), 0, 10))
    return heads


def decide_date_order(file: str, columns: dict[str, pd.Series], date_order: str) -> str:
    """Choose mdy or dmy for a file's slash dates; fail when the data cannot decide.

    ``date_order`` other than "auto" is taken as given. Evidence is pooled over
    the file's date columns: a first field above 12 means day-first, a second
    field above 12 means month-first; both means the file mixes orders.
    """
    if date_order not in DATE_ORDERS:
        from ..errors import ParameterError

        raise ParameterError(f"date_order must be one of {DATE_ORDERS}; got {date_order!r}")
    if date_order != "auto":
        return date_order
    dayfirst_cols, monthfirst_cols, slash_cols = [], [], []
    for name, values in columns.items():
        heads = _date_heads(values)
        if not pc.any(pc.match_substring_regex(heads, r"^\s*\d{1,2}[/.]\d{1,2}[/.]\d{4}")).as_py():
            continue
        slash_cols.append(name)
        day, month = date_order_evidence(pd.Series(heads, dtype="str"))
        if day:
            dayfirst_cols.append(name)
        if month:
            monthfirst_cols.append(name)
    if not slash_cols:
        return "ymd"
    if dayfirst_cols and monthfirst_cols:
        raise AmbiguousDateError(
            f"{file}: dates are day-first in {dayfirst_cols} but month-first in "
            f"{monthfirst_cols}; a file should use one order. Fix the export or load "
            "the columns with an explicit date_order"
        )
    if dayfirst_cols:
        return "dmy"
    if monthfirst_cols:
        return "mdy"
    raise AmbiguousDateError(
        f"{file}: every date in {slash_cols} has day and month both 12 or below "
        "(e.g. 03/04/2025), so day-first and month-first both fit. Say which with "
        "date_order='mdy' (US) or date_order='dmy' (most other locales)"
    )


def parse_datetimes(values: pd.Series, *, order: str, tz: str) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parse export text to UTC timestamps.

    Each supported format is tried in turn on the cells still unparsed (Arrow's
    ``strptime`` must consume the whole cell, so formats cannot overlap).
    Returns ``(timestamps, unparsed, out_of_range)``: the parsed values; cells
    that are not empty but match no format for ``order``; dates before 1990 or
    from 2100 on (NaT in the result).
    """
    text, seconds = _fast_formats(arrow(values), list(_formats(order)))
    empty = pc.equal(text, "").to_numpy(zero_copy_only=False)
    naive = pd.Series(seconds.to_numpy(zero_copy_only=False), index=values.index)
    far = ((naive < EARLIEST.tz_localize(None)) | (naive >= LATEST.tz_localize(None))).to_numpy()
    remaining = naive.isna().to_numpy() & ~empty
    if not remaining.any() and not far.any():  # every cell in one of the fast formats, in range
        return _localize(naive.astype("datetime64[ns]"), tz).astype(TIMESTAMP), remaining, far
    iso = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP)
    if remaining.any():
        rest = pd.Series(text.to_numpy(zero_copy_only=False), index=values.index)[remaining]
        rest = rest[rest.str.match(_ISO_DATE.pattern)]
        years = pd.to_numeric(rest.str.slice(0, 4), errors="coerce")
        far_iso = ((years < EARLIEST.year) | (years >= LATEST.year)).to_numpy()
        far = far | values.index.isin(rest.index[far_iso])
        iso.loc[rest.index[~far_iso]] = _iso(rest[~far_iso], tz)
    in_range = naive.where(~far)
    result = _localize(in_range.astype("datetime64[ns]"), tz).where(naive.notna(), iso).where(~far)
    unparsed = ~empty & naive.isna().to_numpy() & iso.isna().to_numpy() & ~far
    return result.astype(TIMESTAMP), unparsed, far


def _fast_formats(text: pa.Array, formats: list[str]) -> tuple[pa.Array, pa.Array]:
    """``(text, seconds)``: cells parsed as written; those that fail are trimmed, normalised
    and tried again (three passes over a clean column would cost more than the parse itself).
    The returned text holds the cleaned cells, for the slower ISO fallback."""
    seconds = _strptime_first_match(text, pc.equal(text, ""), formats)
    retry = pc.and_(pc.is_null(seconds), pc.not_equal(text, "")).to_numpy(zero_copy_only=False)
    if not retry.any():
        return text, seconds
    at = np.flatnonzero(retry)
    cleaned = _normalise_date_text(text.take(at))
    again = _strptime_first_match(cleaned, pc.equal(cleaned, ""), formats)
    merged = seconds.to_numpy(zero_copy_only=False).copy()
    merged[at] = again.to_numpy(zero_copy_only=False)
    seconds = pa.array(merged, type=pa.timestamp("s"), from_pandas=True)  # NaT -> null
    return pc.replace_with_mask(text, pa.array(retry), cleaned), seconds


def _normalise_date_text(text: pa.Array) -> pa.Array:
    """Trimmed, with "4:59 p.m." as "4:59 PM" and runs of spaces as one."""
    text = pc.utf8_trim_whitespace(text)
    text = pc.replace_substring_regex(text, r"\s*([AaPp])\.?[Mm]\.?$", r" \1M")
    return pc.replace_substring_regex(text, r"\s+", " ")


def _strptime_first_match(text: pa.Array, is_empty: pa.Array, formats) -> pa.Array:
    """Seconds since the epoch from the first format that parses each cell (null if none does).

    The first format reads the whole column (an empty cell simply fails); each
    later format sees only the cells still unparsed.
    """
    first, *others = formats
    seconds = pc.strptime(text, format=first, unit="s", error_is_null=True)
    todo = pc.and_(pc.is_null(seconds), pc.invert(is_empty))
    for fmt in others:
        positions = pc.indices_nonzero(todo)
        if len(positions) == 0:
            break
        parsed = pc.strptime(pc.take(text, positions), format=fmt, unit="s", error_is_null=True)
        hit = pc.is_valid(parsed)
        if not pc.any(hit).as_py():
            continue
        found = pc.filter(positions, hit).to_numpy()
        merged = seconds.to_numpy(zero_copy_only=False).copy()
        merged[found] = pc.filter(parsed, hit).to_numpy(zero_copy_only=False)
        seconds = pa.array(merged, type=pa.timestamp("s"), from_pandas=True)
        done = np.zeros(len(text), dtype=bool)
        done[found] = True
        todo = pc.and_not(todo, pa.array(done))
    return seconds


def _formats(order: str):
    if order in ("mdy", "dmy"):
        first, second = ("%m", "%d") if order == "mdy" else ("%d", "%m")
        for sep in ("/", ".", "-"):
            base = f"{first}{sep}{second}{sep}%Y"
            yield f"{base} %I:%M %p"
            yield f"{base} %I:%M:%S %p"
            yield f"{base} %H:%M"
            yield f"{base} %H:%M:%S"
            yield base
    # ISO-like without a zone, the fast way; zoned ISO strings go through pandas
    yield "%Y-%m-%d %H:%M:%S"
    yield "%Y-%m-%dT%H:%M:%S"
    yield "%Y-%m-%d %H:%M"
    yield "%Y-%m-%d"


def _iso(values: pd.Series, tz: str) -> pd.Series:
    """ISO 8601 text with zones, offsets or fractions (the rare rest after the fast formats)."""
    out = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP)
    if values.empty:
        return out
    has_offset = values.str.contains(r"(?:Z|[+-]\d{2}:?\d{2}|UTC)$", regex=True)
    if has_offset.any():
        aware = values[has_offset].str.replace(r"\s*UTC$", "Z", regex=True)
        out.loc[aware.index] = pd.to_datetime(aware, format="ISO8601", utc=True, errors="coerce")
    naive = values[~has_offset]
    if len(naive):
        out.loc[naive.index] = _localize(pd.to_datetime(naive, format="ISO8601", errors="coerce"), tz)
    return out


def _localize(parsed: pd.Series, tz: str) -> pd.Series:
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").astype(TIMESTAMP)
    return (
        parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert("UTC").astype(TIMESTAMP)
    )


# ---------------------------------------------------------------- amounts --

_CURRENCY_SYMBOLS = {
    "$": "USD",
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "CHF": "CHF",
}
_AMOUNT = re.compile(
    r"^(?P<neg1>-)?\s*(?P<pre>[A-Z]{3}|US\$|[$€£¥₹])?\s*(?P<neg2>-)?\s*(?P<num>\d[\d.,'\s]*)\s*(?P<post>[A-Z]{3}|[$€£¥₹])?$"
)


def parse_amounts(values: pd.Series, *, default_currency: str | None) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Parse amounts such as ``USD 1,234.00``, ``$1.234,50``, ``(1,234.00)``, ``-12.5 EUR``.

    Thousands and decimal separators are decided per cell where the cell shows
    them unambiguously, else by the column's majority (so ``1,234`` in a
    column of ``12,50`` values is 1.234).

    Returns ``(amount, currency, unparsed)``.
    """
    text = values.str.strip()
    empty = (text == "").to_numpy()
    paren = text.str.match(r"^\(.*\)$").to_numpy()
    inner = text.where(~paren, text.str.slice(1, -1)).str.strip()
    parts = extract(inner, _AMOUNT.pattern)
    matched = parts["num"].notna().to_numpy()
    negative = paren | parts["neg1"].notna().to_numpy() | parts["neg2"].notna().to_numpy()
    number = parts["num"].fillna("").str.replace(r"['\s]", "", regex=True)
    comma_decimal = _comma_is_decimal(number)
    canonical = number.where(
        ~comma_decimal, number.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    )
    canonical = canonical.where(comma_decimal, canonical.str.replace(",", "", regex=False))
    amount = pd.to_numeric(canonical.where(matched, None), errors="coerce")
    bad_number = matched & amount.isna().to_numpy()
    amount = amount.where(~negative, -amount).astype("float64")
    code = parts["pre"].fillna(parts["post"]).astype("str").replace(_CURRENCY_SYMBOLS)
    currency = code.fillna(default_currency) if default_currency else code
    currency = currency.where(~empty).astype("str")
    unparsed = ~empty & (~matched | bad_number)
    return amount.where(~unparsed), currency, unparsed


def _comma_is_decimal(number: pd.Series) -> pd.Series:
    has_comma = number.str.contains(",", regex=False)
    has_dot = number.str.contains(".", regex=False)
    both = has_comma & has_dot
    comma_last = number.str.contains(r",[^.]*$", regex=True)
    lone_comma_decimal = has_comma & ~has_dot & ~number.str.match(r"^\d{1,3}(,\d{3})+$")
    lone_dot_decimal = has_dot & ~has_comma & ~number.str.match(r"^\d{1,3}(\.\d{3}){2,}$")
    decided_comma = (both & comma_last) | lone_comma_decimal
    decided_dot = (both & ~comma_last) | lone_dot_decimal
    undecided = (has_comma | has_dot) & ~decided_comma & ~decided_dot
    column_comma = decided_comma.sum() > decided_dot.sum()
    return decided_comma | (undecided & column_comma)


# ---------------------------------------------------------------- others --

_TRUE = {
    "1",
    "true",
    "yes",
    "y",
    "t",
    "x",
    "won",
    "closed",
    "wahr",
    "vrai",
    "oui",
    "ja",
    "sí",
    "si",
}
_FALSE = {"0", "false", "no", "n", "f", "", "faux", "falsch", "non", "nein"}


def parse_booleans(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    low = values.str.strip().str.casefold()
    true = low.isin(_TRUE).to_numpy()
    false = low.isin(_FALSE).to_numpy()
    return pd.Series(true, index=values.index), ~(true | false)


def parse_numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(arrow(values)), r"[,\s']", "")
    empty = pc.equal(text, "")
    valid = pc.match_substring_regex(text, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
    numbers = pc.cast(pc.if_else(valid, text, None), pa.float64())
    result = pd.Series(numbers.to_numpy(zero_copy_only=False), index=values.index).astype("Float64")
    bad = pc.and_(pc.invert(empty), pc.invert(valid)).to_numpy(zero_copy_only=False)
    return result, bad


def clean_ids(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Ids as text with surrounding space removed; empty ids are reported."""
    ids = values.str.strip()
    missing = (ids == "").to_numpy()
    return ids.where(~missing).astype("str"), missing


def clean_text(values: pd.Series) -> pd.Series:
    text = values.str.strip()
    return text.where(text != "").astype("str")
