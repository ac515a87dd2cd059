"""HTML pieces the report notebooks display: formatted tables, the summary, section notes.

Every value that may come from a CRM is escaped here (:func:`funnelkit.safety.escape`,
which also removes control characters), labels are shortened for display with
the full value in the cell's ``title`` (:func:`funnelkit.safety.display_label`),
and nbconvert renders with sanitizing on as a second guard.
"""

from __future__ import annotations

import pandas as pd

from .review import Review
from .safety import LABEL_WIDTH, clean_text, display_label, display_notes, escape
from .schema import stage_label
from .stats import SMALL_N
from .units import Unit, format_value, units_of

#: columns holding generated sentences rather than labels: shortened only far beyond a label's width
SENTENCE_COLUMNS = ("note", "notes", "reason", "finding", "message", "description")
SENTENCE_WIDTH = 400
#: longest value kept in a cell's title (the tooltip holding the full value of a shortened label)
TITLE_WIDTH = 10_000
#: rate columns that show counts ("3 of 5") instead when a group is small
SMALL_SAMPLE_COLUMNS = ("rate", "ci_low", "ci_high")


def table_html(frame: pd.DataFrame, *, percent=(), columns=None, max_rows: int = 60) -> str:
    """A readable HTML table, every number formatted by its declared unit (:mod:`funnelkit.units`).

    Rates read as percentages (counts such as "3 of 5" instead when n < 20),
    changes of rates in points, money with thousands separators and its
    currency, durations in days, p-values as "< 0.001". ``percent`` names
    extra columns to show as rates. Cells and headers are escaped.
    """
    shown = frame[columns] if columns else frame
    shown = shown.head(max_rows).copy()
    units = {**units_of(frame), **dict.fromkeys(percent, Unit.RATE)}
    small = frame["small_sample"].head(max_rows).to_numpy() if "small_sample" in frame else None
    currency = shown["currency"] if "currency" in shown else pd.Series(None, index=shown.index, dtype=object)
    for column in shown.columns:
        values, unit = shown[column], units.get(column)
        if unit in (None, Unit.TEXT, Unit.ID):
            if pd.api.types.is_bool_dtype(values):
                shown[column] = values.map({True: "yes", False: "no"})
            elif pd.api.types.is_integer_dtype(values):
                shown[column] = values.map(lambda v: format_value(v, Unit.COUNT))
            continue
        if unit is Unit.STAGE:
            shown[column] = values.map(lambda v: "" if pd.isna(v) else stage_label(v))
        elif unit is Unit.MONEY and pd.api.types.is_numeric_dtype(values):
            shown[column] = [format_value(v, unit, currency=c) for v, c in zip(values, currency, strict=True)]
        elif unit is Unit.FLAG or pd.api.types.is_numeric_dtype(values) or unit is Unit.TIMESTAMP:
            text = values.map(lambda v, u=unit: format_value(v, u))
            if small is not None and unit is Unit.RATE and column in SMALL_SAMPLE_COLUMNS:
                text = text.where(~small, "n<20" if column != "rate" else _counts(frame.head(max_rows)))
            shown[column] = text
    shown = shown.drop(columns=[c for c in ("small_sample",) if c in shown])
    for position, column in enumerate(shown.columns):
        values = shown.iloc[:, position]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            width = SENTENCE_WIDTH if column in SENTENCE_COLUMNS else LABEL_WIDTH
            shown.isetitem(position, values.map(lambda v, w=width: cell_html(v, width=w)))
    shown.columns = [escape(display_label(str(c).replace("_", " "))) for c in shown.columns]
    note = f"<p class='fk-note'>first {max_rows} of {len(frame):,} rows</p>" if len(frame) > max_rows else ""
    # every text cell and header is escaped above (escape=True would escape the title markup too)
    return shown.to_html(index=False, escape=False, na_rep="", classes="fk-table", border=0) + note


def cell_html(value, *, width: int = LABEL_WIDTH) -> str:
    """One table cell's content: the value escaped and shortened, the full value in a ``title``.

    Parameters
    ----------
    value : object
        Missing values give ``""``.
    width : int, keyword-only
        Longest text shown whole (:func:`funnelkit.safety.display_label`).

    Returns
    -------
    str
        Escaped HTML.

    Examples
    --------
    >>> cell_html("<b>Partner</b>")
    '&lt;b&gt;Partner&lt;/b&gt;'
    >>> cell_html("Trade show " * 3, width=12)
    '<span title="Trade show Trade show Trade show">Trade show…</span>'
    """
    short = display_label(value, width=width)
    if short == clean_text(value):
        return escape(short)
    # the tooltip is one line too: pandas writes a line break in a cell as the two characters \n
    return f'<span title="{escape(display_label(value, width=TITLE_WIDTH))}">{escape(short)}</span>'


def _counts(frame: pd.DataFrame) -> pd.Series:
    """For small groups: "3 of 5" instead of a percentage that looks precise."""
    pairs = [("won", "closed"), ("converted", "entered"), ("successes", "n")]
    for num, den in pairs:
        if num in frame and den in frame:
            return frame[num].astype(int).astype(str) + " of " + frame[den].astype(int).astype(str)
    return pd.Series("n<20", index=frame.index)


def summary_html(result: Review) -> str:
    """The one-screen summary: headline numbers against the previous period, then findings."""
    head = result.headline.copy()
    rows = []
    for r in head.itertuples():
        is_rate = r.measure.startswith("Win rate")
        is_days = r.measure.startswith("Median days")
        fmt = (lambda v: f"{v:.1%}") if is_rate else (lambda v: f"{v:,.1f}") if is_days else (lambda v: f"{v:,.0f}")
        now = "n/a" if pd.isna(r.this_period) else fmt(r.this_period)
        before = "n/a" if pd.isna(r.previous_period) else fmt(r.previous_period)
        if pd.isna(r.change):
            change = ""
        elif is_rate:
            change = f"{r.change * 100:+.1f} pts"
        elif is_days:
            change = f"{r.change:+.1f} days"
        else:
            change = f"{r.change:+.0%}"
        rows.append(
            f"<tr><td>{escape(r.measure)}</td><td class='fk-num'>{now}</td><td class='fk-num'>{before}</td>"
            f"<td class='fk-num'>{change}</td><td>{escape(r.note)}</td></tr>"
        )
    period = escape(result.period or "latest period")
    previous = escape(result.previous or "previous")
    table = (
        "<table class='fk-table fk-headline'><thead><tr><th>measure</th>"
        f"<th>{period}</th><th>{previous}</th><th>change</th><th></th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    findings = "".join(f"<li>{sentence}</li>" for sentence in result.findings)  # escaped in review
    return table + f"<ul class='fk-findings'>{findings}</ul>"


def section_note(result: Review, section: str) -> str:
    """Why a section is not shown; for a shown one, its notes (what it counted, what it could not)."""
    reason = result.skipped.get(section)
    if reason:
        return f"<p class='fk-note'>This section is left out: {escape(reason)}.</p>"
    return "".join(f"<p class='fk-note'>{escape(note)}</p>" for note in result.notes.get(section, []))


def load_summary_html(data) -> str:
    """Row accounting of the load, the notes it made and the notes about how values are displayed
    (:func:`funnelkit.safety.display_notes`: e.g. characters no installed font can draw), for the
    data-quality section."""
    summary = data.summary.table
    keep = [c for c in ("file", "adapter", "table", "rows_read", "rows_kept", "rows_quarantined", "footer_lines")
            if c in summary]  # fmt: skip
    shown = summary[keep].assign(file=summary["file"].map(lambda p: str(p).rsplit("/", 1)[-1]))
    notes = "".join(f"<li>{escape(n)}</li>" for n in [*data.notes, *display_notes()])
    reasons = data.quarantine["reason"].value_counts()
    quarantine = (
        "<p>No value was quarantined.</p>"
        if reasons.empty
        else "<p>Quarantined values by reason:</p>"
        + reasons.rename_axis("reason")
        .reset_index(name="values")
        .to_html(index=False, escape=True, classes="fk-table", border=0)
    )
    return (
        shown.to_html(index=False, escape=True, classes="fk-table", border=0)
        + quarantine
        + (f"<ul class='fk-findings'>{notes}</ul>" if notes else "")
    )


def small_sample_note() -> str:
    return (
        f"<p class='fk-note'>Rates are shown with their 95% Wilson interval. Groups with fewer than {SMALL_N} "
        'observations show counts ("3 of 5") instead of a percentage.</p>'
    )
