"""Keeping CRM text inert: HTML escaping, spreadsheet formula neutralising, redaction.

Names, companies and notes in a CRM are typed by anyone. In a report they
must stay text (never live HTML), in a CSV or Excel file opened by a person
they must never become a formula (OWASP "CSV injection"), and in a shared
report personal data can be replaced by stable pseudonyms.
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

#: cells starting with these are read as formulas by Excel, LibreOffice and Google Sheets
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{6,}\d(?!\w)")


def escape(text) -> str:
    """HTML-escape one value for display (quotes included)."""
    return html.escape("" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text))


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where text cells that a spreadsheet would run as a formula start with ``'``.

    Real numbers (``-12.5``, numeric columns) are left as they are.

    Examples
    --------
    >>> neutralise_formulas(pd.DataFrame({"a": ["=1+1", "-12.5", "@SUM(A1)", "ok"]}))["a"].tolist()
    ["'=1+1", '-12.5', "'@SUM(A1)", 'ok']
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        text = values.astype("str")
        risky = text.str.startswith(FORMULA_START, na=False) & ~text.str.match(_NUMBER.pattern, na=False)
        out[column] = text.where(~risky, "'" + text)
        out.loc[values.isna(), column] = None
    return out


def to_csv_safe(frame: pd.DataFrame, path: str | Path, **options) -> Path:
    """Write ``frame`` as CSV for people to open, with formulas neutralised (UTF-8 with BOM
    so Excel reads accents right)."""
    path = Path(path)
    neutralise_formulas(frame).to_csv(path, index=options.pop("index", False), encoding="utf-8-sig", **options)
    return path


def to_excel_safe(frame: pd.DataFrame, path: str | Path, **options) -> Path:
    """Write ``frame`` as .xlsx with formulas neutralised."""
    path = Path(path)
    neutralise_formulas(frame).to_excel(path, index=options.pop("index", False), **options)
    return path


def pseudonym(value, kind: str, *, salt: str = "") -> str | None:
    """A stable pseudonym: the same input always gives the same ``Kind-1a2b3c``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    digest = hashlib.sha256(f"{salt}|{kind}|{value}".encode()).hexdigest()[:6]
    return f"{kind}-{digest}"


def redact(frame: pd.DataFrame, *, person_columns=(), text_columns=(), salt: str = "") -> pd.DataFrame:
    """A copy with personal data replaced by stable pseudonyms.

    ``person_columns`` (names, owners, emails) are replaced whole; in
    ``text_columns`` e-mail addresses and phone numbers inside the text are
    replaced. The same value always maps to the same pseudonym, so counts
    per person still add up.
    """
    out = frame.copy()
    for column in person_columns:
        if column in out:
            codes, uniques = pd.factorize(out[column])
            names = np.array([pseudonym(u, "Person", salt=salt) for u in uniques] + [None], dtype=object)
            out[column] = pd.Series(names[codes], index=out.index, dtype="str")
    for column in text_columns:
        if column in out:
            text = out[column].astype("str")
            text = text.str.replace(EMAIL.pattern, lambda m: pseudonym(m.group(0), "Email", salt=salt), regex=True)
            text = text.str.replace(PHONE.pattern, lambda m: pseudonym(m.group(0), "Phone", salt=salt), regex=True)
            out[column] = text
    return out


PERSON_COLUMNS = ("owner", "first_name", "last_name", "email", "contact", "name")
FREE_TEXT_COLUMNS = (
    "company",
    "account",
    "lost_reason",
    "disqualify_reason",
    "notes",
    "description",
)


def redact_dataset(data, *, salt: str = ""):
    """A copy of a Dataset with people's names, e-mails and phone numbers pseudonymised
    (in leads, opportunities and the funnel view alike, with the same pseudonyms)."""
    from .dataset import Dataset

    def clean(frame: pd.DataFrame) -> pd.DataFrame:
        people = [c for c in PERSON_COLUMNS if c in frame]
        text = [c for c in FREE_TEXT_COLUMNS if c in frame]
        return redact(frame, person_columns=people, text_columns=text, salt=salt)

    return Dataset(
        clean(data.leads),
        clean(data.opportunities),
        data.history,
        data.quarantine.assign(value="(redacted)") if len(data.quarantine) else data.quarantine,
        data.summary,
        data.stages,
        data.as_of,
        data.notes,
    )
