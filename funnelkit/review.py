"""The funnel review: every section of the leadership report, computed in one call.

The notebook ``notebooks/funnel_review.ipynb`` only displays what
:func:`review` returns, so the report's logic is tested here and not in cells.
Sections the data cannot support are left out with the reason, never shown
as an empty chart.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .dataset import Dataset
from .errors import FunnelkitError, NotMeasurableError
from .metrics import (
    conversion,
    drift,
    dropoff,
    km_curve,
    lead_value,
    mix_decomposition,
    period_labels,
    time_to_close,
    win_rate,
)
from .metrics._common import NOTE, days_between
from .metrics._money import NO_CURRENCY, currencies, currency_names, won_without_amount
from .metrics.time_to_close import _start_column, default_start, describe_start
from .schema import stage_column, stage_label
from .stats import wilson

HEADLINE_COLUMNS = ["measure", "this_period", "previous_period", "change", "note"]

STAGE_TITLES = {
    "lead": "New leads",
    "mql": "New MQLs",
    "sql": "New SQLs",
    "opportunity": "New opportunities",
}


@dataclass
class Review:
    """What the funnel review shows, section by section.

    Attributes
    ----------
    headline : DataFrame
        ``measure``, ``this_period``, ``previous_period``, ``change``, ``note``,
        ``currency``: the numbers that matter this period against the one
        before. Won revenue is one row ("Won revenue", in ``currency``), or
        one per currency ("Won revenue (EUR)") when amounts are in several:
        currencies are never added.
    period, previous : str
        Labels of the latest complete-enough period and the one before it.
    sections : dict of str to DataFrame
        Tables by section name (``dropoff``, ``conversion``, ``win_rate``,
        ``time_to_close``, ``km``, ``lead_value``, ``drift``, ``mix``).
    skipped : dict of str to str
        Sections left out and why.
    notes : dict of str to list of str
        For sections shown: what was computed where the data leaves a
        choice (what time to close counts from), and what could not be
        measured (the ``note`` column of the section's table), in plain text.
    findings : list of str
        Plain-language sentences for the summary (CRM text already escaped).
    """

    headline: pd.DataFrame
    period: str | None
    previous: str | None
    sections: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def has(self, section: str) -> bool:
        return section in self.sections and not self.sections[section].empty


def review(
    data: Dataset,
    *,
    period: str = "Q",
    by: str = "source",
    fiscal_year_start: int = 1,
    stall_days: float = 90,
) -> Review:
    """Compute every section of the funnel review.

    Parameters
    ----------
    data : Dataset
    period : {"M", "Q", "Y"}
        The reporting period (headline compares the last two).
    by : str
        Breakdown of the trend sections (default ``source``; any funnel column).
    fiscal_year_start : int
    stall_days : float
        Open deals older than this count as lost in the broad win rate.

    Returns
    -------
    Review

    Raises
    ------
    NotMeasurableError
        When the data holds no leads and no deals. Anything less leaves
        sections out with the reason (:attr:`Review.skipped`).
    """
    if not len(data.funnel):
        raise NotMeasurableError("the data holds no leads and no deals: there is no funnel to review")
    if by not in data.funnel.columns or data.funnel[by].nunique() < 1:
        by = None
    sections: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    options = {"fiscal_year_start": fiscal_year_start}

    def attempt(name: str, compute, reason_if_empty: str):
        try:
            table = compute()
        except FunnelkitError as exc:
            skipped[name] = str(exc)
            return
        if table is None or len(table) == 0:
            skipped[name] = reason_if_empty
        else:
            sections[name] = table

    f = data.funnel
    has_deals = bool(f["opportunity_id"].notna().any() or f["is_closed"].any())
    has_closed = bool(f["is_closed"].any())
    no_closed = "no deal in the data has closed yet" if has_deals else "the data has no deals (opportunities)"
    attempt("dropoff", lambda: dropoff(data), "the data holds no funnel entities")
    attempt(
        "conversion",
        lambda: conversion(data, by=by, period=period, **options),
        "no stage has dated entries to form cohorts",
    )
    if has_closed:
        attempt(
            "win_rate",
            lambda: win_rate(data, by=by, period=period, stall_days=stall_days, **options),
            "",
        )
        attempt(
            "win_rate_total",
            lambda: win_rate(data, period=period, stall_days=stall_days, **options),
            "",
        )
    else:
        skipped["win_rate"] = no_closed
    start = default_start(data)
    if has_closed:
        attempt(
            "time_to_close",
            lambda: time_to_close(data, by=by, start=start),
            "no deal has a start date",
        )
        attempt("km", lambda: km_curve(data, by=by, start=start), "no deal has a start date")
    else:
        skipped["time_to_close"] = no_closed
    if not (f["entity"] == "lead").any():
        skipped["lead_value"] = "lead value needs leads linked to closed deals; this export has no leads"
    elif has_closed:
        attempt("lead_value", lambda: lead_value(data, by=by or "source"), "no matured leads yet")
    else:
        skipped["lead_value"] = f"lead value needs leads linked to closed deals; {no_closed}"
    if has_closed:
        attempt(
            "drift",
            lambda: drift(data, metric="win_rate", period=period, by=by, **options),
            "fewer than two periods of closed deals",
        )
    current, previous = _last_two_periods(data, period, fiscal_year_start)
    if current and previous and by:
        attempt("mix", lambda: _mix(data, by, current, previous, period, fiscal_year_start), "")
    headline = _headline(data, period, current, previous, fiscal_year_start)
    result = Review(headline, current, previous, sections, skipped, notes=_notes(sections, data, start))
    result.findings = _findings(result, data)
    return result


def _notes(sections: dict[str, pd.DataFrame], data: Dataset, start: str) -> dict[str, list[str]]:
    """What each shown section computed where the data leaves a choice, and what it could not measure."""
    notes: dict[str, list[str]] = {}
    for name, table in sections.items():
        if NOTE in table:
            said = table[NOTE].dropna()
            if name == "conversion":  # one note per step, with the step's all-time counts where it has no cohorts
                said = _step_notes(table)
            notes[name] = list(dict.fromkeys(said))
    if "time_to_close" in sections:
        counted = f"Days are counted from {describe_start(data, start)}"
        if start != "opportunity":
            counted += " (start=" + repr(start) + "): the opportunities have no created date"
        notes["time_to_close"] = [counted + ".", *notes.get("time_to_close", [])]
    return notes


def _step_notes(table: pd.DataFrame) -> list[str]:
    out = []
    for (a, b), step in table.groupby(["from_stage", "to_stage"], sort=False):
        said = step[NOTE].dropna()
        if said.empty:
            continue
        counts = ""
        if "period" in step and step["period"].isna().all():
            entered, converted = int(step["entered"].sum()), int(step["converted"].sum())
            share = f" ({converted / entered:.0%})" if entered else ""
            counts = f" Over all time {converted:,} of {entered:,}{share} reached {stage_label(b)}."
        out.append(f"{stage_label(a)} → {stage_label(b)}: {'; '.join(dict.fromkeys(said))}.{counts}")
    return out


def _last_two_periods(data: Dataset, period: str, fiscal_year_start: int) -> tuple[str | None, str | None]:
    first_at = data.funnel[stage_column(data.stages.first)].dropna()
    stamps = first_at if len(first_at) else data.funnel["closed_at"].dropna()
    if stamps.empty:
        return None, None
    labels = sorted(period_labels(stamps, period, fiscal_year_start=fiscal_year_start).dropna().unique())
    if len(labels) < 2:
        return (labels[-1] if labels else None), None
    return labels[-1], labels[-2]


def _mix(data, by, current, previous, period, fiscal_year_start) -> pd.DataFrame:
    """Mix vs rate split of the win rate's change (or the first step's, without closed deals)."""
    options = {"current": current, "previous": previous, "by": by, "period": period,
               "fiscal_year_start": fiscal_year_start}  # fmt: skip
    if data.funnel["is_closed"].any():
        return mix_decomposition(data, metric="win_rate", **options)
    names = data.stages.names
    return mix_decomposition(data, from_stage=names[0], to_stage=names[1], **options)


def _headline(data: Dataset, period: str, current, previous, fiscal_year_start: int) -> pd.DataFrame:
    """The five or six numbers that matter, this period against the previous one."""
    f = data.funnel
    if current is None:
        reason = "not measurable: no lead or deal has a date that places it in a period"
        return pd.DataFrame([("Periods compared", np.nan, np.nan, np.nan, reason)], columns=HEADLINE_COLUMNS)
    rows = []
    money: dict[str, str | None] = {}  # currency of each revenue row
    label = lambda stamps: period_labels(stamps, period, fiscal_year_start=fiscal_year_start)  # noqa: E731

    def count_row(name: str, stamps: pd.Series, note: str = "") -> None:
        labels = label(stamps.dropna())
        now, before = int((labels == current).sum()), int((labels == previous).sum())
        rows.append((name, now, before, _change(now, before), note))

    names = data.stages.names
    for stage, after in zip(names[:-1], names[1:], strict=True):
        at = f[stage_column(stage)]
        # a stage whose every date was borrowed from the next (skipped) says nothing new
        own = at.notna() & (at != f[stage_column(after)])
        if own.any():
            count_row(STAGE_TITLES.get(stage, f"Entered {stage}"), at)
    closed = f[f["is_closed"] & f["closed_at"].notna()]
    if len(closed):
        labels = label(closed["closed_at"])
        now = closed[labels == current]
        before = closed[labels == previous]
        rate_now = now["is_won"].mean() if len(now) else np.nan
        rate_before = before["is_won"].mean() if len(before) else np.nan
        won_now = int(now["is_won"].sum())
        low, high = wilson([won_now], [len(now)])
        interval = f"; 95% CI {low[0]:.0%}-{high[0]:.0%}" if len(now) else ""
        rows.append(("Win rate", rate_now, rate_before, rate_now - rate_before,
                     f"{won_now} won of {len(now)} closed{interval}"))  # fmt: skip
        for row in _revenue_rows(closed[closed["is_won"].to_numpy(dtype=bool)], labels, current, previous):
            money[row[0]] = row[-1]
            rows.append(row[:-1])
        start = _start_column(data, default_start(data))
        days = days_between(closed["closed_at"], closed[start])
        med_now = days[(labels == current) & (days >= 0)].median()
        med_before = days[(labels == previous) & (days >= 0)].median()
        note = _days_note(data, days)
        rows.append(("Median days to close (closed deals)", med_now, med_before, med_now - med_before, note))
    if not rows:
        reason = f"not measurable: nothing this data holds is dated in {current} or {previous}"
        rows.append(("Periods compared", np.nan, np.nan, np.nan, reason))
    out = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    out["currency"] = out["measure"].map(money).astype("str")
    return out


def _revenue_rows(won: pd.DataFrame, labels: pd.Series, current, previous) -> list[tuple]:
    """Won revenue this period and the one before: one row, or one per currency (never added).

    Won deals without an amount are left out of the sums and counted in the note; a
    period whose won deals all lack one has no revenue figure (not 0).
    """
    labels = labels[won.index]
    found = currencies(won)
    blank = won["amount"].isna()
    left_out = [int((blank & (labels == p)).sum()) for p in (current, previous)]
    rows = []
    for code in found or [None]:
        if len(found) > 1:
            in_code = won["currency"].isna() if code is None else won["currency"].eq(code).fillna(False)
            measure = f"Won revenue ({code or NO_CURRENCY})"
            others = currency_names([c for c in found if c != code])
            note = f"in {code or NO_CURRENCY}; not added to {others}"
        else:
            in_code = pd.Series(True, index=won.index)
            measure = "Won revenue"
            note = f"in {code}" if code else ("the export names no currency" if found else "")
        now, before = (_revenue(won.loc[in_code & (labels == p), "amount"]) for p in (current, previous))
        if any(left_out):
            note += ("; " if note else "") + (
                f"won deals without an amount left out: {left_out[0]:,} this period, {left_out[1]:,} before"
            )
        rows.append((measure, now, before, _change(now, before), note, code))
    return rows


def _revenue(amounts: pd.Series) -> float:
    """Sum of the amounts given; 0 without won deals, missing when no won deal has an amount."""
    return float(amounts.sum()) if amounts.notna().any() or amounts.empty else np.nan


def _days_note(data: Dataset, days: pd.Series) -> str:
    """What the headline's days to close count from, or why there are none."""
    if not days.notna().any():
        return "not measurable: no closed deal has a start date (see the time-to-close section)"
    return f"from {describe_start(data, default_start(data))}; open deals are censored in the time-to-close section"


def _change(now: float, before: float) -> float:
    return (now - before) / before if before else np.nan


def _findings(result: Review, data: Dataset) -> list[str]:
    """Sentences for the summary. Group names come from the CRM: they are escaped here."""
    out = []
    if result.period:
        out.append(
            f"Latest period: <b>{html.escape(result.period)}</b>"
            + (f", compared with {html.escape(result.previous)}." if result.previous else ".")
            + f" Figures are as of {data.as_of:%Y-%m-%d %H:%M} UTC;"
            + " the latest period may still be filling."
        )
    if result.has("dropoff"):
        d = result.sections["dropoff"]
        d = d[d["stage"] != data.stages.won]
        worst = d.loc[d["stopped_share"].idxmax()] if d["stopped_share"].notna().any() else None
        if worst is not None:
            out.append(
                f"The funnel loses most at <b>{html.escape(str(worst['stage']))}</b>: "
                f"{int(worst['stopped']):,} of {int(worst['reached']):,} "
                f"({worst['stopped_share']:.0%}) went no further."
            )
    if result.has("drift"):
        moved = result.sections["drift"]
        moved = moved[moved["significant"]]
        if moved.empty:
            out.append("No change in win rate between periods is beyond noise (Holm-adjusted, 5%).")
        for row in moved.tail(3).itertuples():
            group = " / ".join(
                html.escape(str(getattr(row, c))) for c in moved.columns[: moved.columns.get_loc("period")]
            )
            out.append(
                f"Win rate of <b>{group or 'all deals'}</b> moved from {row.previous_value:.0%} to "
                f"{row.value:.0%} in {html.escape(str(row.period))}: "
                f"beyond noise (adjusted p = {row.p_adjusted:.3f})."
            )
    if result.has("mix"):
        total = result.sections["mix"].iloc[-1]
        out.append(
            f"Of the overall change of {total['total_change']:+.1%}, "
            f"{total['mix_effect']:+.1%} came from a shift in mix and "
            f"{total['rate_effect']:+.1%} from rates within groups."
        )
    out.extend(_money_findings(data))
    for section, reason in result.skipped.items():
        out.append(f"Section <i>{html.escape(section.replace('_', ' '))}</i> left out: {html.escape(reason)}")
    return out


def _money_findings(data: Dataset) -> list[str]:
    """Sentences about revenue figures: several currencies, won deals without an amount."""
    f = data.funnel
    out = []
    found = currencies(f[f["is_won"].to_numpy(dtype=bool)])
    if len(found) > 1:
        out.append(
            f"Won revenue is in {len(found)} currencies ({html.escape(currency_names(found))}): every revenue "
            "figure is given per currency; amounts of different currencies are never added."
        )
    blank = int(won_without_amount(f).sum())
    if blank:
        deals = "deal has" if blank == 1 else "deals have"
        out.append(
            f"{blank:,} won {deals} no amount: counted as won (win rates include them) but left out of "
            "every revenue sum and average."
        )
    return out
