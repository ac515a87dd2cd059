"""Helpers the report notebooks call so that their cells hold no logic.

A report adapts to what the data holds: every section is computed through
:func:`attempt`, which turns a funnelkit error (the data cannot support the
section) into a plain sentence saying the section is left out and why, so a
report never shows a traceback or an empty chart.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from .. import markup
from ..errors import FunnelkitError
from ..i18n import N_, _
from ..safety import escape
from ..units import format_number, format_percent

#: why a section is left out when its computation returns nothing and the caller gives no reason
EMPTY = N_("the data holds nothing for this section")


@dataclass(frozen=True)
class Section:
    """The result of one report section, or the reason it is left out.

    Attributes
    ----------
    value : object
        What the section's function returned (``None`` when left out).
    reason : str or None
        Why the section is left out; ``None`` when it is shown.
    warnings : tuple of str
        Messages of the warnings raised while computing it (small samples...).
    notes : tuple of str
        For a section shown: what it counted where the data leaves a choice,
        and what it could not measure (plain text).
    """

    value: object = None
    reason: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when the section has something to show."""
        return self.reason is None

    def note(self) -> str:
        """HTML for the report: why the section is left out, or its notes and the
        warnings raised while computing it (escaped), or an empty string.

        This is the one place a report says a section is left out and why.
        """
        if self.reason is not None:
            said = _("This section is left out: {reason}.").format(reason=self.reason.rstrip("."))
            return markup.note(said)
        return "".join(markup.note(note) for note in self.notes) + markup.bullets_html(
            (escape(w) for w in self.warnings), cls="fk-note"
        )


def attempt(compute: Callable[[], object], *, empty: str | None = None) -> Section:
    """Compute a report section; a funnelkit error or an empty result leaves it out with the reason.

    Only funnelkit's own errors (the data cannot support the section) are
    caught: a bug still fails the run, as it should.

    Parameters
    ----------
    compute : callable
        No-argument function computing the section (e.g. ``lambda: fk.sla(data, ...)``).
    empty : str, optional
        Reason given when ``compute`` returns ``None`` or an empty DataFrame (default: :data:`EMPTY`, translated).

    Returns
    -------
    Section

    Examples
    --------
    >>> import pandas as pd
    >>> from funnelkit.errors import ParameterError
    >>> def needs_mql():
    ...     raise ParameterError("sla() needs the stage 'mql'")
    >>> attempt(needs_mql).note()
    "<p class='fk-note'>This section is left out: sla() needs the stage &#x27;mql&#x27;.</p>"
    >>> attempt(lambda: pd.DataFrame(), empty="no MQLs yet").reason
    'no MQLs yet'
    >>> attempt(lambda: pd.DataFrame({"a": [1]})).ok
    True
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = compute()
        except FunnelkitError as exc:
            return Section(reason=str(exc))
    messages = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    if value is None or (isinstance(value, pd.DataFrame) and value.empty):
        return Section(reason=_(EMPTY) if empty is None else empty, warnings=messages)
    return Section(value, warnings=messages)


def quota_html(headline: pd.DataFrame, *, quota: float, period: str | None, currency: str = "") -> str:
    """Are we on track: won revenue of the latest period against the quota, in words.

    The quota is in one currency and is compared with won revenue in that
    currency only: with revenue in several currencies (headline rows "Won
    revenue (EUR)", ...) the line needs ``currency``, and without it, or
    when the quota's currency is not the revenue's, the line says so
    instead of comparing.

    Parameters
    ----------
    headline : DataFrame
        :attr:`funnelkit.Review.headline` (``measure``, ``this_period``,
        ``note``, ``currency``).
    quota : float
        Revenue target for one period; 0 or less means no quota was given.
    period : str or None
        Label of the latest period.
    currency : str
        The quota's currency ("": the revenue's one currency).

    Returns
    -------
    str
        An HTML paragraph (empty without a quota or without a won revenue row).

    Examples
    --------
    >>> head = pd.DataFrame({"measure": ["Won revenue"], "this_period": [150_000.0]})
    >>> quota_html(head, quota=500_000, period="2025 Q4", currency="USD")
    "<p class='fk-ontrack'><b>2025 Q4</b>: won 150,000 USD of the 500,000 USD quota (30%); 350,000 USD to go.</p>"
    >>> two = pd.DataFrame({"measure": ["Won revenue (EUR)", "Won revenue (USD)"], "this_period": [74_772.0, 112_760.0],
    ...                     "currency": ["EUR", "USD"]})
    >>> print(quota_html(two, quota=200_000, period="2025 Q4").removeprefix("<p class='fk-note'>"))
    No quota line: won revenue is in 2 currencies (EUR, USD); the quota line needs one: pass currency=EUR or USD.</p>
    >>> quota_html(two, quota=200_000, period="2025 Q4", currency="EUR")
    "<p class='fk-ontrack'><b>2025 Q4</b>: won 74,772 EUR of the 200,000 EUR quota (37%); 125,228 EUR to go.</p>"
    """
    if not quota or quota <= 0:
        return ""
    rows = headline[headline["measure"].str.startswith("Won revenue")]
    if rows.empty:
        return ""
    codes = rows["currency"] if "currency" in rows else _currency_from_note(rows)
    if len(rows) > 1:
        chosen = rows[codes.eq(currency).fillna(False).to_numpy(dtype=bool)] if currency else rows.iloc[:0]
        if chosen.empty:
            names = ", ".join(str(c) for c in codes.fillna(_("no currency")))
            choices = _(" or ").join(str(c) for c in codes.dropna())
            return _no_quota_line(
                _(
                    "won revenue is in {count} currencies ({names}); the quota line needs one: pass currency={choices}"
                ).format(count=len(rows), names=names, choices=choices)
            )
        rows = chosen
    revenue_currency = codes.loc[rows.index[0]]
    if currency and pd.notna(revenue_currency) and currency != revenue_currency:
        return _no_quota_line(
            _("the quota is in {quota}, but won revenue is in {revenue}").format(
                quota=currency, revenue=revenue_currency
            )
        )
    won = rows["this_period"].iloc[0]
    if pd.isna(won):
        return _no_quota_line(_("no won deal of the period has an amount"))
    won = float(won)
    currency = currency or (revenue_currency if pd.notna(revenue_currency) else "")
    unit = f" {escape(currency)}" if currency else ""
    left = quota - won
    rest = (_("{amount} to go") if left > 0 else _("{amount} above it")).format(
        amount=f"{format_number(abs(left))}{unit}"
    )
    said = _("{period}: won {won} of the {quota} quota ({share}); {rest}.").format(
        period=markup.bold(period or _("Latest period")), won=f"{format_number(won)}{unit}",
        quota=f"{format_number(quota)}{unit}", share=format_percent(won / quota), rest=rest,
    )  # fmt: skip
    return markup.paragraph_html(said, cls="fk-ontrack")


def _currency_from_note(rows: pd.DataFrame) -> pd.Series:
    """Currencies of a headline made before it had a ``currency`` column ("in USD" notes)."""
    notes = rows["note"].astype("str") if "note" in rows else pd.Series(pd.NA, index=rows.index, dtype="str")
    return notes.str.extract(r"^in ([A-Z]{3})\b", expand=False)


def _no_quota_line(reason: str) -> str:
    return markup.note(_("No quota line: {reason}.").format(reason=reason))


def on_track_html(review) -> str:
    """Are we on track: the review's on-track summary as the report's first paragraph.

    Parameters
    ----------
    review : funnelkit.Review
        Its ``on_track_text`` sentences (HTML, CRM text already escaped in
        :func:`funnelkit.review.on_track_sentences`).

    Returns
    -------
    str
        An HTML paragraph: the period, its revenue against the target and the
        verdict first, then the open pipeline and its coverage.
    """
    return markup.paragraph_html(" ".join(review.on_track_text), cls="fk-ontrack")
