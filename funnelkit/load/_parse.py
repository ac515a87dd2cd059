"""Vectorised parsers from export text to typed columns, with every failure collected.

Each parser returns the typed Series and a boolean mask of the cells that were
not empty and did not parse; :class:`Failures` turns masks into quarantine
rows naming file, line, column, value and reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import AmbiguousDateError, Reason
from ..schema import TIMESTAMP

EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")

_SLASH_DATE = re.compile(
    r"^(?P<a>\d{1,2})[/.\-](?P<b>\d{1,2})[/.\-](?P<y>\d{4})"
    r"(?:[ T]+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?$"
)
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2}|UTC)?$"
)

DATE_ORDERS = ("auto", "mdy", "dmy", "ymd")


@dataclass
class Failures:
    """Collects failing cells of one file into the quarantine's long shape."""

    file: str
    lines: object  # callable returning the physical line per row, computed only if needed
    parts: list[pd.DataFrame] = field(default_factory=list)

    def add(self, mask: pd.Series | np.ndarray, column: str, values: pd.Series, reason: Reason, detail) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
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
                    "detail": np.asarray(detail_values, dtype=object) if not isinstance(detail_values, str) else detail_values,
                }
            )
        )

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["file", "row", "line", "column", "value", "reason", "detail"])
        return pd.concat(self.parts, ignore_index=True)

    def rows(self) -> np.ndarray:
        return np.unique(np.concatenate([p["row"].to_numpy() for p in self.parts])) if self.parts else np.empty(0, int)


# ---------------------------------------------------------------- dates --


def date_order_evidence(values: pd.Series) -> tuple[bool, bool]:
    """(needs day-first, needs month-first) judged from slash-style dates in ``values``."""
    parts = values.str.extract(_SLASH_DATE)
    a = pd.to_numeric(parts["a"], errors="coerce")
    b = pd.to_numeric(parts["b"], errors="coerce")
    # Only values valid in exactly one order count: 31/31/2025 is evidence of nothing.
    day_first = (a > 12) & (a <= 31) & (b <= 12)
    month_first = (b > 12) & (b <= 31) & (a <= 12)
    return bool(day_first.any()), bool(month_first.any())


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
        sample = values[values != ""]
        if not sample.str.contains("/", regex=False).any() and not sample.str.match(r"^\d{1,2}\.\d{1,2}\.\d{4}").any():
            continue
        slash_cols.append(name)
        day, month = date_order_evidence(sample)
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

    Returns ``(timestamps, unparsed, out_of_range)``: the parsed values, cells that
    are not empty but match no supported format for ``order``, and dates before
    1990 or from 2100 on (kept as NaT in the result).
    """
    text = values.str.strip()
    empty = (text == "").to_numpy()
    result = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP)
    # Years outside the range are caught before parsing: 2999 would overflow pandas' range.
    year = pd.to_numeric(text.str.extract(r"(?<!\d)(\d{4})(?!\d)")[0], errors="coerce")
    far = ((year < EARLIEST.year) | (year >= LATEST.year)).fillna(False).to_numpy()
    todo = ~empty & ~far
    for fmt, pattern in _formats(order):
        if not todo.any():
            break
        subset = text[todo]
        matches = subset.str.match(pattern).to_numpy() if pattern is not None else np.ones(len(subset), bool)
        if not matches.any():
            continue
        cand = subset[matches]
        parsed = _to_datetime(cand, fmt, tz)
        ok = parsed.notna().to_numpy()
        index = cand.index[ok]
        result.loc[index] = parsed[ok]
        done = np.zeros(len(values), bool)
        done[values.index.get_indexer(index)] = True
        todo &= ~done
    return result, todo, far


def _formats(order: str):
    if order in ("mdy", "dmy"):
        first, second = ("%m", "%d") if order == "mdy" else ("%d", "%m")
        for sep in ("/", ".", "-"):
            esc = re.escape(sep)
            base = f"{first}{sep}{second}{sep}%Y"
            date = rf"^\d{{1,2}}{esc}\d{{1,2}}{esc}\d{{4}}"
            yield f"{base} %I:%M %p", date + r" \d{1,2}:\d{2} ?[AaPp][Mm]$"
            yield f"{base} %I:%M:%S %p", date + r" \d{1,2}:\d{2}:\d{2} ?[AaPp][Mm]$"
            yield f"{base} %H:%M", date + r" \d{1,2}:\d{2}$"
            yield f"{base} %H:%M:%S", date + r" \d{1,2}:\d{2}:\d{2}$"
            yield base, date + "$"
    yield "ISO8601", _ISO_DATE.pattern


def _to_datetime(values: pd.Series, fmt: str, tz: str) -> pd.Series:
    if fmt == "ISO8601":
        has_offset = values.str.contains(r"(?:Z|[+-]\d{2}:?\d{2}|UTC)$", regex=True)
        out = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP)
        if has_offset.any():
            aware = values[has_offset].str.replace(r"\s*UTC$", "Z", regex=True)
            out.loc[has_offset] = pd.to_datetime(aware, format="ISO8601", utc=True, errors="coerce")
        naive = ~has_offset
        if naive.any():
            parsed = pd.to_datetime(values[naive], format="ISO8601", errors="coerce")
            out.loc[naive] = _localize(parsed, tz)
        return out
    normalised = values.str.replace(r"\s*([AaPp])\.?([Mm])\.?$", lambda m: " " + (m.group(1) + m.group(2)).upper(), regex=True)
    normalised = normalised.str.replace(r"\s+", " ", regex=True)
    parsed = pd.to_datetime(normalised, format=fmt, errors="coerce")
    return _localize(parsed, tz)


def _localize(parsed: pd.Series, tz: str) -> pd.Series:
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").astype(TIMESTAMP)
    return (
        parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        .dt.tz_convert("UTC")
        .astype(TIMESTAMP)
    )


# ---------------------------------------------------------------- amounts --

_CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "CHF": "CHF"}
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
    parts = inner.str.extract(_AMOUNT)
    matched = parts["num"].notna().to_numpy()
    negative = paren | parts["neg1"].notna().to_numpy() | parts["neg2"].notna().to_numpy()
    number = parts["num"].fillna("").str.replace(r"['\s]", "", regex=True)
    comma_decimal = _comma_is_decimal(number)
    canonical = number.where(~comma_decimal, number.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
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
    comma_last = number.str.rfind(",") > number.str.rfind(".")
    lone_comma_decimal = has_comma & ~has_dot & ~number.str.match(r"^\d{1,3}(,\d{3})+$")
    lone_dot_decimal = has_dot & ~has_comma & ~number.str.match(r"^\d{1,3}(\.\d{3}){2,}$")
    decided_comma = (both & comma_last) | lone_comma_decimal
    decided_dot = (both & ~comma_last) | lone_dot_decimal
    undecided = (has_comma | has_dot) & ~decided_comma & ~decided_dot
    column_comma = decided_comma.sum() > decided_dot.sum()
    return decided_comma | (undecided & column_comma)


# ---------------------------------------------------------------- others --

_TRUE = {"1", "true", "yes", "y", "t", "x", "won", "closed", "wahr", "vrai", "oui", "ja", "sí", "si"}
_FALSE = {"0", "false", "no", "n", "f", "", "faux", "falsch", "non", "nein"}


def parse_booleans(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    low = values.str.strip().str.casefold()
    true = low.isin(_TRUE).to_numpy()
    false = low.isin(_FALSE).to_numpy()
    return pd.Series(true, index=values.index), ~(true | false)


def parse_numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    text = values.str.strip().str.replace(r"[,\s']", "", regex=True)
    empty = (text == "").to_numpy()
    number = pd.to_numeric(text.where(~empty, None), errors="coerce").astype("Float64")
    return number, ~empty & number.isna().to_numpy()


def clean_ids(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Ids as text with surrounding space removed; empty ids are reported."""
    ids = values.str.strip()
    missing = (ids == "").to_numpy()
    return ids.where(~missing).astype("str"), missing


def clean_text(values: pd.Series) -> pd.Series:
    text = values.str.strip()
    return text.where(text != "").astype("str")
