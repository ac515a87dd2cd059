"""HTML pieces the report notebooks display: formatted tables, the summary, section notes.

Every value that may come from a CRM is escaped here (:func:`funnelkit.safety.escape`,
which also removes control characters), labels are shortened for display with
the full value in the cell's ``title`` (:func:`funnelkit.safety.display_label`),
and nbconvert renders with sanitizing on as a second guard.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import markup
from .groups import TOP_GROUPS, top_groups
from .i18n import N_, _
from .review import Review
from .safety import LABEL_WIDTH, clean_text, display_label, display_notes, escape
from .schema import stage_label
from .stats import SMALL_N
from .units import ROW_UNIT, Unit, declare, flag_small, format_number, format_value, row_unit, units_of

#: columns holding generated sentences rather than labels: shortened only far beyond a label's width
SENTENCE_COLUMNS = ("note", "notes", "reason", "finding", "message", "description")
SENTENCE_WIDTH = 400
#: longest value kept in a cell's title (the tooltip holding the full value of a shortened label)
TITLE_WIDTH = 10_000
#: rate columns that show counts ("3 of 5 (small sample)") instead when a group is small
SMALL_SAMPLE_COLUMNS = ("rate", "ci_low", "ci_high")
#: (successes, trials) behind a rate, in the order they are looked for
RATE_COUNTS = (("won", "closed"), ("converted", "entered"), ("successes", "n"))
#: rates of two periods (the mix table) and the counts behind each, when the table carries them
PERIOD_RATE_COUNTS = {
    "rate_previous": ("successes_previous", "n_previous"),
    "rate_current": ("successes_current", "n_current"),
}
#: values that rest on a count other than their row's trials: column -> (count column, what it counts)
SMALL_BACKING = {
    "revenue_per_lead": ("won", N_("won deals")),
    "revenue_per_mql": ("won", N_("won deals")),
    "avg_deal_size": ("won", N_("won deals")),
    "cost_per_won": ("won", N_("won deals")),
    "median": ("n", N_("deals")),
    "q25": ("n", N_("deals")),
    "q75": ("n", N_("deals")),
    "closed_median": ("n_closed", N_("closed deals")),
    "median_minutes": ("mqls", N_("MQLs")),
}
#: column name -> the header people read (translated where shown); other columns read as their name in words
#: ("deal_type" -> "Deal type"), looked up in the catalog too
HEADERS = {
    "rows_read": N_("Rows read"),
    "rows_kept": N_("Rows kept"),
    "rows_quarantined": N_("Rows quarantined"),
    "footer_lines": N_("Report footer lines"),
    "n": N_("Observations"),
    "n_closed": N_("Closed"),
    "n_censored": N_("Still open"),
    "ci_low": N_("95% CI low"),
    "ci_high": N_("95% CI high"),
    "broad_ci_low": N_("Broad rate, 95% CI low"),
    "broad_ci_high": N_("Broad rate, 95% CI high"),
    "p_value": N_("p-value"),
    "p_adjusted": N_("p-value (adjusted)"),
    "significant": N_("Beyond noise"),
    "median": N_("Median (days)"),
    "q25": N_("25th percentile (days)"),
    "q75": N_("75th percentile (days)"),
    "closed_median": N_("Median of closed deals (days)"),
    "median_minutes": N_("Median response (minutes)"),
    "from_stage": N_("From"),
    "to_stage": N_("To"),
    "previous_value": N_("Previous"),
    "value": N_("Value"),
    "change": N_("Change"),
    "mix_effect": N_("Mix effect"),
    "rate_effect": N_("Rate effect"),
    "total_change": N_("Total change"),
    "share_previous": N_("Share, previous period"),
    "share_current": N_("Share, this period"),
    "rate_previous": N_("Rate, previous period"),
    "rate_current": N_("Rate, this period"),
    "won_revenue": N_("Won revenue"),
    "revenue_per_lead": N_("Won revenue per lead"),
    "revenue_per_mql": N_("Won revenue per MQL"),
    "avg_deal_size": N_("Average deal size"),
    "won_without_amount": N_("Won without amount"),
    "mqls": N_("MQLs"),
    "sqls": N_("SQLs"),
    "roi": N_("ROI"),
    "small_sample": N_("Small sample"),
    "stopped_share": N_("Stopped here"),
    "lost_value": N_("Lost value"),
    "open_value": N_("Open value"),
    "stalled_value": N_("Stalled value"),
    "within_target_rate": N_("Within target"),
    "within_max_rate": N_("Within maximum"),
    "never_touched_rate": N_("Never touched"),
    "followed_up_rate": N_("Followed up"),
    "stage": N_("Stage"),
    "reached": N_("Reached"),
    "stopped": N_("Stopped"),
    "lost": N_("Lost"),
    "disqualified": N_("Disqualified"),
    "still_open": N_("Still open"),
    "currency": N_("Currency"),
    "open": N_("Open"),
    "median_age_days": N_("Median age days"),
    "q75_age_days": N_("Q75 age days"),
    "stall_line_days": N_("Stall line days"),
    "stalled": N_("Stalled"),
    "opportunity_id": N_("Opportunity id"),
    "owner": N_("Owner"),
    "source": N_("Source"),
    "amount": N_("Amount"),
    "age_days": N_("Age days"),
    "stage_entered_at": N_("Stage entered at"),
    "days_in_stage": N_("Days in stage"),
    "days_over": N_("Days over"),
    "lost_reason": N_("Lost reason"),
    "lost_total": N_("Lost total"),
    "share": N_("Share"),
    "lost_in_currency": N_("Lost in currency"),
    "period": N_("Period"),
    "won": N_("Won"),
    "closed": N_("Closed"),
    "rate": N_("Rate"),
    "broad_rate": N_("Broad rate"),
    "leads": N_("Leads"),
    "file": N_("File"),
    "adapter": N_("Adapter"),
    "table": N_("Table"),
    "measure": N_("Measure"),
    "contribution": N_("Contribution"),
    "values": N_("Values"),
    "reason": N_("Reason"),
    "entered": N_("Entered"),
    "converted": N_("Converted"),
    "deals": N_("Deals"),
    "won_deals": N_("Won deals"),
    "note": N_("Note"),
    "segment": N_("Segment"),
    "campaign": N_("Campaign"),
    "country": N_("Country"),
    "industry": N_("Industry"),
    "lost_share": N_("Lost share"),
}


def header(column) -> str:
    """The header people read for a column (:data:`HEADERS`, else its name in words).

    Examples
    --------
    >>> header("rows_read"), header("p_value"), header("won_deals"), header("source")
    ('Rows read', 'p-value', 'Won deals', 'Source')
    """
    name = str(column)
    if name in HEADERS:
        return _(HEADERS[name])
    words = name.replace("_", " ").strip()
    return _(words[:1].upper() + words[1:])


def table_html(frame: pd.DataFrame, *, percent=(), columns=None, max_rows: int = 60, by: str | None = None,
               top: int | None = TOP_GROUPS, notes: bool = True) -> str:  # fmt: skip
    """A readable HTML table, every number formatted by its declared unit (:mod:`funnelkit.units`).

    Rates read as percentages, changes of rates in points, money with thousands
    separators and its currency, durations in days, p-values as "< 0.001",
    counts as whole numbers, other numbers with two decimals (never a raw
    float). Values resting on fewer than 20 observations are flagged the same
    way everywhere (:func:`small_sample_cells`). Headers read as words
    (:func:`header`). Cells and headers are escaped.

    Parameters
    ----------
    frame : DataFrame
    percent : sequence of str, keyword-only
        Extra columns to show as rates.
    columns : list of str, keyword-only, optional
        The columns shown, in order (default: all).
    max_rows : int, keyword-only
        Longer tables are cut, with a note saying so.
    by : str, keyword-only, optional
        A table per group: its ``top`` groups by volume are shown by name and
        the rest folded into one "Other" row (:func:`funnelkit.groups.top_groups`);
        a table without that column is shown whole.
    top : int or None, keyword-only
    notes : bool, keyword-only
        ``False`` leaves out the ``note`` column, for a report that says a
        section's notes once beneath its table rather than on every row.

    Returns
    -------
    str
        HTML.
    """
    if by is not None and top is not None and by in frame:  # a table without the breakdown is shown whole
        frame = top_groups(frame, by, top=top)
    shown = frame[columns] if columns else frame
    if not notes:
        shown = shown.drop(columns=[c for c in ("note",) if c in shown])
    shown = shown.head(max_rows).copy()
    head = frame.head(max_rows)
    units = {**units_of(frame), **dict.fromkeys(percent, Unit.RATE)}
    # money carries its row's currency even where the currency column itself is not shown
    currency = head["currency"] if "currency" in head else pd.Series(None, index=shown.index, dtype=object)
    for column in shown.columns:
        values, unit = shown[column], units.get(column)
        if unit in (None, Unit.TEXT, Unit.ID):
            if pd.api.types.is_bool_dtype(values):
                shown[column] = values.map({True: _("yes"), False: _("no")})
            elif pd.api.types.is_integer_dtype(values):
                shown[column] = values.map(lambda v: format_value(v, Unit.COUNT))
            elif pd.api.types.is_float_dtype(values):  # a number without a declared unit: still not a raw float
                shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
            continue
        if unit in (Unit.PER_ROW, Unit.PER_ROW_CHANGE):
            cells = zip(values, head[ROW_UNIT], currency, strict=True)
            shown[column] = [format_value(v, row_unit(unit, u), currency=c) for v, u, c in cells]
        elif unit is Unit.STAGE:
            shown[column] = values.map(lambda v: "" if pd.isna(v) else stage_label(v))
        elif unit is Unit.MONEY and pd.api.types.is_numeric_dtype(values):
            shown[column] = [format_value(v, unit, currency=c) for v, c in zip(values, currency, strict=True)]
        elif unit is Unit.FLAG or pd.api.types.is_numeric_dtype(values) or unit is Unit.TIMESTAMP:
            shown[column] = values.map(lambda v, u=unit: format_value(v, u))
    for column, flagged in small_sample_cells(head, formatted=shown).items():
        if column in shown:
            shown[column] = flagged.where(flagged.notna(), shown[column])
    # a column no row fills is noise (the table's notes say what could not be measured)
    shown = shown.drop(columns=[c for c in shown.columns if head[c].isna().all() and len(head)])
    # money cells carry their currency: a currency column beside them would say it twice
    said_twice = "currency" in shown and any(units.get(c) is Unit.MONEY for c in shown.columns)
    shown = shown.drop(columns=[c for c in ("small_sample",) if c in shown] + (["currency"] if said_twice else []))
    for position, column in enumerate(shown.columns):
        values = shown.iloc[:, position]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            if column in SENTENCE_COLUMNS:  # sentences wrap in a column of their own width; numbers never wrap
                shown.isetitem(position, values.map(_sentence_cell))
            else:
                shown.isetitem(position, values.map(cell_html))
    shown.columns = [escape(display_label(header(c))) for c in shown.columns]
    cut = _("first {shown} of {rows} rows").format(shown=format_number(max_rows), rows=format_number(len(frame)))
    note = markup.note(cut) if len(frame) > max_rows else ""
    # every text cell and header is escaped above (escape=True would escape the title markup too)
    return shown.to_html(index=False, escape=False, na_rep="", classes="fk-table", border=0) + note


def small_sample_cells(frame: pd.DataFrame, *, formatted: pd.DataFrame | None = None) -> dict[str, pd.Series]:
    """The cells of ``frame`` that rest on fewer than 20 observations, as flagged text (missing elsewhere).

    One rule for every table: a rate shows its counts, "8 of 10 (small
    sample)", where the table carries them (:data:`RATE_COUNTS`,
    :data:`PERIOD_RATE_COUNTS`), else its percentage flagged; its interval
    reads "small sample"; a value resting on another count (lead value on
    won deals, a median on deals: :data:`SMALL_BACKING`) keeps its number
    and says the count, "1,250 USD (small sample: 4 won deals)".

    Parameters
    ----------
    frame : DataFrame
        The numbers.
    formatted : DataFrame, keyword-only, optional
        The same cells already written by unit (used for the flagged text).

    Returns
    -------
    dict of str to Series

    Examples
    --------
    >>> table = pd.DataFrame({"won": [8, 30], "closed": [10, 40], "rate": [0.8, 0.75]})
    >>> small_sample_cells(table)["rate"].tolist()
    ['8 of 10 (small sample)', nan]
    """
    formatted = frame if formatted is None else formatted
    out: dict[str, pd.Series] = {}
    flag = frame["small_sample"].astype(bool) if "small_sample" in frame else None
    counts = next(((x, n) for x, n in RATE_COUNTS if x in frame and n in frame), None)
    small = flag if flag is not None or counts is None else frame[counts[1]] < SMALL_N
    # a drift table of rates holds its rate in "value"
    rate_columns = ("value", *SMALL_SAMPLE_COLUMNS) if units_of(frame).get("value") is Unit.RATE or (
        counts == ("successes", "n") and "rate" not in frame) else SMALL_SAMPLE_COLUMNS  # fmt: skip
    if small is not None and small.any():
        for column in rate_columns:
            if column not in frame:
                continue
            if column not in ("rate", "value"):
                text = pd.Series(_("small sample"), index=frame.index)
            elif counts is not None:
                text = pd.Series(_of_counts(frame[counts[0]], frame[counts[1]]), index=frame.index).map(flag_small)
            else:
                text = formatted[column].astype(str).map(flag_small)
            out[column] = text.where(small)
    for column, (hits, trials) in PERIOD_RATE_COUNTS.items():
        if {column, hits, trials} <= set(frame.columns):
            small = frame[trials] < SMALL_N
            text = pd.Series(_of_counts(frame[hits], frame[trials]), index=frame.index).map(flag_small)
            out[column] = text.where(small)
    for column, (backing, noun) in SMALL_BACKING.items():
        if column in frame and backing in frame and column not in out:
            small = (frame[backing] < SMALL_N) & frame[column].notna()
            text = pd.Series(
                [flag_small(str(t), n, _(noun)) for t, n in zip(formatted[column], frame[backing], strict=True)],
                index=frame.index,
            )
            out[column] = text.where(small)
    return out


def _sentence_cell(value) -> str:
    text = cell_html(value, width=SENTENCE_WIDTH)
    return f"<span class='fk-text'>{text}</span>" if text else ""


def _of_counts(hits: pd.Series, trials: pd.Series) -> list[str]:
    """``"8 of 10"`` per row, in the current language."""
    return [
        _("{successes} of {trials}").format(successes=format_value(k, Unit.COUNT), trials=format_value(n, Unit.COUNT))
        for k, n in zip(hits, trials, strict=True)
    ]


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


def summary_html(result: Review) -> str:
    """The one-screen summary: headline numbers against the previous period, then findings."""
    head = result.headline.copy()
    rows = []
    for r in head.itertuples():
        unit, change_unit = _headline_units(r.measure)
        currency = getattr(r, "currency", None)
        currency = currency if isinstance(currency, str) and currency not in ("", "nan", "None") else None
        now = _("n/a") if pd.isna(r.this_period) else format_value(r.this_period, unit, currency=currency)
        before = _("n/a") if pd.isna(r.previous_period) else format_value(r.previous_period, unit, currency=currency)
        change = "" if pd.isna(r.change) else format_value(r.change, change_unit)
        if change and change_unit is Unit.DAYS and r.change > 0:
            change = "+" + change
        rows.append(
            f"<tr><td>{escape(measure_text(r.measure))}</td><td class='fk-num'>{now}</td>"
            f"<td class='fk-num'>{before}</td>"
            f"<td class='fk-num'>{change}</td><td>{escape(r.note)}</td></tr>"
        )
    period = escape(result.period or _("latest period"))
    previous = escape(result.previous or _("previous"))
    table = (
        "<table class='fk-table fk-headline'><thead><tr><th>" + escape(_("Measure")) + "</th>"
        f"<th>{period}</th><th>{previous}</th><th>"
        + escape(_("Change"))
        + "</th><th></th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    return table + markup.bullets_html(result.findings, cls="fk-findings")  # sentences escaped in review


def measure_text(measure: str) -> str:
    """A headline row's measure as people read it, in the current language (the table keeps it in English).

    Examples
    --------
    >>> from funnelkit.i18n import using_locale
    >>> with using_locale("tr"):
    ...     measure_text("Win rate"), measure_text("Won revenue (EUR)")
    ('Kazanma oranı', 'Kazanılan gelir (EUR)')
    """
    import re

    several = re.fullmatch(r"Won revenue \((.+)\)", measure)
    if several:
        return _("Won revenue ({currency})").format(currency=several.group(1))
    return _(measure)


def _headline_units(measure: str) -> tuple[Unit, Unit]:
    """The unit of a headline row's values and of its change: a rate moves in points, a count by a ratio."""
    if measure.startswith("Win rate"):
        return Unit.RATE, Unit.POINTS
    if measure.startswith("Median days"):
        return Unit.DAYS, Unit.DAYS
    if measure.startswith("Won revenue"):
        return Unit.MONEY, Unit.RATIO
    return Unit.COUNT, Unit.RATIO


def load_summary_html(data) -> str:
    """Row accounting of the load, the notes it made and the notes about how values are displayed
    (:func:`funnelkit.safety.display_notes`: e.g. characters no installed font can draw), for the
    data-quality section; for tables read in place (:func:`funnelkit.connect`), their rows and what
    was and was not checked."""
    if hasattr(data, "table_rows"):  # tables read in place (funnelkit.connect), not loaded
        return _tables_summary_html(data)
    summary = data.summary.table
    keep = [c for c in ("file", "adapter", "table", "rows_read", "rows_kept", "rows_quarantined", "footer_lines")
            if c in summary]  # fmt: skip
    shown = summary[keep].assign(file=summary["file"].map(lambda p: str(p).rsplit("/", 1)[-1]))
    if "table" in shown:  # what a file held ("leads", "opportunities"): funnelkit's words, in the reader's language
        shown = shown.assign(table=shown["table"].map(lambda kind: _(str(kind)) if pd.notna(kind) else kind))
    notes = markup.bullets_html((escape(n) for n in [*data.notes, *display_notes()]), cls="fk-findings")
    reasons = data.quarantine["reason"].value_counts()
    quarantine = (
        markup.paragraph(_("No value was quarantined."))
        if reasons.empty
        else markup.paragraph(_("Quarantined values by reason:"))
        + table_html(declare(reasons.rename_axis("reason").reset_index(name="values"), values=Unit.COUNT))
    )
    return table_html(shown, max_rows=len(shown) or 1) + quarantine + notes


def _tables_summary_html(data) -> str:
    """The data-quality section of canonical tables read in place: rows per table, and what was and was not
    checked (no file was parsed: there is no row accounting of a load, no quarantine and no loader's note)."""
    engine = ENGINE_NAMES.get(data.backend.name, data.backend.name)
    if data.origin:
        # TRANSLATORS: {engine} is DuckDB or Spark; {origin} the folder or database file the tables are in
        said = _(
            "Read in place by {engine} from {origin}: no export file was parsed, so no row or value was quarantined. "
            "The tables' required columns were checked, and their dates are typed timestamps, read as UTC."
        ).format(engine=engine, origin=Path(data.origin).name)
    else:
        said = _(
            "Read in place by {engine}: no export file was parsed, so no row or value was quarantined. "
            "The tables' required columns were checked, and their dates are typed timestamps, read as UTC."
        ).format(engine=engine)
    table_rows = data.table_rows
    rows = pd.DataFrame({"table": table_rows["table"].map(_), "rows_read": table_rows["rows"]})
    notes = markup.bullets_html((escape(n) for n in display_notes()), cls="fk-findings")
    return table_html(declare(rows, rows_read=Unit.COUNT), max_rows=len(rows)) + markup.paragraph(said) + notes


#: how the report names the engine an :class:`~funnelkit.engine.EngineDataset` runs on (Ibis backend names)
ENGINE_NAMES = {"duckdb": "DuckDB", "pyspark": "Spark"}


def review_html(result: Review) -> str:
    """A :class:`funnelkit.Review` as one block: the summary, then each section left out and why.

    Parameters
    ----------
    result : Review

    Returns
    -------
    str
        HTML (the notebook view of a review; the report shows each section in full).
    """
    period = result.period or _("no complete period")
    title = _("Funnel review: {period} against {previous}").format(
        period=period, previous=result.previous or _("no earlier period")
    )
    parts = [markup.heading(title, 4), summary_html(result)]
    shown = ", ".join(name for name, table in result.sections.items() if len(table))
    said = _("Sections: {sections}.").format(sections=shown or _("none"))
    parts.append(markup.note(said))
    left_out = _("{section} is left out: {reason}.")
    parts += [markup.note(left_out.format(section=name, reason=reason)) for name, reason in result.skipped.items()]
    return "".join(parts)


def sla_html(result) -> str:
    """A :class:`funnelkit.SLAResult` as its summary, then delivery, response and feedback tables.

    Parameters
    ----------
    result : SLAResult

    Returns
    -------
    str
        HTML.
    """
    parts = [markup.heading(_("SLA scorecard"), 4), table_html(result.summary)]
    for title, table in ((N_("Delivery"), result.delivery), (N_("Response"), result.response),
                         (N_("Feedback"), result.feedback)):  # fmt: skip
        parts.append(markup.heading(_(title), 5) + (table_html(table) if len(table) else markup.note(_("none"))))
    return "".join(parts)


def small_sample_note() -> str:
    said = _(
        "Rates are shown with their 95% Wilson interval. Groups with fewer than {count} observations show counts "
        'instead of a percentage, flagged "(small sample)".'
    ).format(count=SMALL_N)
    return markup.paragraph_html(said, cls="fk-note")  # catalog text, not CRM text: written as it is
