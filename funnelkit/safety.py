"""Keeping CRM text inert: HTML escaping, display labels, spreadsheet formula neutralising, redaction.

Names, companies and notes in a CRM are typed by anyone. In a report they
must stay text (never live HTML, never a control character, never a label so
long that a chart grows a million pixels wide), in a CSV or Excel file opened
by a person they must never become a formula (OWASP "CSV injection"), and in
a shared report personal data can be replaced by stable pseudonyms.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ParameterError

#: cells starting with these are read as formulas by Excel, LibreOffice and Google Sheets (OWASP's list, plus LF)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
#: a line break inside a cell followed by a formula character: a reader that splits the cell there sees a formula
_FORMULA_AFTER_BREAK = re.compile(r"(\r\n|\r|\n)(?=[=+\-@\t])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{6,}\d(?!\w)")

#: C0 and C1 control characters (tab, line feed and carriage return kept), DEL and lone surrogates:
#: none of them is text a reader should see, NUL truncates strings in some viewers, and a lone
#: surrogate cannot even be written as UTF-8
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: terminal colour and cursor codes (``ESC [ 31 m``): removing only the ESC would leave ``[31m`` behind
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_LINE_BREAKS = re.compile("[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
#: characters a label keeps in charts and tables; the full value stays in a table cell's title
LABEL_WIDTH = 60
ELLIPSIS = "\u2026"


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def clean_text(value) -> str:
    r"""``value`` as text without control characters or terminal escape codes (tab and line breaks kept);
    missing values give ``""``.

    Examples
    --------
    >>> clean_text("Trade\x00 show\x1b[31m")
    'Trade show'
    >>> clean_text(None)
    ''
    """
    return "" if _is_missing(value) else CONTROL.sub("", ANSI_ESCAPE.sub("", str(value)))


def display_label(value, *, width: int = LABEL_WIDTH) -> str:
    r"""A CRM value as a one-line label for a chart or a table: control characters removed,
    line breaks and tabs read as spaces, and shortened to ``width`` characters with an ellipsis.

    A lead source or owner is typed by anyone and may be 100 KB long; drawn in
    full it makes a chart a million pixels wide. Tables show the full value in
    the cell's ``title`` (see :func:`funnelkit.present.table_html`).

    Parameters
    ----------
    value : object
        Any value; missing values (None, NaN, NA) give ``""``.
    width : int, keyword-only
        Longest label kept whole (at least 2).

    Returns
    -------
    str

    Examples
    --------
    >>> display_label("Partner\nreferral\x00")
    'Partner referral'
    >>> display_label("x" * 100, width=10)
    'xxxxxxxxx…'
    >>> display_label(float("nan"))
    ''
    """
    text = _LINE_BREAKS.sub(" ", clean_text(value)).strip()
    if len(text) <= width:
        return text
    return text[: max(width - 1, 1)].rstrip() + ELLIPSIS


def escape(text) -> str:
    r"""HTML-escape one value for display (quotes included, control characters removed).

    Examples
    --------
    >>> escape("<b>Acme\x00</b>")
    '&lt;b&gt;Acme&lt;/b&gt;'
    """
    return html.escape(clean_text(text))


# ------------------------------------------------------------- notes for the report --

_DISPLAY_NOTES: dict[str, str] = {}


def display_note(key: str, text: str) -> None:
    """Keep one note about how values are displayed (e.g. characters no font can draw).

    Charts register what a reader should know about them here; the report's
    data-quality section lists the notes (:func:`funnelkit.present.load_summary_html`).
    A second note under the same ``key`` replaces the first, so each is said once.
    """
    _DISPLAY_NOTES[key] = text


def display_notes() -> list[str]:
    """The notes kept by :func:`display_note` in this session, oldest first."""
    return list(_DISPLAY_NOTES.values())


# ------------------------------------------------------------ spreadsheets --


def _neutralise_text(text: pd.Series) -> pd.Series:
    """Text cells: a formula character at the start, or after a line break inside the cell, gets a ``'``."""
    text = text.str.replace(_FORMULA_AFTER_BREAK, r"\1'", regex=True)
    risky = text.str.startswith(FORMULA_START, na=False) & ~text.str.fullmatch(_NUMBER.pattern, na=False)
    return text.where(~risky, "'" + text)


def _neutralise_label(label):
    """One header or index label (a tuple for a MultiIndex); numbers stay numbers."""
    if isinstance(label, tuple):
        return tuple(_neutralise_label(part) for part in label)
    if not isinstance(label, str):
        return label
    return _neutralise_text(pd.Series([label], dtype=object)).iloc[0]


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    r"""A copy where text that a spreadsheet would run as a formula is inert.

    Following OWASP's CSV-injection guidance, a text cell, column header or
    index label that starts with ``=``, ``+``, ``-``, ``@``, tab, CR or LF gets
    a leading ``'``; so does a formula character that follows a line break
    inside a cell (a reader splitting the cell there would otherwise start a
    line with a formula). Real numbers (``-12.5``, numeric columns) are left
    as they are.

    Examples
    --------
    >>> neutralise_formulas(pd.DataFrame({"a": ["=1+1", "-12.5", "@SUM(A1)", "ok"]}))["a"].tolist()
    ["'=1+1", '-12.5', "'@SUM(A1)", 'ok']
    >>> neutralise_formulas(pd.DataFrame({"a": ["Webinar\r=2+5"]}))["a"].tolist()
    ["Webinar\r'=2+5"]
    >>> neutralise_formulas(pd.DataFrame({"=HYPERLINK(\"http://x\")": [1]})).columns.tolist()
    ['\'=HYPERLINK("http://x")']
    """
    out = frame.copy()
    for position in range(out.shape[1]):
        values = out.iloc[:, position]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)  # the file holds the labels, not the categories
        elif not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        text = values.astype("str")  # missing values stay missing
        neutral = _neutralise_text(text)
        changed = neutral.ne(text) & text.notna()  # numbers in an object column read back as they were
        out.isetitem(position, values.where(~changed, neutral))
    out.columns = out.columns.map(_neutralise_label)
    out.index = out.index.map(_neutralise_label)
    out.columns.names = [_neutralise_label(n) for n in out.columns.names]
    out.index.names = [_neutralise_label(n) for n in out.index.names]
    return out


#: CSV line ends: CRLF (RFC 4180, what Excel writes), so that a field holding a CR or an LF is quoted
CSV_LINE_END = "\r\n"


def to_csv_safe(frame: pd.DataFrame, path: str | Path, **options) -> Path:
    r"""Write ``frame`` as CSV for people to open: formulas neutralised in cells, headers and
    index labels, every field that holds a line break quoted, UTF-8 with BOM so Excel reads
    accents right.

    Parameters
    ----------
    frame : DataFrame
    path : str or Path
    **options
        Passed to :meth:`pandas.DataFrame.to_csv` (``index`` defaults to False).
        ``lineterminator`` and ``quoting`` cannot be changed: lines end in CRLF
        and fields are quoted when needed, which is what keeps a field holding a
        line break in one cell.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, csv
    >>> target = Path(tempfile.mkdtemp()) / "leads.csv"
    >>> _ = to_csv_safe(pd.DataFrame({"source": ["Webinar\r=2+5", "Web"], "n": [1, -2]}), target)
    >>> list(csv.reader(target.open(encoding="utf-8-sig", newline="")))
    [['source', 'n'], ["Webinar\r'=2+5", '1'], ['Web', '-2']]
    """
    for name, allowed in (("lineterminator", {CSV_LINE_END}), ("quoting", {csv.QUOTE_MINIMAL, csv.QUOTE_ALL})):
        if name in options and options[name] not in allowed:
            raise ParameterError(
                f"to_csv_safe() cannot change {name} (got {options[name]!r}): fields holding a line break "
                "must stay quoted so that no part of them starts a row; leave it out"
            )
    options["lineterminator"] = CSV_LINE_END
    path = Path(path)
    neutralise_formulas(frame).to_csv(path, index=options.pop("index", False), encoding="utf-8-sig", **options)
    return path


def to_excel_safe(frame: pd.DataFrame, path: str | Path, **options) -> Path:
    """Write ``frame`` as .xlsx with formulas neutralised in cells, headers and index labels.

    openpyxl stores any text starting with ``=`` as a live formula (a header
    ``=HYPERLINK(...)`` becomes a link); neutralised text is stored as text.

    Parameters
    ----------
    frame : DataFrame
    path : str or Path
    **options
        Passed to :meth:`pandas.DataFrame.to_excel` (``index`` defaults to False).

    Returns
    -------
    Path
    """
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
