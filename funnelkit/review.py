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
    coverage,
    drift,
    dropoff,
    km_curve,
    lead_value,
    lost_reasons,
    mix_decomposition,
    period_labels,
    pipeline,
    revenue_change,
    stalled_deals,
    time_to_close,
    win_rate,
)
from .metrics._common import NOTE, _end_of, by_columns, days_between
from .metrics._money import NO_CURRENCY, currencies, currency_names, won_without_amount
from .metrics.pipeline import AT_RISK_AT, COVERED_AT
from .metrics.time_to_close import _start_column, default_start, describe_start
from .report.sections import Section, attempt
from .schema import stage_column, stage_label
from .stats import wilson
from .units import Unit, declare, format_value

HEADLINE_COLUMNS = ["measure", "this_period", "previous_period", "change", "note"]

NO_DATES = "no lead or deal in the data has a date"

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
        ``time_to_close``, ``km``, ``lead_value``, ``drift``, ``mix``,
        ``revenue_change``, ``pipeline``, ``lost_reasons``,
        ``lost_reasons_trend``, ``stalled_deals``).
    skipped : dict of str to str
        Sections left out and why.
    notes : dict of str to list of str
        For sections shown: what was computed where the data leaves a
        choice (what time to close counts from), and what could not be
        measured (the ``note`` column of the section's table), in plain text.
        ``notes["review"]`` holds what applies to the whole review (a ``by``
        column the data does not fill).
    findings : list of str
        Plain-language sentences for the summary (CRM text already escaped).
    on_track : DataFrame or None
        Are we on track (:func:`on_track`): the period holding ``as_of``,
        won revenue against the quota or an earlier period, coverage and the
        verdict, one row per currency.
    on_track_text : list of str
        The on-track summary in words (HTML, CRM text escaped): the period
        with its dates, complete or in progress, won revenue against the
        target and the verdict first; then the open pipeline by stage and the
        coverage.
    """

    headline: pd.DataFrame
    period: str | None
    previous: str | None
    sections: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    on_track: pd.DataFrame | None = None
    on_track_text: list[str] = field(default_factory=list)

    def has(self, section: str) -> bool:
        return section in self.sections and not self.sections[section].empty

    def section(self, name: str) -> Section:
        """One section as a :class:`~funnelkit.report.Section`: its table, or the reason it is left out,
        with its notes; ``.note()`` gives the HTML the report shows under it."""
        if name in self.skipped:
            return Section(reason=self.skipped[name])
        return Section(self.sections.get(name), notes=tuple(self.notes.get(name, ())))


def review(
    data: Dataset,
    *,
    period: str = "Q",
    by: str | None = "source",
    fiscal_year_start: int = 1,
    stall_days: float = 90,
    quota: float | None = None,
    currency: str | None = None,
    top_reasons: int = 6,
) -> Review:
    """Compute every section of the funnel review.

    Parameters
    ----------
    data : Dataset
    period : {"M", "Q", "Y"}
        The reporting period (headline compares the last two).
    by : str or None
        Breakdown of the trend sections (default ``source``; any funnel
        column). A column the export does not fill (Maven's ``source``) is
        said once in ``notes["review"]`` and the review goes on without the
        breakdown; a name that is no column at all raises.
    fiscal_year_start : int
    stall_days : float
        Open deals older than this count as lost in the broad win rate.
    quota : float, optional
        Won-revenue target of the period, for the on-track summary
        (:func:`on_track`); without one, won revenue is compared with an
        earlier period.
    currency : str, optional
        The quota's currency, when won revenue is in several.
    top_reasons : int
        Lost reasons shown by name; the rest read "Other".

    Returns
    -------
    Review

    Raises
    ------
    NotMeasurableError
        When the data holds no leads and no deals. Anything less leaves
        sections out with the reason (:attr:`Review.skipped`).
    ParameterError
        When ``by`` is not a column of the data.
    """
    if not len(data.funnel):
        raise NotMeasurableError("the data holds no leads and no deals: there is no funnel to review")
    review_notes: list[str] = []
    by = _breakdown(data, by, review_notes)
    parts: dict[str, Section] = {}
    options = {"fiscal_year_start": fiscal_year_start}

    def run(name: str, compute, empty: str = "the data holds nothing for this section") -> None:
        parts[name] = attempt(compute, empty=empty)

    f = data.funnel
    has_deals = bool(f["opportunity_id"].notna().any() or f["is_closed"].any())
    has_closed = bool(f["is_closed"].any())
    no_closed = "no deal in the data has closed yet" if has_deals else "the data has no deals (opportunities)"
    run("dropoff", lambda: dropoff(data), "the data holds no funnel entities")
    run(
        "conversion",
        lambda: conversion(data, by=by, period=period, **options),
        "no stage has dated entries to form cohorts",
    )
    if has_closed:
        run("win_rate", lambda: win_rate(data, by=by, period=period, stall_days=stall_days, **options))
        run("win_rate_total", lambda: win_rate(data, period=period, stall_days=stall_days, **options))
    else:
        parts["win_rate"] = Section(reason=no_closed)
    start = default_start(data)
    if has_closed:
        run("time_to_close", lambda: time_to_close(data, by=by, from_stage=start), "no deal has a start date")
        run("km", lambda: km_curve(data, by=by, from_stage=start), "no deal has a start date")
    else:
        parts["time_to_close"] = Section(reason=no_closed)
    if not (f["entity"] == "lead").any():
        parts["lead_value"] = Section(reason="lead value needs leads linked to closed deals; this export has no leads")
    elif has_closed:
        run("lead_value", lambda: lead_value(data, by=by or "source"), "no matured leads yet")
    else:
        parts["lead_value"] = Section(reason=f"lead value needs leads linked to closed deals; {no_closed}")
    if has_closed:
        run(
            "drift",
            lambda: drift(data, metric="win_rate", period=period, by=by, **options),
            "fewer than two periods of closed deals",
        )
    current, previous = _last_two_periods(data, period, fiscal_year_start)
    if current and previous and by:
        run("mix", lambda: _mix(data, by, current, previous, period, fiscal_year_start))
    if current and previous:
        run(
            "revenue_change",
            lambda: revenue_change(data, period=period, current=current, previous=previous, **options),
        )
    _where_deals_are_lost(data, run, parts, period, top_reasons, options)
    headline = _headline(data, period, current, previous, fiscal_year_start)
    sections = {name: part.value for name, part in parts.items() if part.ok and part.value is not None}
    skipped = {name: part.reason for name, part in parts.items() if not part.ok}
    notes = _notes(sections, data, start)
    for name, part in parts.items():
        if part.ok and part.warnings:
            notes[name] = [*notes.get(name, []), *part.warnings]
    if review_notes:
        notes["review"] = review_notes
    result = Review(headline, current, previous, sections, skipped, notes=notes)
    if pd.isna(data.as_of):
        result.on_track_text = [f"Whether we are on track is not measurable: {NO_DATES}."]
    else:
        result.on_track = on_track(data, period=period, current=current, quota=quota, currency=currency, **options)
        result.on_track_text = on_track_sentences(result.on_track, sections.get("pipeline"), skipped.get("pipeline"))
    result.findings = _findings(result, data)
    return result


def _breakdown(data: Dataset, by, notes: list[str]) -> str | None:
    """``by`` when the data fills it; ``None`` with a note when the export leaves the column empty."""
    if by is None:
        return None
    (column,) = by_columns(data, by)  # a name that is no column raises, as every metric does
    if data.funnel[column].notna().any():
        return column
    notes.append(
        f"This export does not fill the column {column!r}: the review is shown without a breakdown by {column}."
    )
    return None


def _where_deals_are_lost(data: Dataset, run, parts: dict, period: str, top: int, options: dict) -> None:
    """Open pipeline, lost reasons (overall and by period of close) and stalled deals."""
    if pd.isna(data.as_of):  # no date at all: nothing to measure ages or a period against
        parts["pipeline"] = Section(reason=NO_DATES)
    else:
        run("pipeline", lambda: pipeline(data), "no deal is open")
    run("lost_reasons", lambda: lost_reasons(data, top=top), "no deal has been lost")
    if parts["lost_reasons"].ok:
        run("lost_reasons_trend", lambda: lost_reasons(data, period=period, top=top, **options))
    run(
        "stalled_deals",
        lambda: stalled_deals(data),
        "no open deal has been in its stage longer than the stage's stall line (75th percentile)",
    )


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
                f"{row.value:.0%} ({_points(row.value - row.previous_value)}) in {html.escape(str(row.period))}: "
                f"beyond noise (adjusted p = {row.p_adjusted:.3f})."
            )
    if result.has("mix"):
        total = result.sections["mix"].iloc[-1]
        out.append(
            f"Of the overall change of {total['total_change']:+.1%}, "
            f"{total['mix_effect']:+.1%} came from a shift in mix and "
            f"{total['rate_effect']:+.1%} from rates within groups."
        )
    if result.has("revenue_change"):
        out.extend(revenue_change_sentences(result.sections["revenue_change"]))
    out.extend(_money_findings(data))
    out.extend(html.escape(note) for note in result.notes.get("review", []))
    for section, reason in result.skipped.items():
        out.append(f"Section <i>{html.escape(section.replace('_', ' '))}</i> left out: {html.escape(reason)}")
    return out


def revenue_change_sentences(table: pd.DataFrame) -> list[str]:
    """What changed in won revenue and why, one sentence per currency: each factor from before to now, rates in
    points, and its contribution in money (:func:`funnelkit.revenue_change`)."""
    out = []
    for code, rows in table.groupby("currency", sort=True):
        code = None if code == NO_CURRENCY else code
        rows = rows.set_index("factor")
        total = rows.loc["total"]
        said = []
        for factor, r in rows.drop(index="total").iterrows():
            if factor == "volume":
                moved = f"{int(r['previous_value']):,} to {int(r['current_value']):,}"
            elif factor == "deal_size":
                moved = " to ".join(
                    _money(v, code) if pd.notna(v) else "none" for v in (r["previous_value"], r["current_value"])
                )
            elif pd.notna(r["change"]):
                moved = f"{r['previous_value']:.1%} to {r['current_value']:.1%} ({_points(r['change'])})"
            else:
                moved = "not measurable in one of the periods"
            said.append(f"{r['measure']} {moved}: {_signed_money(r['contribution'], code)}")
        out.append(
            f"Won revenue went from {_money(total['previous_value'], code)} in {html.escape(total['previous_period'])}"
            f" to {_money(total['current_value'], code)} in {html.escape(total['current_period'])}"
            f" ({_signed_money(total['change'], code)}). By factor: " + "; ".join(said) + "."
        )
    return out


def revenue_change_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`funnelkit.revenue_change` for people: each factor's values as text by its unit (counts, rates, money)
    and the change of a rate in points, beside its contribution in money."""
    shown = []
    for row in table.to_dict("records"):
        code = None if row["currency"] == NO_CURRENCY else row["currency"]
        unit = {"volume": Unit.COUNT, "deal_size": Unit.MONEY, "total": Unit.MONEY}.get(row["factor"], Unit.RATE)
        change_unit = Unit.POINTS if unit is Unit.RATE else unit
        text = lambda v, u=unit, c=code: format_value(v, u, currency=c)  # noqa: E731
        change = format_value(row["change"], change_unit, currency=code)
        if change_unit is not Unit.POINTS and pd.notna(row["change"]) and row["change"] > 0:
            change = "+" + change
        shown.append({"measure": row["measure"], row["previous_period"]: text(row["previous_value"]),
                      row["current_period"]: text(row["current_value"]), "change": change,
                      "contribution": row["contribution"], "currency": row["currency"]})  # fmt: skip
    return declare(pd.DataFrame(shown), contribution=Unit.MONEY)


def _signed_money(value: float, code) -> str:
    return ("+" if value >= 0 else "-") + _money(abs(value), code)


def _points(change: float) -> str:
    """A change of a rate in points: ``-4.1 points``."""
    return f"{change * 100:+.1f} points"


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


# ---- are we on track ---------------------------------------------------------------------------------------

#: the plain verdicts of :func:`review`'s on-track summary
ON_TRACK, AT_RISK, BEHIND = "on track", "at risk", "behind"
PERIOD_NOUNS = {"W": "week", "M": "month", "Q": "quarter", "Y": "year"}
_PERIOD_LENGTH = {"W": pd.DateOffset(days=7), "M": pd.DateOffset(months=1), "Q": pd.DateOffset(months=3),
                  "Y": pd.DateOffset(years=1)}  # fmt: skip
ON_TRACK_COLUMNS = [
    "period", "period_start", "period_end", "status", "as_of", "days_left", "currency", "won_deals", "won_revenue",
    "target", "target_basis", "attainment", "left_to_win", "open", "open_value", "weighted_pipeline", "coverage",
    "verdict", "note",
]  # fmt: skip


def period_span(label: str, period: str, *, fiscal_year_start: int = 1) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First moment of a labelled period and the moment after it ends (UTC): ``[start, end)``.

    Examples
    --------
    >>> [f"{t:%Y-%m-%d}" for t in period_span("2025 Q4", "Q")]
    ['2025-10-01', '2026-01-01']
    >>> [f"{t:%Y-%m-%d}" for t in period_span("FY2026 Q1", "Q", fiscal_year_start=2)]
    ['2025-02-01', '2025-05-01']
    """
    end = _end_of(label, period, fiscal_year_start)
    return end - _PERIOD_LENGTH[period], end


def _label_of(moment: pd.Timestamp, period: str, fiscal_year_start: int) -> str:
    return str(period_labels(pd.Series([moment]), period, fiscal_year_start=fiscal_year_start).iloc[0])


def on_track(
    data: Dataset,
    *,
    period: str = "Q",
    current: str | None = None,
    quota: float | None = None,
    currency: str | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Are we on track? Won revenue of a period against a target, and a verdict.

    The target is ``quota`` when given (in ``currency``, or the data's one
    currency). Without one, it is the won revenue of the same period a year
    earlier, when the data covers that period from its start and it has won
    revenue; otherwise that of the previous period (from the data's first
    date when the data starts inside it); ``target_basis`` says which.
    Money is compared per currency and never added across currencies.

    The verdict, while the period is in progress: **on track** when the
    target is already won or the open pipeline weighted by stage win rates
    (:func:`funnelkit.coverage`) covers what is left to win
    (coverage at least 100%), **at risk** at 75% to 100% coverage, **behind**
    below 75%. Once the period is over (``as_of`` at or past its end) the
    revenue is final and the verdict is **on track** when the target was met,
    else **behind**; nothing is "left to win" then. Without a target, or with
    open deals whose value is unknown, there is no verdict and ``note`` says
    why.

    Parameters
    ----------
    data : Dataset
    period : {"W", "M", "Q", "Y"}
    current : str, optional
        Label of the period judged ("2025 Q4"); default the one holding
        ``data.as_of``. It is complete when ``as_of`` is at or past its end
        (an export taken after the quarter closed, or ``as_of=`` given so).
    quota : float, optional
        Won-revenue target of the period.
    currency : str, optional
        The quota's currency; needed with a quota when won revenue is in several.
    fiscal_year_start : int

    Returns
    -------
    pandas.DataFrame
        One row per currency of won revenue (one row when there is none).
        Columns: ``period`` (label), ``period_start``, ``period_end`` (last
        day), ``status`` ("complete" or "in progress"), ``as_of``,
        ``days_left``, ``currency``, ``won_deals`` (won deals with an amount,
        closed in the period), ``won_revenue``, ``target``, ``target_basis``,
        ``attainment`` (won revenue / target), ``left_to_win`` (empty once
        the period is complete), ``open``, ``open_value``,
        ``weighted_pipeline``, ``coverage`` (weighted pipeline / left to
        win), ``verdict``, ``note``.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)  # as of 2025-03-20
    >>> table = on_track(data, quota=20_000)
    >>> print(table[["period", "status", "won_revenue", "left_to_win", "open", "verdict"]].to_string(index=False))
     period      status  won_revenue  left_to_win  open verdict
    2025 Q1 in progress      12345.0       7655.0     0  behind
    """
    as_of = data.as_of
    label = current or _label_of(as_of, period, fiscal_year_start)
    start, end = period_span(label, period, fiscal_year_start=fiscal_year_start)
    complete = bool(as_of >= end)
    f = data.funnel
    won = f[f["is_won"].to_numpy(dtype=bool) & f["closed_at"].notna().to_numpy() & f["amount"].notna().to_numpy()]
    found = currencies(won) or [None]
    notes: list[str] = []
    if quota is not None and len(found) > 1 and currency is None:
        notes.append(
            f"won revenue is in {len(found)} currencies ({currency_names(found)}); the quota needs one: "
            f"pass currency= one of them"
        )
        quota = None
    if quota is not None and currency is not None and len(found) > 1:
        found = [currency]
    rows = []
    for code in found:
        in_code = won["currency"].isna() if code is None else won["currency"].eq(code).fillna(False)
        deals = won[in_code.to_numpy(dtype=bool)]
        rows.append(
            _on_track_row(data, deals, code, label, period, start, end, complete, quota, currency, fiscal_year_start)
        )
    out = pd.DataFrame(rows, columns=ON_TRACK_COLUMNS)
    if notes:
        out["note"] = ["; ".join([*notes, *([n] if isinstance(n, str) and n else [])]) for n in out["note"]]
    return declare(
        out.astype({"note": "str", "verdict": "str", "target_basis": "str", "currency": "str", "open": "Int64"}),
        period_start=Unit.TIMESTAMP,
        period_end=Unit.TIMESTAMP,
        as_of=Unit.TIMESTAMP,
        days_left=Unit.DAYS,
        target=Unit.MONEY,
        attainment=Unit.RATE,
        left_to_win=Unit.MONEY,
        weighted_pipeline=Unit.MONEY,
        coverage=Unit.RATE,
    )


def _on_track_row(data, deals, code, label, period, start, end, complete, quota, currency, fys) -> dict:
    as_of = data.as_of
    in_period = (deals["closed_at"] >= start) & (deals["closed_at"] < end)
    revenue = float(deals.loc[in_period.to_numpy(dtype=bool), "amount"].sum())
    notes: list[str] = []
    if quota is not None:
        target, basis = float(quota), "quota"
        if currency and code and currency != code:
            target, basis = np.nan, pd.NA
            notes.append(f"the quota is in {currency}, but won revenue is in {code}")
    else:
        target, basis = _comparison_target(data, deals, start, period, fys)
        if pd.isna(target):
            notes.append(f"no target: no quota was given and no earlier {PERIOD_NOUNS[period]} has won revenue")
    row = {
        "period": label,
        "period_start": start,
        "period_end": end - pd.Timedelta(days=1),
        "status": "complete" if complete else "in progress",
        "as_of": as_of,
        "days_left": 0.0 if complete else (end - as_of) / pd.Timedelta(days=1),
        "currency": code,
        "won_deals": int(in_period.sum()),
        "won_revenue": revenue,
        "target": target,
        "target_basis": basis,
        "attainment": revenue / target if target and not pd.isna(target) else np.nan,
        "left_to_win": np.nan,
        "open": pd.NA,
        "open_value": np.nan,
        "weighted_pipeline": np.nan,
        "coverage": np.nan,
        "verdict": pd.NA,
    }
    if pd.isna(target):
        row["note"] = "; ".join(notes)
        return row
    if complete:
        row["verdict"] = ON_TRACK if revenue >= target else BEHIND
        row["note"] = "; ".join(notes) or pd.NA
        return row
    row["left_to_win"] = max(target - revenue, 0.0)
    if row["left_to_win"] == 0:
        row["verdict"] = ON_TRACK
        row["note"] = "; ".join([*notes, "the target is already won"])
        return row
    try:
        cover = coverage(data, target=target, period_start=start, period_end=row["period_end"], currency=code)
    except FunnelkitError as exc:
        notes.append(f"coverage not measurable: {exc}")
    else:
        c = cover.iloc[0]
        row.update(open=c["open"], open_value=c["open_value"], weighted_pipeline=c["weighted_pipeline"])
        row["coverage"] = c["coverage"]
        if isinstance(c["note"], str) and c["note"]:
            notes.append(c["note"])
    row["verdict"] = _coverage_verdict(row["coverage"])
    row["note"] = "; ".join(notes) or pd.NA
    return row


def _coverage_verdict(ratio: float):
    if pd.isna(ratio):
        return pd.NA
    if ratio >= COVERED_AT:
        return ON_TRACK
    return AT_RISK if ratio >= AT_RISK_AT else BEHIND


def _comparison_target(data: Dataset, deals: pd.DataFrame, start: pd.Timestamp, period: str, fys: int):
    """Won revenue of the same period a year earlier (when the data covers it from its start), else of the
    previous period; with the basis in words. Missing when neither has won revenue."""
    noun = PERIOD_NOUNS[period]
    first = _first_date(data)
    candidates = []
    if period != "Y":
        candidates.append((start - pd.DateOffset(years=1), f"the same {noun} a year earlier"))
    candidates.append((start - pd.Timedelta(days=1), f"the previous {noun}"))
    for moment, words in candidates:
        label = _label_of(moment, period, fys)
        begin, stop = period_span(label, period, fiscal_year_start=fys)
        partial = first is not None and first.normalize() > begin
        if partial and words.startswith("the same"):
            continue  # the data starts inside that period: its revenue would be partial
        closed = deals["closed_at"]
        revenue = float(deals.loc[((closed >= begin) & (closed < stop)).to_numpy(dtype=bool), "amount"].sum())
        if revenue > 0:
            since = f", from {first:%Y-%m-%d} when the data starts" if partial else ""
            return revenue, f"{words} ({label}{since})"
    return np.nan, pd.NA


def _first_date(data: Dataset) -> pd.Timestamp | None:
    f = data.funnel
    stamps = [f[c].min() for c in (*data.stages.columns, "closed_at") if c in f and f[c].notna().any()]
    return min(stamps) if stamps else None


def _money(value: float, code) -> str:
    return format_value(value, Unit.MONEY, currency=code if isinstance(code, str) else None)


def on_track_sentences(
    table: pd.DataFrame, pipeline_table: pd.DataFrame | None, pipeline_reason: str | None
) -> list[str]:
    """The on-track summary in words (HTML, CRM text escaped): the period, its revenue against the target and the
    verdict first; then the open pipeline by stage; then the coverage behind the verdict."""
    first = table.iloc[0]
    start, last = f"{first['period_start']:%Y-%m-%d}", f"{first['period_end']:%Y-%m-%d}"
    if first["status"] == "complete":
        status = "is complete"
    elif first["days_left"] < 1:
        status = f"is in progress as of {first['as_of']:%Y-%m-%d}, its last day"
    else:
        left = int(np.ceil(first["days_left"]))
        status = f"is in progress as of {first['as_of']:%Y-%m-%d}, {left:,} day{'s' if left != 1 else ''} left"
    clauses = [_revenue_clause(row) for row in table.to_dict("records")]
    out = [f"<b>{html.escape(first['period'])}</b> ({start} to {last}) {status}: " + "; ".join(clauses) + "."]
    out.append(_pipeline_sentence(pipeline_table, pipeline_reason))
    for row in table.to_dict("records"):
        said = _coverage_sentence(row)
        if said:
            out.append(said)
    return [s for s in out if s]


def _revenue_clause(row: dict) -> str:
    code = row["currency"] if isinstance(row["currency"], str) else None
    won = f"won {_money(row['won_revenue'], code)}"
    if pd.isna(row["target"]):
        return won + f" (no verdict: {html.escape(str(row['note']))})"
    basis = row["target_basis"]
    against = (
        f"the {_money(row['target'], code)} quota"
        if basis == "quota"
        else f"{_money(row['target'], code)} in {html.escape(basis)}"
    )
    gap = row["target"] - row["won_revenue"]
    if row["status"] == "complete":
        rest = f"{_money(gap, code)} short" if gap > 0 else f"{_money(-gap, code)} above it"
    else:
        rest = f"{_money(gap, code)} to go" if gap > 0 else f"{_money(-gap, code)} above it already"
    verdict = f"<b>{row['verdict']}</b>" if isinstance(row["verdict"], str) else "no verdict yet (see below)"
    return f"{won} against {against} ({row['attainment']:.0%}), {rest}: {verdict}"


def _pipeline_sentence(table: pd.DataFrame | None, reason: str | None) -> str:
    if table is None:
        return f"Open pipeline: not measurable ({html.escape(reason or 'no open deal')})."
    parts = []
    for code, rows in table.groupby("currency", dropna=False, sort=False):
        code = code if isinstance(code, str) else None
        stages = []
        for r in rows.to_dict("records"):
            value = _money(r["open_value"], code) if pd.notna(r["open_value"]) else "no amounts"
            age = f", median age {r['median_age_days']:,.0f} days" if pd.notna(r["median_age_days"]) else ""
            stalled = ""
            if pd.notna(r["stalled"]) and r["stalled"]:
                worth = f" ({_money(r['stalled_value'], code)})" if pd.notna(r["stalled_value"]) else ""
                stalled = f", {int(r['stalled']):,} stalled{worth}"
            n = int(r["open"])
            stages.append(f"{html.escape(stage_label(r['stage']))}: {n:,} deal{'s' if n != 1 else ''}, "
                          f"{value}{age}{stalled}")  # fmt: skip
        total = int(rows["open"].sum())
        worth = f" worth {_money(rows['open_value'].sum(), code)}" if rows["open_value"].notna().any() else ""
        parts.append(f"{total:,} open deal{'s' if total != 1 else ''}{worth}. " + "; ".join(stages))
    said = "Open pipeline as of the data's date: " + "; ".join(parts) + "."
    if table["median_age_days"].isna().all():
        said += " Ages are not measurable: the deals have no opportunity created date."
    return said


def _coverage_sentence(row: dict) -> str:
    code = row["currency"] if isinstance(row["currency"], str) else None
    if row["status"] == "complete" or pd.isna(row["target"]) or not row["left_to_win"]:
        return ""
    left = _money(row["left_to_win"], code)
    if pd.isna(row["coverage"]):
        return f"Coverage of the {left} left to win: not measurable ({html.escape(str(row['note']))})."
    if not row["open"]:
        return f"No open deal can close by the period's end: {html.escape(str(row['note']))}."
    return (
        f"Open deals weighted by their stage's win rate are worth {_money(row['weighted_pipeline'], code)}: "
        f"{row['coverage']:.0%} of the {left} left to win (on track from {COVERED_AT:.0%} coverage, "
        f"at risk from {AT_RISK_AT:.0%}, behind below)."
    )
