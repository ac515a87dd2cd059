"""Vectorised parsers from export text to typed columns, with every failure collected.

Each parser returns the typed Series and a boolean mask of the cells that were
not empty and did not parse; :class:`Failures` turns masks into quarantine
rows naming file, line, column, value and reason, and keeps the notes about
values that were read but deserve a word (a time in a clock change).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._arrow import arrow, text_dtype
from ..errors import AmbiguousDateError, ParameterError, Reason
from ..schema import TIMESTAMP
from . import _duck

EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2}|UTC)?$")

DATE_ORDERS = ("auto", "mdy", "dmy", "ymd")

#: Read each date format in DuckDB (:func:`funnelkit.load._duck.strptime`) rather than Arrow.
DATES_IN_DUCKDB = False


@dataclass
class Failures:
    """Collects failing cells of one file into the quarantine's long shape."""

    file: str
    lines: object  # callable returning the physical line per row, computed only if needed
    parts: list[pd.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
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

    def note(self, text: str) -> None:
        """A note about this file for ``data.notes`` (values kept, but read by a rule worth saying)."""
        with self._lock:
            self.notes.append(f"{Path(self.file).name}: {text}")

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


# Day-first and month-first dates take a four-digit year or a two-digit one (02/23/26, as Salesforce
# reports and Excel write them). The evidence regexes read a cell's first ten characters, which may
# end inside the time that follows a two-digit year.
_YEAR = r"(\d{4}|\d{2})(\D|$)"
_SLASH_HEAD = r"^\s*\d{1,2}[/.]\d{1,2}[/.]" + _YEAR
_DAY_FIRST = r"^\s*(1[3-9]|2\d|3[01])[/.\-](0?[1-9]|1[0-2])[/.\-]" + _YEAR
_MONTH_FIRST = r"^\s*(0?[1-9]|1[0-2])[/.\-](1[3-9]|2\d|3[01])[/.\-]" + _YEAR


def date_order_evidence(values: pd.Series) -> tuple[bool, bool]:
    """(needs day-first, needs month-first) judged from slash-style dates in ``values``.

    Only a date valid in exactly one order is evidence: 25/06/2025 is day-first,
    06/25/2025 month-first, 31/31/2025 evidence of nothing. Two-digit years
    count alike: 02/23/26 is month-first, 02/03/24 evidence of nothing.

    Examples
    --------
    >>> date_order_evidence(pd.Series(["02/03/24", "02/23/26 08:55 PM"], dtype="str"))
    (False, True)
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
    field above 12 means month-first; both means the file mixes orders. Dates
    with a two-digit year (02/23/26) are slash dates like those with four
    digits; a file without slash dates is year-first ("ymd": ISO 8601,
    2018.02.01, 2025/3/4).

    Examples
    --------
    >>> decide_date_order("deals.csv", {"Close Date": pd.Series(["02/03/24", "02/23/26"], dtype="str")}, "auto")
    'mdy'
    """
    if date_order not in DATE_ORDERS:
        raise ParameterError(f"date_order must be one of {DATE_ORDERS}; got {date_order!r}")
    if date_order != "auto":
        return date_order
    dayfirst_cols, monthfirst_cols, slash_cols = [], [], []
    for name, values in columns.items():
        heads = _date_heads(values)
        if not pc.any(pc.match_substring_regex(heads, _SLASH_HEAD)).as_py():
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


def check_time_zone(tz: str) -> None:
    """Fail with a :class:`~funnelkit.ParameterError` unless ``tz`` names a time zone pandas knows."""
    try:
        pd.Timestamp("2000-01-01").tz_localize(tz)
    except (KeyError, ValueError, TypeError, AttributeError):  # zoneinfo's not-found error is a KeyError
        raise ParameterError(
            f"tz must be a time zone name such as 'UTC', 'Europe/Berlin' or 'America/New_York'; got {tz!r}"
        ) from None


def parse_datetimes(
    values: pd.Series, *, order: str, tz: str
) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse export text to UTC timestamps.

    Each supported format is tried in turn on the cells still unparsed (Arrow's
    ``strptime`` must consume the whole cell, so formats cannot overlap); see
    :func:`_formats` for the formats and the reading of two-digit years. Times
    written without a zone are wall-clock times in ``tz``.

    Parameters
    ----------
    values : Series of str
        One column of an export.
    order : {"mdy", "dmy", "ymd"}
        The file's order of slash dates (:func:`decide_date_order`).
    tz : str
        Time zone of times written without one.

    Returns
    -------
    timestamps : Series
        UTC timestamps; NaT for empty cells and for every cell flagged below.
    unparsed : ndarray of bool
        Cells that are not empty but match no format for ``order``.
    out_of_range : ndarray of bool
        Dates before 1990 or from 2100 on.
    nonexistent : ndarray of bool
        Wall-clock times that never happen in ``tz`` (skipped by the spring clock change).
    folded : ndarray of bool
        Wall-clock times that happen twice in ``tz`` (the autumn clock change); they
        are read as their first occurrence and are not NaT.

    Examples
    --------
    >>> values = pd.Series(["02/23/26 08:55 PM", "2025.10.26 02:30", "2025/3/30 02:30"], dtype="str")
    >>> stamps, unparsed, far, nonexistent, folded = parse_datetimes(values, order="mdy", tz="Europe/Berlin")
    >>> stamps.dt.strftime("%Y-%m-%d %H:%M").tolist()
    ['2026-02-23 19:55', '2025-10-26 00:30', nan]
    >>> folded.tolist(), nonexistent.tolist()
    ([False, True, False], [False, False, True])
    """
    check_time_zone(tz)
    text, seconds = _fast_formats(arrow(values), list(_formats(order)))
    empty = pc.equal(text, "").to_numpy(zero_copy_only=False)
    naive = pd.Series(seconds.to_numpy(zero_copy_only=False), index=values.index)
    far = ((naive < EARLIEST.tz_localize(None)) | (naive >= LATEST.tz_localize(None))).to_numpy()
    remaining = naive.isna().to_numpy() & ~empty
    if not remaining.any() and not far.any():  # every cell in one of the fast formats, in range
        stamps, nonexistent, folded = _localize(naive, tz)
        return stamps, remaining, far, nonexistent, folded
    naive = naive.where(~far).astype("datetime64[ns]")  # far years do not fit in nanoseconds
    aware = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP)
    if remaining.any():
        rest = pd.Series(text.to_numpy(zero_copy_only=False), index=values.index)[remaining]
        rest = rest[rest.str.match(_ISO_DATE.pattern)]
        years = pd.to_numeric(rest.str.slice(0, 4), errors="coerce")
        far_iso = ((years < EARLIEST.year) | (years >= LATEST.year)).to_numpy()
        far = far | values.index.isin(rest.index[far_iso])
        wall, utc = _iso(rest[~far_iso])
        naive.loc[wall.index] = wall
        aware.loc[utc.index] = utc
    stamps, nonexistent, folded = _localize(naive, tz)
    stamps = stamps.where(aware.isna(), aware)
    unparsed = ~empty & stamps.isna().to_numpy() & ~far & ~nonexistent
    return stamps.astype(TIMESTAMP), unparsed, far, nonexistent, folded


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


#: Chinese and Japanese morning / afternoon markers written before the time ("下午 2:05", "午後2:05")
_CJK_AM, _CJK_PM = "(?:上午|午前)", "(?:下午|午後)"
_CLOCK = r"(\d{1,2}:\d{2}(?::\d{2})?)"


def _normalise_date_text(text: pa.Array) -> pa.Array:
    """Trimmed, with "4:59 p.m." as "4:59 PM" and runs of spaces as one; CJK dates as year-first slashes.

    ``2025 年 3 月 4 日 14:05`` (spaced or not, the time joined or not) becomes
    ``2025/3/4 14:05``, and a CJK morning or afternoon marker before the time
    (``下午 2:05``, ``午後2:05``) becomes ``2:05 PM``.
    """
    text = pc.utf8_trim_whitespace(text)
    text = pc.replace_substring_regex(text, r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*", r"\1/\2/\3 ")
    text = pc.replace_substring_regex(text, _CJK_AM + r"\s*" + _CLOCK, r"\1 AM")
    text = pc.replace_substring_regex(text, _CJK_PM + r"\s*" + _CLOCK, r"\1 PM")
    text = pc.replace_substring_regex(text, r"\s*([AaPp])\.?[Mm]\.?$", r" \1M")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))


def _strptime_first_match(text: pa.Array, is_empty: pa.Array, formats) -> pa.Array:
    """Seconds since the epoch from the first format that parses each cell (null if none does).

    The first format reads the whole column (an empty cell simply fails); each
    later format sees only the cells still unparsed.
    """
    first, *others = formats
    seconds = _strptime(text, first)
    todo = pc.and_(pc.is_null(seconds), pc.invert(is_empty))
    for fmt in others:
        positions = pc.indices_nonzero(todo)
        if len(positions) == 0:
            break
        parsed = _strptime(pc.take(text, positions), fmt)
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


_YEAR_100 = pa.scalar(dt.datetime(100, 1, 1), type=pa.timestamp("s"))
_NO_TIME = pa.scalar(None, type=pa.timestamp("s"))


def _strptime(text: pa.Array, fmt: str) -> pa.Array:
    """Arrow's strptime, except that ``%Y`` must not read a two-digit year.

    strptime's ``%Y`` takes 1 to 4 digits, so "%m/%d/%Y" would read 02/23/26
    as the year 26: such a cell is refused here and the ``%y`` format tried
    next reads it as 2026.
    """
    if DATES_IN_DUCKDB:
        return _duck.strptime(text, fmt)
    seconds = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    if "%Y" in fmt and pc.less(pc.min(seconds), _YEAR_100).as_py():  # one pass, no copy, when none is
        seconds = pc.if_else(pc.less(seconds, _YEAR_100), _NO_TIME, seconds)
    return _refuse_rolled_over(text, seconds, fmt)


def _refuse_rolled_over(text: pa.Array, seconds: pa.Array, fmt: str) -> pa.Array:
    """Null where Arrow's strptime rolled a day past the month's end over into the next month.

    Arrow reads 02/30/2024 as 2024-03-01 and 04/31/2025 as 2025-05-01; such a cell is no
    date (DuckDB's ``try_strptime`` refuses it too). A rolled-over day lands on the 1st to
    3rd, so only those cells are checked: the day written (the first, second or third
    number of the cell, where ``fmt`` puts ``%d``) must be the day read.
    """
    fields = re.findall(r"%[dmYy]", fmt)
    if "%d" not in fields or len(fields) < 3:
        return seconds
    early = pc.less_equal(pc.day(seconds), 3).fill_null(False)
    if not pc.any(early).as_py():
        return seconds
    at = pc.indices_nonzero(early)
    written = pc.extract_regex(pc.take(text, at), r"^\D*(?P<f0>\d+)\D+(?P<f1>\d+)\D+(?P<f2>\d+)")
    day = pc.cast(pc.struct_field(written, f"f{fields.index('%d')}"), pa.int64())
    rolled = pc.not_equal(day, pc.day(pc.take(seconds, at))).fill_null(False).to_numpy(zero_copy_only=False)
    if not rolled.any():
        return seconds
    mask = np.zeros(len(seconds), dtype=bool)
    mask[at.to_numpy()[rolled]] = True
    return pc.if_else(pa.array(mask), _NO_TIME, seconds)


def _formats(order: str):
    """strptime formats for ``order``, most common first.

    Day-first and month-first dates have a four-digit year or a two-digit one,
    read as POSIX strptime's ``%y`` reads it: 00-68 are 2000-2068 and 69-99 are
    1969-1999 (and so quarantined as before 1990). The pivot is fixed, not
    sliding with today's date, so a file reads the same every year. Year-first
    dates are read for every order: ISO 8601 with dashes, and with dots or
    slashes (2018.02.26 19:58, 2025/3/4) as some CRMs export them, and as
    Chinese and Japanese exports write them (2025年3月4日 14:05, 2025/3/4 下午 2:05,
    normalised by :func:`_normalise_date_text`); a single-digit month or day is
    read as it is.

    Examples
    --------
    >>> list(_formats("mdy"))[:3]
    ['%m/%d/%Y %I:%M %p', '%m/%d/%y %I:%M %p', '%m/%d/%Y %I:%M:%S %p']
    """
    if order in ("mdy", "dmy"):
        first, second = ("%m", "%d") if order == "mdy" else ("%d", "%m")
        for sep in ("/", ".", "-"):
            for time in (" %I:%M %p", " %I:%M:%S %p", " %H:%M", " %H:%M:%S", ""):
                for year in ("%Y", "%y"):
                    yield f"{first}{sep}{second}{sep}{year}{time}"
    # ISO-like without a zone, the fast way; zoned ISO strings go through pandas
    yield "%Y-%m-%d %H:%M:%S"
    yield "%Y-%m-%dT%H:%M:%S"
    yield "%Y-%m-%d %H:%M"
    yield "%Y-%m-%d"
    for sep in (".", "/"):
        for time in (" %H:%M:%S", " %H:%M", ""):
            yield f"%Y{sep}%m{sep}%d{time}"
    # as Chinese and Japanese exports write them; spaced forms and 上午/下午 times are normalised first
    for time in (" %H:%M:%S", " %H:%M", "%H:%M", ""):
        yield f"%Y年%m月%d日{time}"
    for sep in ("/", "-"):
        for time in (" %I:%M %p", " %I:%M:%S %p"):
            yield f"%Y{sep}%m{sep}%d{time}"


def _iso(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO 8601 text with zones, offsets or fractions (the rare rest after the fast formats).

    Returns ``(wall, utc)``: the wall-clock times of cells written without a
    zone (for the caller to localise) and the UTC instants of those with one.
    """
    has_offset = values.str.contains(r"(?:Z|[+-]\d{2}:?\d{2}|UTC)$", regex=True)
    aware = values[has_offset].str.replace(r"\s*UTC$", "Z", regex=True)
    utc = pd.to_datetime(aware, format="ISO8601", utc=True, errors="coerce")
    wall = pd.to_datetime(values[~has_offset], format="ISO8601", errors="coerce")
    return wall, utc


def _localize(naive: pd.Series, tz: str) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """UTC instants of wall-clock times in ``tz``, with the cells a clock change touches.

    Returns ``(timestamps, nonexistent, folded)``. A time in the autumn fold
    (02:30 on 2025-10-26 happens twice in Europe/Berlin) is read as its first
    occurrence; a time in the spring gap (02:30 on 2025-03-30 never happens
    there) is NaT and marked nonexistent, for the quarantine.
    """
    naive = naive.astype("datetime64[ns]")
    stamps = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC").astype(TIMESTAMP)
    unmatched = np.zeros(len(naive), dtype=bool)
    lost = (stamps.isna() & naive.notna()).to_numpy()
    if not lost.any():
        return stamps, unmatched, unmatched
    times = naive[lost]
    summer = times.dt.tz_localize(tz, ambiguous=True, nonexistent="NaT").dt.tz_convert("UTC").astype(TIMESTAMP)
    winter = times.dt.tz_localize(tz, ambiguous=False, nonexistent="NaT").dt.tz_convert("UTC").astype(TIMESTAMP)
    # the first occurrence is the earlier instant, whichever side a zone calls summer time
    first = summer.where(summer <= winter, winter)
    folded = unmatched.copy()
    folded[lost] = first.notna().to_numpy()
    stamps.iloc[np.flatnonzero(lost)] = first.array
    return stamps, lost & ~folded, folded


# ---------------------------------------------------------------- amounts --
#
# Amounts are float64. Every integer up to 2**53 = 9,007,199,254,740,992 is exact; a longer one
# is read as the nearest float64 (9,007,199,254,740,993 becomes ...992), far beyond any deal.

#: Currency symbols and local abbreviations -> ISO 4217 code. Three capital letters are taken as a
#: code as written ("SEK 1 234,00"), except the few abbreviations listed here ("RMB").
_CURRENCY_SYMBOLS = {
    "$": "USD",
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "CHF": "CHF",
    "Fr.": "CHF",
    "SFr.": "CHF",
    "TL": "TRY",
    "₺": "TRY",
    "zł": "PLN",
    "R$": "BRL",
    "CN¥": "CNY",
    "RMB": "CNY",
    "NT$": "TWD",
    "HK$": "HKD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "S$": "SGD",
    "MX$": "MXN",
    "₩": "KRW",
    "₽": "RUB",
    "₪": "ILS",
    "₱": "PHP",
    "฿": "THB",
    "₴": "UAH",
    "₦": "NGN",
    "₫": "VND",
    "Kč": "CZK",
    "Ft": "HUF",
}
#: "kr" is the krona or krone of four countries: it is read only when ``currency=`` names one of them.
KRONA = ("DKK", "ISK", "NOK", "SEK")
_KRONA_SIGNS = ("kr", "kr.", "Kr", "Kr.")
# spaces that group digits: ordinary, no-break (French, Czech...), narrow no-break (French since
# 2019), thin; and apostrophes (Swiss, also the typographic one)
_GROUP_MARKS = "'\u2019 \u00a0\u202f\u2009"
_SPACE = "[\\s\u00a0\u202f\u2009]"
_SIGN = "[-\u2212]"
_SYMBOL = "|".join(
    [re.escape(s) for s in sorted([*_CURRENCY_SYMBOLS, *_KRONA_SIGNS], key=len, reverse=True)] + ["[A-Z]{3}"]
)
_AMOUNT = re.compile(
    f"^(?P<neg1>{_SIGN})?{_SPACE}*(?P<pre>{_SYMBOL})?{_SPACE}*(?P<neg2>{_SIGN})?{_SPACE}*"
    f"(?P<num>\\d[\\d.,{_GROUP_MARKS}]*){_SPACE}*(?P<post>{_SYMBOL})?$"
)
# Shapes of a number once its group spaces and apostrophes are gone. A single separator before
# exactly three digits ("1.500", "1,500") is a decimal point in one locale and a thousands
# separator in another; every other shape shows which character is the decimal point.
_PLAIN = r"^\d+$"
_COMMA_DECIMAL = r"^(\d+|[1-9]\d{0,2}(\.\d{3})+),\d+$"  # "12,50", "1.234,56", "0,500"
_DOT_DECIMAL = r"^(\d+|[1-9]\d{0,2}(,\d{3})+)\.\d+$"  # "12.50", "1,234.56", "0.500"
_COMMA_GROUPS = r"^[1-9]\d{0,2}(,\d{3})+$"  # "1,234,567" (or the ambiguous "1,500")
_DOT_GROUPS = r"^[1-9]\d{0,2}(\.\d{3})+$"  # "1.234.567" (or the ambiguous "1.500")
_ONE_GROUP = r"^[1-9]\d{0,2}[.,]\d{3}$"  # a group never starts with 0: "0,500" is a decimal

#: Key under which the amount parser hands the currency written in each cell to the loader.
WRITTEN_CURRENCY = "_currency_written_with_amount"


@dataclass(frozen=True)
class Amounts:
    """One amount column read: values, the currency each cell names, and what failed.

    ``written`` holds the ISO code a cell's text names (``"kr"`` resolved through the
    default currency), missing where the cell names none. ``failed`` marks cells that are
    not empty and were not read, with the reason in ``detail``. ``undecided`` is the
    sentence saying how a column without decimal-separator evidence was read, or None.
    """

    amount: pd.Series
    written: pd.Series
    failed: np.ndarray
    detail: np.ndarray
    undecided: str | None


def read_amounts(values: pd.Series, *, default_currency: str | None) -> Amounts:
    """Read a column of amounts such as ``USD 1,234.00``, ``1 234,56 €``, ``(1,234.00)``, ``zł 12,50``.

    The number format is decided for the whole column, never per cell: cells whose shape
    shows the decimal point ("1.234,56" or "12,50": comma; "1,234.56" or "12.50": dot) are
    the evidence, and the column's format is the one more cells show (a tie goes to the dot).
    It then reads every cell, so in a column of "EUR 12,50" values "EUR 1.500" is 1,500.
    Cells that show the other format contradict the column and fail ("the column writes
    decimals with ..."). A column with no evidence at all (only "1.500" or "1,500" shapes)
    is read with a decimal dot and a thousands comma, as most CRMs export, and
    ``undecided`` says so. Spaces of any width and apostrophes group digits.

    A currency is a three-letter code or a symbol or abbreviation of ``_CURRENCY_SYMBOLS``,
    before or after the number. "kr" (Danish, Icelandic, Norwegian or Swedish) is read only
    when ``default_currency`` is one of those; otherwise the cell fails.
    """
    text = pc.utf8_trim_whitespace(arrow(values))
    empty = pc.equal(text, "").to_numpy(zero_copy_only=False)
    paren = pc.match_substring_regex(text, r"^\(.*\)$")
    inner = text
    if pc.any(paren).as_py():  # accounting negatives, "(1,234.00)": rare, so only then
        inner = pc.utf8_trim_whitespace(pc.if_else(paren, pc.utf8_slice_codeunits(text, 1, -1), text))
    parts = pc.extract_regex(inner, _AMOUNT.pattern)
    matched = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    digits = pc.replace_substring_regex(pc.struct_field(parts, "num"), f"[{_GROUP_MARKS}]", "")
    comma_column, contradicts, detail, undecided = _decimal_separator(digits, text, matched)
    readable = pc.match_substring_regex(digits, "|".join((_PLAIN, _COMMA_DECIMAL, _DOT_DECIMAL, _COMMA_GROUPS,
                                                          _DOT_GROUPS))).fill_null(False)  # fmt: skip
    if comma_column:
        canonical = pc.replace_substring(pc.replace_substring(digits, ".", ""), ",", ".")
    else:
        canonical = pc.replace_substring(digits, ",", "")
    ok = pc.and_(readable, pc.invert(pa.array(contradicts)))
    number = pc.cast(pc.if_else(ok, canonical, None), pa.float64()).to_numpy(zero_copy_only=False)
    negative = pc.or_(paren, pc.or_(_signed(parts, "neg1"), _signed(parts, "neg2")))
    number = np.where(negative.fill_null(False).to_numpy(zero_copy_only=False), -number, number)
    written, bad_currency, currency_detail = _written_currency(parts, default_currency)
    not_a_number = matched & ~ok.fill_null(False).to_numpy(zero_copy_only=False) & ~contradicts
    failed = ~empty & (~matched | not_a_number | contradicts | bad_currency)
    why = np.full(len(failed), None, dtype=object)  # filled on failing cells only: most columns have none
    why[failed] = "not an amount"
    why[failed & bad_currency] = currency_detail
    why[failed & contradicts] = detail
    index = values.index
    amount = pd.Series(np.where(failed | empty, np.nan, number), index=index, dtype="float64")
    written = written.set_axis(index).where(~(failed | empty))
    return Amounts(amount, written, failed, why, undecided)


def _decimal_separator(digits: pa.Array, text: pa.Array, matched: np.ndarray) -> tuple:
    """``(comma_is_decimal, contradicting cells, their detail, note when nothing decides)``."""
    one_group = pc.match_substring_regex(digits, _ONE_GROUP).fill_null(False)
    comma_says = pc.or_(pc.match_substring_regex(digits, _COMMA_DECIMAL), pc.match_substring_regex(digits, _DOT_GROUPS))
    dot_says = pc.or_(pc.match_substring_regex(digits, _DOT_DECIMAL), pc.match_substring_regex(digits, _COMMA_GROUPS))
    comma_says = pc.and_not(comma_says.fill_null(False), one_group).to_numpy(zero_copy_only=False)
    dot_says = pc.and_not(dot_says.fill_null(False), one_group).to_numpy(zero_copy_only=False)
    commas, dots = int(comma_says.sum()), int(dot_says.sum())
    comma_column = commas > dots
    contradicts = dot_says if comma_column else comma_says
    detail = ""
    if contradicts.any():
        sign, other = (",", ".") if comma_column else (".", ",")
        example = text[int(np.flatnonzero(comma_says if comma_column else dot_says)[0])].as_py()
        detail = (
            f"the column writes decimals with {sign!r} ({max(commas, dots):,} cells such as '{example}'; "
            f"{min(commas, dots):,} with {other!r}): this cell's format contradicts it"
        )
    undecided = None
    ambiguous = one_group.to_numpy(zero_copy_only=False) & matched
    if not commas and not dots and ambiguous.any():
        example = text[int(np.flatnonzero(ambiguous)[0])].as_py()
        undecided = (
            f"{int(ambiguous.sum()):,} amounts such as '{example}' have one '.' or ',' before three digits "
            "and no other amount shows the column's decimal sign; they were read with a decimal dot "
            "and a thousands comma (1.500 as 1.5, 1,500 as 1500)"
        )
    return comma_column, contradicts, detail, undecided


def _written_currency(parts: pa.StructArray, default_currency: str | None) -> tuple[pd.Series, np.ndarray, str]:
    """The ISO code each cell names (or missing), the cells whose sign cannot be read, and why."""
    sign = pc.coalesce(_blank_as_null(pc.struct_field(parts, "pre")), _blank_as_null(pc.struct_field(parts, "post")))
    krona = pc.is_in(sign, value_set=pa.array(_KRONA_SIGNS, type=sign.type)).fill_null(False)
    krona = krona.to_numpy(zero_copy_only=False)
    symbols = pa.array(list(_CURRENCY_SYMBOLS), type=sign.type)
    iso = pc.take(pa.array(list(_CURRENCY_SYMBOLS.values()), type=sign.type), pc.index_in(sign, value_set=symbols))
    code = pc.coalesce(iso, sign).to_pandas(types_mapper=text_dtype)
    detail = (
        "'kr' is the krona or krone of Denmark, Iceland, Norway and Sweden: load with currency= "
        f"one of {', '.join(KRONA)} to say which"
    )
    if default_currency in KRONA:
        code = code.where(~krona, default_currency)
        krona = np.zeros(len(code), dtype=bool)
    return code.where(~krona).astype("str"), krona, detail


def _signed(parts: pa.StructArray, name: str) -> pa.Array:
    return pc.not_equal(pc.struct_field(parts, name), "").fill_null(False)


def _blank_as_null(field: pa.Array) -> pa.Array:
    """RE2 gives "" for an optional group that did not take part."""
    return pc.if_else(pc.equal(field, ""), None, field)


def type_amounts(values: pd.Series, header: str, *, default_currency: str | None, fails: Failures) -> dict:
    """Amounts of one export column, failures quarantined and the column's number rule noted.

    Returns ``{"amount": ..., WRITTEN_CURRENCY: ...}``; :func:`settle_currencies` then
    turns the written currencies into the ``currency`` column.
    """
    amounts = read_amounts(values, default_currency=default_currency)
    fails.add(amounts.failed, header, values, Reason.BAD_AMOUNT, amounts.detail)
    if amounts.undecided:
        fails.note(f"{header!r}: {amounts.undecided}")
    return {"amount": amounts.amount, WRITTEN_CURRENCY: amounts.written}


def settle_currencies(
    amount: pd.Series,
    written: pd.Series,
    column: pd.Series | None,
    *,
    default_currency: str | None,
) -> tuple[pd.Series, np.ndarray, np.ndarray, str]:
    """The currency of every amount: the currency column where filled, else the amount's own
    code, else ``default_currency``.

    An amount without any, in a file whose other amounts name currencies, cannot be told
    apart from them: it fails (it is never counted in some currency by a guess, nor dropped
    from revenue unseen). A file that names no currency at all keeps its amounts without one.

    Returns ``(currency, missing, conflicting, missing_detail)``: ``missing`` marks amounts
    without a currency in such a file; ``conflicting`` amounts whose code differs from the
    currency column's.
    """
    from_column = column.str.strip().str.upper().where(lambda c: c != "") if column is not None else None
    currency = written if from_column is None else from_column.fillna(written)
    conflicting = np.zeros(len(amount), dtype=bool)
    if from_column is not None:
        conflicting = (from_column.notna() & written.notna() & (from_column != written)).to_numpy()
    if default_currency:
        currency = currency.fillna(default_currency)
    has_amount = amount.notna().to_numpy()
    known = currency.notna().to_numpy()
    named = sorted(currency[known].unique())
    missing = has_amount & ~known & bool(named)
    where = " and its currency cell is blank" if column is not None else ""
    detail = (
        f"no currency: the amount names none{where}, while the file's other amounts are in "
        f"{', '.join(named)}; load with currency= to say which currency amounts without one are in"
    )
    currency = currency.where(has_amount | (from_column.notna() if from_column is not None else False))
    return currency.where(~(missing | conflicting)).astype("str"), missing, conflicting, detail


def parse_amounts(values: pd.Series, *, default_currency: str | None) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Amounts of one column as ``(amount, currency, unparsed)`` (see :func:`read_amounts`).

    ``currency`` is the cell's own code, else ``default_currency``; empty cells have none.
    """
    amounts = read_amounts(values, default_currency=default_currency)
    currency = amounts.written.fillna(default_currency) if default_currency else amounts.written
    currency = currency.where(amounts.amount.notna())
    return amounts.amount, currency.astype("str"), amounts.failed


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
    if _nothing_to_trim(values):
        return values, np.zeros(len(values), dtype=bool)
    ids = values.str.strip()
    missing = (ids == "").to_numpy()
    return ids.where(~missing).astype("str"), missing


def all_match(text: pd.Series, pattern: str, *, sample: int = 4096) -> bool:
    """Whether every filled cell of ``text`` matches the RE2 ``pattern`` (empty columns: False).

    pandas' ``str.fullmatch`` loops over the cells in Python (a third of a second per
    column at 1M rows). Here Arrow's RE2 checks the first ``sample`` filled cells first,
    which settles the usual text column at once, then the rest.

    Examples
    --------
    >>> all_match(pd.Series(["12", None, "7"], dtype="str"), r"^\\d+$")
    True
    """
    filled = arrow(text).drop_null()
    if not len(filled):
        return False
    head, rest = filled[:sample], filled[sample:]
    if not pc.all(pc.match_substring_regex(head, pattern)).as_py():
        return False
    return pc.all(pc.match_substring_regex(rest, pattern)).as_py() is not False


def clean_text(values: pd.Series) -> pd.Series:
    """Text with surrounding space removed; an empty cell is missing."""
    if _nothing_to_trim(values):
        return values
    text = values.str.strip()
    return text.where(text != "").astype("str")


def _nothing_to_trim(values: pd.Series) -> bool:
    """Whether Arrow-backed text has no cell with surrounding space and none empty, as most columns of an
    export: cleaning then returns the column itself, sharing its buffers, where a copy held each text
    column twice while a file was typed (1M leads: 220 MB of the load's peak)."""
    if not (values.dtype == "str" and values.dtype.storage == "pyarrow"):
        return False
    text = pa.array(values)  # no copy
    trimmed = pc.binary_length(pc.utf8_trim_whitespace(text))  # the same trim as pandas' str.strip
    return pc.min(trimmed).as_py() != 0 and pc.all(pc.equal(trimmed, pc.binary_length(text))).as_py() is not False
