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

from ..errors import FunnelkitError
from ..safety import escape


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
    """

    value: object = None
    reason: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when the section has something to show."""
        return self.reason is None

    def note(self) -> str:
        """HTML sentence for the report: why the section is left out, or the
        warnings raised while computing it (escaped), or an empty string."""
        if self.reason is not None:
            return f"<p class='fk-note'>This section is left out: {escape(self.reason.rstrip('.'))}.</p>"
        if self.warnings:
            items = "".join(f"<li>{escape(w)}</li>" for w in self.warnings)
            return f"<ul class='fk-note'>{items}</ul>"
        return ""


def attempt(compute: Callable[[], object], *, empty: str = "the data holds nothing for this section") -> Section:
    """Compute a report section; a funnelkit error or an empty result leaves it out with the reason.

    Only funnelkit's own errors (the data cannot support the section) are
    caught: a bug still fails the run, as it should.

    Parameters
    ----------
    compute : callable
        No-argument function computing the section (e.g. ``lambda: fk.sla(data, ...)``).
    empty : str
        Reason given when ``compute`` returns ``None`` or an empty DataFrame.

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
        return Section(reason=empty, warnings=messages)
    return Section(value, warnings=messages)


def quota_html(headline: pd.DataFrame, *, quota: float, period: str | None, currency: str = "") -> str:
    """Are we on track: won revenue of the latest period against the quota, in words.

    Parameters
    ----------
    headline : DataFrame
        :attr:`funnelkit.Review.headline` (``measure``, ``this_period``, ...).
    quota : float
        Revenue target for one period; 0 or less means no quota was given.
    period : str or None
        Label of the latest period.
    currency : str
        Shown after the amounts.

    Returns
    -------
    str
        An HTML paragraph (empty without a quota or without won revenue).

    Examples
    --------
    >>> head = pd.DataFrame({"measure": ["Won revenue"], "this_period": [150_000.0]})
    >>> quota_html(head, quota=500_000, period="2025 Q4", currency="USD")
    "<p class='fk-ontrack'><b>2025 Q4</b>: won 150,000 USD of the 500,000 USD quota (30%); 350,000 USD to go.</p>"
    """
    if not quota or quota <= 0:
        return ""
    row = headline.loc[headline["measure"] == "Won revenue", "this_period"]
    if row.empty or pd.isna(row.iloc[0]):
        return ""
    won = float(row.iloc[0])
    if not currency and "note" in headline:
        note = str(headline.loc[headline["measure"] == "Won revenue", "note"].iloc[0])
        currency = note[3:] if note.startswith("in ") else ""
    unit = f" {escape(currency)}" if currency else ""
    left = quota - won
    rest = f"{left:,.0f}{unit} to go" if left > 0 else f"{-left:,.0f}{unit} above it"
    return (
        f"<p class='fk-ontrack'><b>{escape(period or 'Latest period')}</b>: won {won:,.0f}{unit} "
        f"of the {quota:,.0f}{unit} quota ({won / quota:.0%}); {rest}.</p>"
    )
