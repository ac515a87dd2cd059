"""HTML pieces the report notebooks display: formatted tables, the summary, section notes.

Every value that may come from a CRM is escaped here (``DataFrame.to_html``
escapes cells and headers; free text goes through :func:`funnelkit.safety.escape`),
and nbconvert renders with sanitizing on as a second guard.
"""

from __future__ import annotations

import pandas as pd

from .review import Review
from .safety import escape
from .schema import stage_label
from .stats import SMALL_N

PERCENT_COLUMNS = ("rate", "ci_low", "ci_high", "broad_rate", "cumulative_rate", "value", "previous_value",
                   "change", "stopped_share", "share_previous", "share_current", "rate_previous", "rate_current",
                   "mix_effect", "rate_effect", "total_change", "win_rate")  # fmt: skip
MONEY_COLUMNS = ("won_revenue", "revenue_per_lead", "revenue_per_mql", "avg_deal_size", "lost_value", "spend",
                 "cost_per_lead", "value_per_unit", "target", "low", "high", "cost_per_won",
                 "velocity_per_day")  # fmt: skip
STAGE_COLUMNS = ("stage", "from_stage", "to_stage", "furthest_stage")
DAY_COLUMNS = (
    "median",
    "q25",
    "q75",
    "closed_median",
    "horizon_days",
    "cycle_days",
    "lead_time_days",
    "median_minutes",
)


def table_html(frame: pd.DataFrame, *, percent=(), columns=None, max_rows: int = 60) -> str:
    """A readable HTML table: rates as percentages (counts instead when n < 20),
    money with thousands separators, days rounded. Cells and headers are escaped."""
    shown = frame[columns] if columns else frame
    shown = shown.head(max_rows).copy()
    as_percent = set(percent) | {c for c in shown.columns if c in PERCENT_COLUMNS}
    small = frame["small_sample"].head(max_rows).to_numpy() if "small_sample" in frame else None
    for column in shown.columns:
        values = shown[column]
        if column in as_percent and pd.api.types.is_numeric_dtype(values):
            text = values.map(_percent)
            if small is not None and column in ("rate", "ci_low", "ci_high"):
                text = text.where(~small, "n<20" if column != "rate" else _counts(frame.head(max_rows)))
            shown[column] = text
        elif column in MONEY_COLUMNS and pd.api.types.is_numeric_dtype(values):
            shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
        elif column in DAY_COLUMNS and pd.api.types.is_numeric_dtype(values):
            shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:,.1f}")
        elif column in STAGE_COLUMNS:
            shown[column] = values.map(lambda v: "" if pd.isna(v) else stage_label(v))
        elif pd.api.types.is_bool_dtype(values):
            shown[column] = values.map({True: "yes", False: "no"})
        elif pd.api.types.is_integer_dtype(values):
            shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:,}")
    shown = shown.drop(columns=[c for c in ("small_sample",) if c in shown])
    shown.columns = [str(c).replace("_", " ") for c in shown.columns]
    note = f"<p class='fk-note'>first {max_rows} of {len(frame):,} rows</p>" if len(frame) > max_rows else ""
    return shown.to_html(index=False, escape=True, na_rep="", classes="fk-table", border=0) + note


def _percent(value) -> str:
    """``0.123`` -> ``12.3%``; a tiny negative that rounds to zero reads ``0.0%``, not ``-0.0%``."""
    if pd.isna(value):
        return ""
    text = f"{value:.1%}"
    return "0.0%" if text == "-0.0%" else text


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
    """Row accounting of the load and the notes it made, for the data-quality section."""
    summary = data.summary.table
    keep = [c for c in ("file", "adapter", "table", "rows_read", "rows_kept", "rows_quarantined", "footer_lines")
            if c in summary]  # fmt: skip
    shown = summary[keep].assign(file=summary["file"].map(lambda p: str(p).rsplit("/", 1)[-1]))
    notes = "".join(f"<li>{escape(n)}</li>" for n in data.notes)
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
