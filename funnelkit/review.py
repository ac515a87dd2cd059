"""The funnel review: every section of the leadership report, computed in one call.

The notebook ``notebooks/funnel_review.ipynb`` only displays what
:func:`review` returns, so the report's logic is tested here and not in cells.
Sections the data cannot support are left out with the reason, never shown
as an empty chart.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import markup
from .dataset import Dataset
from .errors import FunnelkitError, NotMeasurableError, ParameterError
from .i18n import N_, _, get_locale, ngettext
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
from .metrics._common import NOTE, _end_of, by_columns
from .metrics._money import NO_CURRENCY, currency_names
from .metrics.pipeline import AT_RISK_AT, COVERED_AT
from .metrics.time_to_close import _start_column, describe_start
from .metrics.win_rate import total_over_groups
from .report.sections import Section, attempt
from .schema import stage_label
from .stats import wilson
from .units import Unit, declare, format_number, format_percent, format_value

if TYPE_CHECKING:  # the facts are Ibis queries: Ibis is imported when a review runs, not with funnelkit
    from .review_facts import ReviewFacts

HEADLINE_COLUMNS = ["measure", "this_period", "previous_period", "change", "note"]

NO_DATES = N_("no lead or deal in the data has a date")

#: headline measures: the table keeps them in English (code reads them), the summary shows them translated
STAGE_TITLES = {
    "lead": N_("New leads"),
    "mql": N_("New MQLs"),
    "sql": N_("New SQLs"),
    "opportunity": N_("New opportunities"),
}
WIN_RATE, WON_REVENUE, MEDIAN_DAYS, PERIODS_COMPARED = (
    N_("Win rate"), N_("Won revenue"), N_("Median days to close (closed deals)"), N_("Periods compared"),
)  # fmt: skip
#: the sections' names as the summary says them ("Section lost reasons left out: ...")
SECTION_NAMES = {
    "dropoff": N_("dropoff"), "conversion": N_("conversion"), "win_rate": N_("win rate"),
    "win_rate_total": N_("win rate total"), "time_to_close": N_("time to close"), "km": N_("km"),
    "lead_value": N_("lead value"), "drift": N_("drift"), "mix": N_("mix"), "revenue_change": N_("revenue change"),
    "pipeline": N_("pipeline"), "lost_reasons": N_("lost reasons"), "lost_reasons_trend": N_("lost reasons trend"),
    "stalled_deals": N_("stalled deals"),
}  # fmt: skip
#: what :func:`funnelkit.revenue_change` calls its factors (its ``measure`` column), for translation where shown
REVENUE_MEASURES = (
    N_("leads created"), N_("opportunities per lead"), N_("won deals per opportunity"), N_("average won deal"),
    N_("opportunities created"), N_("won revenue"),
)  # fmt: skip


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


def _sharing_queries(function):
    """Run ``function`` with each distinct engine query answered once (sections ask some of the same), and
    Python's cyclic garbage collection held until it returns (:func:`_collection_deferred`)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        from .engine._common import shared_queries  # Ibis is imported only when a review runs

        with shared_queries(), _collection_deferred():
            return function(*args, **kwargs)

    return run


@contextlib.contextmanager
def _collection_deferred():
    """Within: no cyclic garbage collection; the collector runs as usual again after (if it was on).

    A review builds tens of thousands of short-lived Ibis and pandas objects, enough
    to set off a full collection about every other review, and a full collection walks
    every object the process holds (about 165,000 once pandas, Ibis and DuckDB are
    imported): 0.07 s of a 1.1 s review at 1M leads, with nothing to free but the
    review's own cycles (about 15,000 small objects; its results are aggregates).
    Deferred, that walk happens once after the review, when Python next collects
    (reviews at 1M leads alternating with and without, median of 9: 1.16 s and 1.04 s).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_sharing_queries
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
    from .review_facts import ReviewFacts

    # the review's own figures are aggregate queries over the funnel (review_facts): only they come back
    facts = ReviewFacts(data, by=_checked_by(data, by))
    if not facts.count("rows"):
        raise NotMeasurableError("the data holds no leads and no deals: there is no funnel to review")
    review_notes: list[str] = []
    by = _breakdown(data, facts, by, review_notes)
    parts: dict[str, Section] = {}
    options = {"fiscal_year_start": fiscal_year_start}

    def run(name: str, compute, empty: str = N_("the data holds nothing for this section")) -> None:
        parts[name] = attempt(compute, empty=_(empty))

    has_deals, has_closed = facts.count("deals") > 0, facts.count("closed") > 0
    no_closed = _("no deal in the data has closed yet") if has_deals else _("the data has no deals (opportunities)")
    run("dropoff", lambda: dropoff(data), N_("the data holds no funnel entities"))
    run(
        "conversion",
        lambda: conversion(data, by=by, period=period, **options),
        N_("no stage has dated entries to form cohorts"),
    )
    if has_closed:
        run("win_rate", lambda: win_rate(data, by=by, period=period, stall_days=stall_days, **options))
        by_group = parts["win_rate"]
        if by and by_group.ok:  # the groups added up: the table win_rate gives without by
            run("win_rate_total", lambda: total_over_groups(by_group.value))
        else:
            run("win_rate_total", lambda: win_rate(data, period=period, stall_days=stall_days, **options))
    else:
        parts["win_rate"] = Section(reason=no_closed)
    start = facts.default_start
    if has_closed:
        run("time_to_close", lambda: time_to_close(data, by=by, from_stage=start), N_("no deal has a start date"))
        run("km", lambda: km_curve(data, by=by, from_stage=start), N_("no deal has a start date"))
    else:
        parts["time_to_close"] = Section(reason=no_closed)
    if not facts.count("leads"):
        parts["lead_value"] = Section(
            reason=_("lead value needs leads linked to closed deals; this export has no leads")
        )
    elif has_closed:
        run("lead_value", lambda: lead_value(data, by=by or "source"), N_("no matured leads yet"))
    else:
        parts["lead_value"] = Section(
            reason=_("lead value needs leads linked to closed deals; {reason}").format(reason=no_closed)
        )
    if has_closed:
        run(
            "drift",
            lambda: drift(data, metric="win_rate", period=period, by=by, **options),
            N_("fewer than two periods of closed deals"),
        )
    current, previous = _last_two_periods(facts, period, fiscal_year_start)
    if current and previous and by:
        run("mix", lambda: _mix(data, has_closed, by, current, previous, period, fiscal_year_start))
    if current and previous:
        run(
            "revenue_change",
            lambda: revenue_change(data, period=period, current=current, previous=previous, **options),
        )
    _where_deals_are_lost(data, run, parts, period, top_reasons, options)
    spans = tuple(p and period_span(p, period, fiscal_year_start=fiscal_year_start) for p in (current, previous))
    money = facts.won_money(spans if current else ())
    headline = _headline(data, facts, money, spans, current, previous)
    sections = {name: part.value for name, part in parts.items() if part.ok and part.value is not None}
    skipped = {name: part.reason for name, part in parts.items() if not part.ok}
    notes = _notes(sections, data, start)
    for name, window in _windows(data, facts, sections, start, period, fiscal_year_start, current, previous).items():
        notes[name] = [window, *notes.get(name, [])]  # every table and chart says which dates it counts
    for name, part in parts.items():
        if part.ok and part.warnings:
            notes[name] = [*notes.get(name, []), *part.warnings]
    if review_notes:
        notes["review"] = review_notes
    result = Review(headline, current, previous, sections, skipped, notes=notes)
    if pd.isna(data.as_of):
        result.on_track_text = [_("Whether we are on track is not measurable: {reason}.").format(reason=_(NO_DATES))]
    else:
        result.on_track = _on_track(
            data, facts, period=period, current=current, quota=quota, currency=currency, **options
        )
        result.on_track_text = on_track_sentences(result.on_track, sections.get("pipeline"), skipped.get("pipeline"))
    result.findings = _findings(result, data, money)
    return result


def _checked_by(data: Dataset, by) -> str | None:
    """The funnel column ``by`` names, for the facts to count; a name that is none is said by :func:`_breakdown`
    (after the check for an empty funnel, as before)."""
    try:
        columns = by_columns(data, by)
    except ParameterError:
        return None
    return columns[0] if len(columns) == 1 else None


def _breakdown(data: Dataset, facts: ReviewFacts, by, notes: list[str]) -> str | None:
    """``by`` when the data fills it; ``None`` with a note when the export leaves the column empty."""
    if by is None:
        return None
    (column,) = by_columns(data, by)  # a name that is no column raises, as every metric does
    if facts.count("by_filled"):
        return column
    notes.append(
        _("This export does not fill the column {column}: the review is shown without a breakdown by {name}.").format(
            column=repr(column), name=column
        )
    )
    return None


def _where_deals_are_lost(data: Dataset, run, parts: dict, period: str, top: int, options: dict) -> None:
    """Open pipeline, lost reasons (overall and by period of close) and stalled deals."""
    if pd.isna(data.as_of):  # no date at all: nothing to measure ages or a period against
        parts["pipeline"] = Section(reason=_(NO_DATES))
    else:
        run("pipeline", lambda: pipeline(data), N_("no deal is open"))
    run("lost_reasons", lambda: lost_reasons(data, top=top), N_("no deal has been lost"))
    if parts["lost_reasons"].ok:
        run("lost_reasons_trend", lambda: lost_reasons(data, period=period, top=top, **options))
    run(
        "stalled_deals",
        lambda: stalled_deals(data),
        N_("no open deal has been in its stage longer than the stage's stall line (75th percentile)"),
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
        if start == "opportunity":
            counted = _("Days are counted from {start}.").format(start=_(describe_start(data, start)))
        else:
            counted = _("Days are counted from {start} (from_stage={name}): the opportunities have no created date.")
            counted = counted.format(start=_(describe_start(data, start)), name=repr(start))
        notes["time_to_close"] = [counted, *notes.get("time_to_close", [])]
    return notes


def _windows(
    data: Dataset,
    facts: ReviewFacts,
    sections: dict,
    start: str,
    period: str,
    fiscal_year_start: int,
    current,
    previous,
):
    """Per shown section, the dates it counts, in words ("Deals closed 2025-02-11 to 2025-05-09.")."""
    as_of = format_value(data.as_of, Unit.TIMESTAMP)

    def span(found: tuple | None, message: str, **extra) -> str | None:
        if found is None:
            return None
        first, last = (format_value(x, Unit.TIMESTAMP) for x in found)
        return _(message).format(start=first, end=last, **extra)

    entries = facts.entries_span()
    windows = {
        "dropoff": span(entries, N_("Stage entries dated {start} to {end}.")),
        "conversion": span(entries, N_("Stage entries dated {start} to {end}.")),
        "win_rate": span(facts.span("closed"), N_("Deals closed {start} to {end}.")),
        "drift": span(facts.span("closed"), N_("Deals closed {start} to {end}.")),
        "lost_reasons": span(facts.span("lost"), N_("Deals lost {start} to {end}.")),
        "lead_value": span(facts.span("lead"), N_("Leads created {start} to {end}.")),
        "pipeline": _("Open deals as of {as_of}.").format(as_of=as_of),
        "stalled_deals": _("Open deals as of {as_of}.").format(as_of=as_of),
    }
    start_column = _start_column(data, start)
    if facts.has(start_column):
        windows["time_to_close"] = span(
            facts.span("deal_start"),
            N_("Deals that entered {stage} {start} to {end}; those still open are counted to {as_of}."),
            stage=stage_label(start), as_of=as_of,
        )  # fmt: skip
    if current and previous:
        (c0, c1), (p0, p1) = (period_span(x, period, fiscal_year_start=fiscal_year_start) for x in (current, previous))
        day = pd.Timedelta(days=1)  # a span ends where the next period starts: say its last day
        dates = {
            "current_start": c0, "current_end": c1 - day, "previous_start": p0, "previous_end": p1 - day,
        }  # fmt: skip
        both = _("{current}: {current_start} to {current_end}; {previous}: {previous_start} to {previous_end}.")
        both = both.format(
            current=current, previous=previous, **{k: format_value(v, Unit.TIMESTAMP) for k, v in dates.items()}
        )
        windows["revenue_change"] = windows["mix"] = both
    return {name: text for name, text in windows.items() if name in sections and text}


def _step_notes(table: pd.DataFrame) -> list[str]:
    out = []
    for (a, b), step in table.groupby(["from_stage", "to_stage"], sort=False):
        said = step[NOTE].dropna()
        if said.empty:
            continue
        counts = ""
        if "period" in step and step["period"].isna().all():
            entered, converted = int(step["entered"].sum()), int(step["converted"].sum())
            share = f" ({format_percent(converted / entered)})" if entered else ""
            counts = " " + _("Over all time {converted} of {entered}{share} reached {stage}.").format(
                converted=format_number(converted), entered=format_number(entered), share=share, stage=stage_label(b)
            )
        out.append(f"{stage_label(a)} → {stage_label(b)}: {'; '.join(dict.fromkeys(said))}.{counts}")
    return out


def _last_two_periods(facts: ReviewFacts, period: str, fiscal_year_start: int) -> tuple[str | None, str | None]:
    """The latest two periods leads were created in (deals closed in, without lead dates)."""
    column = facts.period_column()
    last = facts.span(column) if column else None
    if last is None:
        return None, None
    current = _label_of(last[1], period, fiscal_year_start)
    # periods are labelled in time order: the one before is where the latest date before this one's start falls
    before = facts.latest(column, before=period_span(current, period, fiscal_year_start=fiscal_year_start)[0])
    return current, (None if before is None else _label_of(before, period, fiscal_year_start))


def _mix(data, has_closed: bool, by, current, previous, period, fiscal_year_start) -> pd.DataFrame:
    """Mix vs rate split of the win rate's change (or the first step's, without closed deals)."""
    options = {"current": current, "previous": previous, "by": by, "period": period,
               "fiscal_year_start": fiscal_year_start}  # fmt: skip
    if has_closed:
        return mix_decomposition(data, metric="win_rate", **options)
    names = data.stages.names
    return mix_decomposition(data, from_stage=names[0], to_stage=names[1], **options)


def _headline(data: Dataset, facts: ReviewFacts, money: pd.DataFrame, spans: tuple, current, previous) -> pd.DataFrame:
    """The five or six numbers that matter, this period against the previous one (``spans``: their times)."""
    if current is None:
        reason = _("not measurable: no lead or deal has a date that places it in a period")
        return pd.DataFrame([(PERIODS_COMPARED, np.nan, np.nan, np.nan, reason)], columns=HEADLINE_COLUMNS)
    rows = []
    money_of: dict[str, str | None] = {}  # currency of each revenue row
    counts = facts.headline_counts(spans)
    for stage in data.stages.names[:-1]:
        # a stage whose every date was borrowed from the next (skipped) says nothing new
        if facts.count(f"own_{stage}"):
            now, before = int(counts[f"{stage}_0"]), int(counts[f"{stage}_1"])
            rows.append((STAGE_TITLES.get(stage, f"Entered {stage}"), now, before, _change(now, before), ""))
    if facts.count("closed_dated"):
        closed_now, closed_before = int(counts["closed_0"]), int(counts["closed_1"])
        won_now, won_before = int(counts["won_0"]), int(counts["won_1"])
        rate_now = won_now / closed_now if closed_now else np.nan
        rate_before = won_before / closed_before if closed_before else np.nan
        low, high = wilson([won_now], [closed_now])
        interval = (
            _("; 95% CI {low}-{high}").format(low=format_percent(low[0]), high=format_percent(high[0]))
            if closed_now
            else ""
        )
        said = _("{won} won of {closed} closed").format(won=format_number(won_now), closed=format_number(closed_now))
        rows.append((WIN_RATE, rate_now, rate_before, rate_now - rate_before, said + interval))
        for row in _revenue_rows(money):
            money_of[row[0]] = row[-1]
            rows.append(row[:-1])
        med_now, med_before = facts.middle_days(spans, facts.start_column)
        note = _days_note(data, facts)
        rows.append((MEDIAN_DAYS, med_now, med_before, med_now - med_before, note))
    if not rows:
        reason = _("not measurable: nothing this data holds is dated in {current} or {previous}").format(
            current=current, previous=previous
        )
        rows.append((PERIODS_COMPARED, np.nan, np.nan, np.nan, reason))
    out = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    out["currency"] = out["measure"].map(money_of).astype("str")
    return out


def _revenue_rows(won: pd.DataFrame) -> list[tuple]:
    """Won revenue this period and the one before: one row, or one per currency (never added).

    ``won`` holds the won deals per currency (:meth:`ReviewFacts.won_money`). Won deals without an amount are
    left out of the sums and counted in the note; a period whose won deals all lack one has no revenue figure
    (not 0).
    """
    found = _currencies_found(won, "closed_amount")
    left_out = [int(won[f"blank_{i}"].sum()) for i in (0, 1)]
    rows = []
    for code in found or [None]:
        if len(found) > 1:
            in_code = _in_currency(won, code)
            measure = f"{WON_REVENUE} ({code or NO_CURRENCY})"
            others = currency_names([c for c in found if c != code])
            note = _("in {currency}; not added to {others}").format(currency=code or NO_CURRENCY, others=others)
        else:
            in_code = won
            measure = WON_REVENUE
            note = (
                _("in {currency}").format(currency=code)
                if code
                else (_("the export names no currency") if found else "")
            )
        now, before = (_revenue(in_code, i) for i in (0, 1))
        if any(left_out):
            note += ("; " if note else "") + _(
                "won deals without an amount left out: {now} this period, {before} before"
            ).format(now=format_number(left_out[0]), before=format_number(left_out[1]))
        rows.append((measure, now, before, _change(now, before), note, code))
    return rows


def _revenue(won: pd.DataFrame, i: int) -> float:
    """Sum of the amounts given in period ``i``; 0 without won deals, missing when no won deal has an amount."""
    if won[f"amounts_{i}"].sum():
        return float(won[f"sum_{i}"].sum())
    return 0.0 if not won[f"n_{i}"].sum() else np.nan


def _days_note(data: Dataset, facts: ReviewFacts) -> str:
    """What the headline's days to close count from, or why there are none."""
    if not facts.count("closed_with_start"):
        return _("not measurable: no closed deal has a start date (see the time-to-close section)")
    return _("from {start}; open deals are censored in the time-to-close section").format(
        start=_(describe_start(data, facts.default_start))
    )


def _change(now: float, before: float) -> float:
    return (now - before) / before if before else np.nan


def _findings(result: Review, data: Dataset, money: pd.DataFrame) -> list[str]:
    """Sentences for the summary. Group names come from the CRM: they are escaped here."""
    out = []
    if result.period:
        latest = markup.bold(result.period)
        as_of = _("Figures are as of {moment} UTC; the latest period may still be filling.").format(
            moment=_moment(data.as_of)
        )
        if result.previous:
            said = _("Latest period: {period}, compared with {previous}.").format(
                period=latest, previous=markup.escape(result.previous)
            )
        else:
            said = _("Latest period: {period}.").format(period=latest)
        out.append(f"{said} {as_of}")
    if result.has("dropoff"):
        d = result.sections["dropoff"]
        d = d[d["stage"] != data.stages.won]
        worst = d.loc[d["stopped_share"].idxmax()] if d["stopped_share"].notna().any() else None
        if worst is not None:
            out.append(
                _("The funnel loses most at {stage}: {stopped} of {reached} ({share}) went no further.").format(
                    stage=markup.bold(_stage_word(worst["stage"])),
                    stopped=format_number(int(worst["stopped"])),
                    reached=format_number(int(worst["reached"])),
                    share=format_percent(worst["stopped_share"]),
                )
            )
    if result.has("drift"):
        moved = result.sections["drift"]
        moved = moved[moved["significant"]]
        if moved.empty:
            out.append(_("No change in win rate between periods is beyond noise (Holm-adjusted, 5%)."))
        for row in moved.tail(3).itertuples():
            group = " / ".join(
                markup.escape(str(getattr(row, c))) for c in moved.columns[: moved.columns.get_loc("period")]
            )
            out.append(
                _(
                    "Win rate of {group} moved from {before} to {now} ({points}) in {period}: "
                    "beyond noise (adjusted p = {p})."
                ).format(
                    group=markup.element_html("b", group or _("all deals")),  # group escaped above
                    before=format_percent(row.previous_value),
                    now=format_percent(row.value),
                    points=_points(row.value - row.previous_value),
                    period=markup.escape(str(row.period)),
                    p=format_number(row.p_adjusted, decimals=3),
                )
            )
    if result.has("mix"):
        total = result.sections["mix"].iloc[-1]
        out.append(
            _(
                "Of the overall change of {total}, {mix} came from a shift in mix and {rate} from rates within groups."
            ).format(
                # a change of a rate is said in points, never as a percent of the rate
                total=format_value(total["total_change"], Unit.POINTS),
                mix=format_value(total["mix_effect"], Unit.POINTS),
                rate=format_value(total["rate_effect"], Unit.POINTS),
            )
        )
    if result.has("revenue_change"):
        out.extend(revenue_change_sentences(result.sections["revenue_change"]))
    out.extend(_money_findings(money))
    out.extend(markup.escape(note) for note in result.notes.get("review", []))
    for section, reason in result.skipped.items():
        name = _(SECTION_NAMES[section]) if section in SECTION_NAMES else section.replace("_", " ")
        out.append(
            _("Section {section} left out: {reason}").format(
                section=markup.element_html("i", markup.escape(name)), reason=markup.escape(reason)
            )
        )
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
            to = _("{before} to {now}")
            if factor == "volume":
                moved = to.format(
                    before=format_number(int(r["previous_value"])), now=format_number(int(r["current_value"]))
                )
            elif factor == "deal_size":
                before, now = (
                    _money(v, code) if pd.notna(v) else _("none") for v in (r["previous_value"], r["current_value"])
                )
                moved = to.format(before=before, now=now)
            elif pd.notna(r["change"]):
                moved = (
                    to.format(
                        before=format_percent(r["previous_value"], decimals=1),
                        now=format_percent(r["current_value"], decimals=1),
                    )
                    + f" ({_points(r['change'])})"
                )
            else:
                moved = _("not measurable in one of the periods")
            said.append(_(r["measure"]) + f" {moved}: {_signed_money(r['contribution'], code)}")
        out.append(
            _(
                "Won revenue went from {before} in {previous} to {now} in {current} ({change}). By factor: {factors}."
            ).format(
                before=_money(total["previous_value"], code),
                previous=markup.escape(total["previous_period"]),
                now=_money(total["current_value"], code),
                current=markup.escape(total["current_period"]),
                change=_signed_money(total["change"], code),
                # TRANSLATORS: the separator between the factors of one sentence
                factors=_("; ").join(said),
            )
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
        shown.append({"measure": _(row["measure"]), row["previous_period"]: text(row["previous_value"]),
                      row["current_period"]: text(row["current_value"]), "change": change,
                      "contribution": row["contribution"], "currency": row["currency"]})  # fmt: skip
    return declare(pd.DataFrame(shown), contribution=Unit.MONEY)


def _signed_money(value: float, code) -> str:
    return ("+" if value >= 0 else "-") + _money(abs(value), code)


#: funnelkit's stages as a sentence names them (lower case, as written in English)
STAGE_WORDS = {
    "lead": N_("lead"), "mql": N_("mql"), "sql": N_("sql"), "opportunity": N_("opportunity"), "won": N_("won"),
    "lost": N_("lost"),
}  # fmt: skip


def _stage_word(stage) -> str:
    """A stage inside a sentence: funnelkit's own stages translated, a custom funnel's as the data names it."""
    name = str(stage)
    return _(STAGE_WORDS[name]) if name in STAGE_WORDS else name


def _moment(stamp: pd.Timestamp) -> str:
    """A day and time in a sentence: ``2025-12-31 22:37`` in English, the locale's date before the time elsewhere."""
    return f"{stamp:%Y-%m-%d %H:%M}" if get_locale() == "en" else f"{format_value(stamp, Unit.TIMESTAMP)} {stamp:%H:%M}"


def _points(change: float) -> str:
    """A change of a rate in points: ``-4.1 points``."""
    return _("{points} points").format(points=_signed_points(change * 100))


def _signed_points(value: float) -> str:
    """``+4.1`` as Python writes it in English (a zero keeps its sign, as funnelkit always wrote it)."""
    if get_locale() == "en":
        return f"{value:+.1f}"
    return ("+" if value >= 0 else "-") + format_number(abs(value), decimals=1)


def _money_findings(won: pd.DataFrame) -> list[str]:
    """Sentences about revenue figures: several currencies, won deals without an amount (``won``: the won deals
    per currency, :meth:`ReviewFacts.won_money`)."""
    out = []
    found = _currencies_found(won, "with_amount")
    if len(found) > 1:
        out.append(
            _(
                "Won revenue is in {count} currencies ({names}): every revenue figure is given per currency; "
                "amounts of different currencies are never added."
            ).format(count=len(found), names=markup.escape(currency_names(found)))
        )
    blank = int(won["blank"].sum())
    if blank:
        out.append(
            ngettext(
                "{count} won deal has no amount: counted as won (win rates include them) but left out of every "
                "revenue sum and average.",
                "{count} won deals have no amount: counted as won (win rates include them) but left out of every "
                "revenue sum and average.",
                blank,
            ).format(count=format_number(blank))
        )
    return out


# ---- are we on track ---------------------------------------------------------------------------------------

#: the plain verdicts of :func:`review`'s on-track summary
ON_TRACK, AT_RISK, BEHIND = N_("on track"), N_("at risk"), N_("behind")
PERIOD_NOUNS = {"W": N_("week"), "M": N_("month"), "Q": N_("quarter"), "Y": N_("year")}
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


@_sharing_queries
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
    from .review_facts import ReviewFacts

    return _on_track(
        data, ReviewFacts(data), period=period, current=current, quota=quota, currency=currency,
        fiscal_year_start=fiscal_year_start,
    )  # fmt: skip


def _on_track(data, facts: ReviewFacts, *, period, current, quota, currency, fiscal_year_start) -> pd.DataFrame:
    as_of = data.as_of
    label = current or _label_of(as_of, period, fiscal_year_start)
    start, end = period_span(label, period, fiscal_year_start=fiscal_year_start)
    complete = bool(as_of >= end)
    earlier = _earlier_periods(start, period, fiscal_year_start)
    # won deals with a close date and an amount, per currency: in the period and in each earlier one
    won = facts.won_in_windows({"period": (start, end), **{name: span for name, span, *rest in earlier}})
    found = _currencies_found(won, "deals") or [None]
    notes: list[str] = []
    if quota is not None and len(found) > 1 and currency is None:
        notes.append(
            _("won revenue is in {count} currencies ({names}); the quota needs one: pass currency= one of them").format(
                count=len(found), names=currency_names(found)
            )
        )
        quota = None
    if quota is not None and currency is not None and len(found) > 1:
        found = [currency]
    rows = []
    first = facts.first_date()
    for code in found:
        deals = _in_currency(won, code)
        rows.append(
            _on_track_row(data, deals, code, label, period, start, end, complete, quota, currency, earlier, first)
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


def _on_track_row(data, deals, code, label, period, start, end, complete, quota, currency, earlier, first) -> dict:
    as_of = data.as_of
    revenue = float(deals["sum_period"].sum())
    notes: list[str] = []
    if quota is not None:
        target, basis = float(quota), "quota"
        if currency and code and currency != code:
            target, basis = np.nan, pd.NA
            notes.append(
                _("the quota is in {quota}, but won revenue is in {revenue}").format(quota=currency, revenue=code)
            )
    else:
        target, basis = _comparison_target(deals, earlier, first)
        if pd.isna(target):
            notes.append(
                _("no target: no quota was given and no earlier {period} has won revenue").format(
                    period=_(PERIOD_NOUNS[period])
                )
            )
    row = {
        "period": label,
        "period_start": start,
        "period_end": end - pd.Timedelta(days=1),
        "status": "complete" if complete else "in progress",
        "as_of": as_of,
        "days_left": 0.0 if complete else (end - as_of) / pd.Timedelta(days=1),
        "currency": code,
        "won_deals": int(deals["deals_period"].sum()),
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
        row["note"] = "; ".join([*notes, _("the target is already won")])
        return row
    try:
        cover = coverage(data, target=target, period_start=start, period_end=row["period_end"], currency=code)
    except FunnelkitError as exc:
        notes.append(_("coverage not measurable: {reason}").format(reason=exc))
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


def _earlier_periods(start: pd.Timestamp, period: str, fys: int) -> list[tuple]:
    """The periods a target can come from, in order: the same period a year earlier (not for years), the previous
    one; each ``(name, (begin, end), label, words, a_year_earlier)``."""
    noun = _(PERIOD_NOUNS[period])
    candidates = []
    if period != "Y":
        candidates.append(
            ("year_earlier", start - pd.DateOffset(years=1), _("the same {period} a year earlier").format(period=noun))
        )
    candidates.append(("previous", start - pd.Timedelta(days=1), _("the previous {period}").format(period=noun)))
    out = []
    for name, moment, words in candidates:
        label = _label_of(moment, period, fys)
        out.append((name, period_span(label, period, fiscal_year_start=fys), label, words, name == "year_earlier"))
    return out


def _comparison_target(deals: pd.DataFrame, earlier: list[tuple], first: pd.Timestamp | None):
    """Won revenue of the same period a year earlier (when the data covers it from its start), else of the
    previous period; with the basis in words. Missing when neither has won revenue."""
    for name, (begin, _stop), label, words, a_year_earlier in earlier:
        partial = first is not None and first.normalize() > begin
        if partial and a_year_earlier:
            continue  # the data starts inside that period: its revenue would be partial
        revenue = float(deals[f"sum_{name}"].sum())
        if revenue > 0:
            if partial:
                since = _(", from {day} when the data starts").format(day=format_value(first, Unit.TIMESTAMP))
            else:
                since = ""
            return revenue, f"{words} ({label}{since})"
    return np.nan, pd.NA


def _in_currency(table: pd.DataFrame, code: str | None) -> pd.DataFrame:
    """The row of a per-currency result for ``code`` (``None``: amounts naming no currency); none when absent."""
    keep = [pd.isna(c) if code is None else (not pd.isna(c) and c == code) for c in table.index]
    return table[np.asarray(keep, dtype=bool)]


def _currencies_found(table: pd.DataFrame, count: str) -> list[str | None]:
    """The currencies (sorted; ``None`` last) whose ``count`` column is above zero, as
    :func:`funnelkit.metrics._money.currencies` lists them."""
    present = [None if pd.isna(c) else c for c, n in table[count].items() if n > 0]
    return sorted(c for c in present if c is not None) + ([None] if None in present else [])


def _money(value: float, code) -> str:
    return format_value(value, Unit.MONEY, currency=code if isinstance(code, str) else None)


def on_track_sentences(
    table: pd.DataFrame, pipeline_table: pd.DataFrame | None, pipeline_reason: str | None
) -> list[str]:
    """The on-track summary in words (HTML, CRM text escaped): the period, its revenue against the target and the
    verdict first; then the open pipeline by stage; then the coverage behind the verdict."""
    first = table.iloc[0]
    start, last = format_value(first["period_start"], Unit.TIMESTAMP), format_value(first["period_end"], Unit.TIMESTAMP)
    day = format_value(first["as_of"], Unit.TIMESTAMP)
    if first["status"] == "complete":
        status = _("is complete")
    elif first["days_left"] < 1:
        status = _("is in progress as of {day}, its last day").format(day=day)
    else:
        left = int(np.ceil(first["days_left"]))
        status = ngettext(
            "is in progress as of {day}, {left} day left", "is in progress as of {day}, {left} days left", left
        ).format(day=day, left=format_number(left))
    clauses = [_revenue_clause(row) for row in table.to_dict("records")]
    out = [
        _("{period} ({start} to {end}) {status}: {clauses}.").format(
            period=markup.bold(first["period"]), start=start, end=last, status=status,
            clauses=_("; ").join(clauses),
        )
    ]  # fmt: skip
    out.append(_pipeline_sentence(pipeline_table, pipeline_reason))
    for row in table.to_dict("records"):
        said = _coverage_sentence(row)
        if said:
            out.append(said)
    return [s for s in out if s]


def _revenue_clause(row: dict) -> str:
    code = row["currency"] if isinstance(row["currency"], str) else None
    won = _("won {amount}").format(amount=_money(row["won_revenue"], code))
    if pd.isna(row["target"]):
        return won + " " + _("(no verdict: {reason})").format(reason=markup.escape(str(row["note"])))
    basis = row["target_basis"]
    against = (
        _("the {amount} quota").format(amount=_money(row["target"], code))
        if basis == "quota"
        else _("{amount} in {basis}").format(amount=_money(row["target"], code), basis=markup.escape(basis))
    )
    gap = row["target"] - row["won_revenue"]
    if row["status"] == "complete":
        rest = _("{amount} short") if gap > 0 else _("{amount} above it")
    else:
        rest = _("{amount} to go") if gap > 0 else _("{amount} above it already")
    rest = rest.format(amount=_money(abs(gap), code))
    verdict = markup.bold(_(row["verdict"])) if isinstance(row["verdict"], str) else _("no verdict yet (see below)")
    return _("{won} against {target} ({attainment}), {rest}: {verdict}").format(
        won=won, target=against, attainment=format_percent(row["attainment"]), rest=rest, verdict=verdict
    )


def _pipeline_sentence(table: pd.DataFrame | None, reason: str | None) -> str:
    if table is None:
        return _("Open pipeline: not measurable ({reason}).").format(reason=markup.escape(reason or _("no open deal")))
    parts = []
    for code, rows in table.groupby("currency", dropna=False, sort=False):
        code = code if isinstance(code, str) else None
        stages = []
        for r in rows.to_dict("records"):
            value = _money(r["open_value"], code) if pd.notna(r["open_value"]) else _("no amounts")
            age = ""
            if pd.notna(r["median_age_days"]):
                age = _(", median age {days} days").format(days=format_number(r["median_age_days"]))
            stalled = ""
            if pd.notna(r["stalled"]) and r["stalled"]:
                worth = f" ({_money(r['stalled_value'], code)})" if pd.notna(r["stalled_value"]) else ""
                stalled = _(", {count} stalled{worth}").format(count=format_number(int(r["stalled"])), worth=worth)
            n = int(r["open"])
            deals = ngettext("{count} deal", "{count} deals", n).format(count=format_number(n))
            stages.append(f"{markup.escape(stage_label(r['stage']))}: {deals}, {value}{age}{stalled}")
        total = int(rows["open"].sum())
        worth = ""
        if rows["open_value"].notna().any():
            worth = _(" worth {amount}").format(amount=_money(rows["open_value"].sum(), code))
        opened = ngettext("{count} open deal{worth}.", "{count} open deals{worth}.", total)
        parts.append(opened.format(count=format_number(total), worth=worth) + " " + _("; ").join(stages))
    said = _("Open pipeline as of the data's date: {parts}.").format(parts=_("; ").join(parts))
    if table["median_age_days"].isna().all():
        said += " " + _("Ages are not measurable: the deals have no opportunity created date.")
    return said


def _coverage_sentence(row: dict) -> str:
    code = row["currency"] if isinstance(row["currency"], str) else None
    if row["status"] == "complete" or pd.isna(row["target"]) or not row["left_to_win"]:
        return ""
    left = _money(row["left_to_win"], code)
    if pd.isna(row["coverage"]):
        return _("Coverage of the {amount} left to win: not measurable ({reason}).").format(
            amount=left, reason=markup.escape(str(row["note"]))
        )
    if not row["open"]:
        return _("No open deal can close by the period's end: {reason}.").format(reason=markup.escape(str(row["note"])))
    return _(
        "Open deals weighted by their stage's win rate are worth {amount}: {coverage} of the {left} left to win "
        "(on track from {covered} coverage, at risk from {at_risk}, behind below)."
    ).format(
        amount=_money(row["weighted_pipeline"], code), coverage=format_percent(row["coverage"]), left=left,
        covered=format_percent(COVERED_AT), at_risk=format_percent(AT_RISK_AT),
    )  # fmt: skip
