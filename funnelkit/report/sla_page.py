"""The SLA scorecard's tables as a reader sees them: few columns, human headers, numbers by unit.

:func:`funnelkit.sla` returns tidy tables with one column per count, rate and
interval (twelve for the speed-to-lead part). A report page cannot show that
many columns at 1,300 px, and a VP does not read ``within_target_rate``: the
functions here turn each part into a short table of text cells (a rate and
its count in one cell, durations in minutes, hours or days), with the
commitments written into the headers ("Answered within 30 min").
"""

from __future__ import annotations

import pandas as pd

from ..i18n import N_, _, ngettext
from ..stats import SMALL_N
from ..units import Unit, format_number, format_value

#: what a period of ``fk.sla(period=...)`` is called in a table's header and in sentences
PERIOD_NAMES = {"W": (N_("Week"), N_("weeks")), "M": (N_("Month"), N_("months")), "Q": (N_("Quarter"), N_("quarters")),
                "Y": (N_("Year"), N_("years"))}  # fmt: skip
#: the period in "MQLs a month" (the band sentence)
PERIOD_SINGULAR = {"W": N_("week"), "M": N_("month"), "Q": N_("quarter"), "Y": N_("year")}
STATUS_WORDS = {"under": N_("under"), "within": N_("on target"), "over": N_("over")}


def duration_words(value) -> str:
    """A duration as people say it: minutes below 90 minutes, hours below two days, else days.

    Parameters
    ----------
    value : str, Timedelta or float
        A duration (``"30min"``, ``"1D"``) or a number of minutes.

    Returns
    -------
    str
        ``""`` for a missing value.

    Examples
    --------
    >>> duration_words("30min"), duration_words("1D"), duration_words(47.6), duration_words(60 * 30)
    ('30 min', '1 day', '48 min', '30 h')
    >>> duration_words("4D"), duration_words(60 * 24 * 2.5)
    ('4 days', '2.5 days')
    """
    if isinstance(value, str | pd.Timedelta):
        minutes = pd.Timedelta(value).total_seconds() / 60
    elif value is None or pd.isna(value):
        return ""
    else:
        minutes = float(value)
    if minutes < 90:
        return _("{minutes} min").format(minutes=format_number(minutes))
    if minutes % (24 * 60) == 0:  # a commitment in whole days ("1D") reads as days, not "24 h"
        days = int(minutes // (24 * 60))
        return ngettext("{count} day", "{count} days", days).format(count=format_number(days))
    hours = minutes / 60
    if hours < 48:
        return _("{hours} h").format(hours=_trimmed(hours))
    return _("{days} days").format(days=_trimmed(hours / 24))


def _trimmed(value: float) -> str:
    """One decimal, none when it is zero: ``2.5``, ``30``."""
    return format_number(value, decimals=0 if round(value, 1).is_integer() else 1)


def share_text(successes, trials, *, interval: tuple[float, float] | None = None) -> str:
    """A share as a percentage, or as "3 of 5" when it rests on fewer than 20.

    Examples
    --------
    >>> share_text(61, 202), share_text(3, 5), share_text(0, 0)
    ('30.2%', '3 of 5', '')
    >>> share_text(61, 202, interval=(0.243, 0.369))
    '30.2% (24–37%)'
    """
    if not trials:
        return ""
    if trials < SMALL_N:
        return _("{successes} of {trials}").format(successes=int(successes), trials=int(trials))
    text = format_value(successes / trials, Unit.RATE)
    if interval is not None and not any(pd.isna(v) for v in interval):
        # TRANSLATORS: a 95% interval of a share, "24–37%"; put the % sign where your language writes it
        span = _("{low}–{high}%").format(low=format_number(interval[0] * 100), high=format_number(interval[1] * 100))
        text += f" ({span})"
    return text


def delivery_table(delivery: pd.DataFrame, *, period: str) -> pd.DataFrame:
    """MQLs delivered per period against the commitment: five columns of text.

    Parameters
    ----------
    delivery : DataFrame
        :attr:`funnelkit.SLAResult.delivery`.
    period : {"W", "M", "Q", "Y"}
        The period ``sla`` counted by (names the first column).

    Returns
    -------
    DataFrame
        ``Month`` (or Week, Quarter, Year), ``MQLs delivered``, ``Target``,
        ``Share of target``, ``Status`` (under / on target / over).

    Examples
    --------
    >>> d = pd.DataFrame({"period": ["2025-01"], "mqls": [59], "target": [100.0], "ratio": [0.59],
    ...                   "status": ["under"]})
    >>> delivery_table(d, period="M").iloc[0].tolist()
    ['2025-01', '59', '100', '59.0%', 'under']
    """
    return pd.DataFrame(
        {
            _(PERIOD_NAMES[period][0]): delivery["period"].astype("str"),
            _("MQLs delivered"): delivery["mqls"].map(lambda v: format_value(v, Unit.COUNT)),
            _("Target"): delivery["target"].map(_number),
            _("Share of target"): delivery["ratio"].map(lambda v: format_value(v, Unit.RATE)),
            _("Status"): delivery["status"].map(lambda v: _(STATUS_WORDS[v]) if v in STATUS_WORDS else v),
        }
    )


def band_sentence(delivery: pd.DataFrame, *, period: str) -> str:
    """What counts as on target, and the periods the table covers, in one sentence.

    Examples
    --------
    >>> d = pd.DataFrame({"period": ["2024-01", "2025-12"], "target": [100.0, 100.0], "low": [90.0, 90.0],
    ...                   "high": [110.0, 110.0], "status": ["under", "within"]})
    >>> band_sentence(d, period="M")
    'On target means 90 to 110 MQLs a month (the commitment is 100). 1 of 2 months on target, 2024-01 to 2025-12.'
    """
    first = delivery.iloc[0]
    on_target = int((delivery["status"] == "within").sum())
    band = _("On target means {low} to {high} MQLs a {period} (the commitment is {target}).").format(
        low=_number(first["low"]), high=_number(first["high"]), period=_(PERIOD_SINGULAR[period]),
        target=_number(first["target"]),
    )  # fmt: skip
    count = _("{on_target} of {periods} {unit} on target, {first} to {last}.").format(
        on_target=on_target, periods=len(delivery), unit=_(PERIOD_NAMES[period][1]),
        first=delivery["period"].iloc[0], last=delivery["period"].iloc[-1],
    )  # fmt: skip
    return f"{band} {count}"


def response_table(
    response: pd.DataFrame, *, by: str | None, response_within, max_response, touches_target: int | None
) -> pd.DataFrame:
    """Speed to lead and follow-up per group: at most seven columns, the commitments in the headers.

    Each share is one cell: the percentage (with its 95% interval for the
    first-response target), or "3 of 5" for a group of fewer than 20 MQLs.

    Parameters
    ----------
    response : DataFrame
        :attr:`funnelkit.SLAResult.response`.
    by : str or None
        The breakdown column (first column, header capitalised).
    response_within, max_response : str
        The first-touch commitments the scorecard was computed with (``"30min"``, ``"1D"``).
    touches_target : int or None
        Touches within 14 days; ``None`` leaves the follow-up column out.

    Returns
    -------
    DataFrame
        [``by``], ``MQLs``, ``Median first response``, ``Answered within <target>``,
        ``Answered within <max>``, ``Never touched``, [``Followed up (<n>+ touches in 14 days)``].

    Examples
    --------
    >>> r = pd.DataFrame({"owner": ["Ann"], "mqls": [202], "touched": [178], "within_target": [61],
    ...                   "within_target_ci_low": [0.243], "within_target_ci_high": [0.369], "within_max": [178],
    ...                   "never_touched": [24], "median_minutes": [50.2]})
    >>> response_table(r, by="owner", response_within="30min", max_response="1D", touches_target=None).iloc[0].to_dict()
    {'Owner': 'Ann', 'MQLs': '202', 'Median first response': '50 min', 'Answered within 30 min': '30.2% (24–37%)', \
'Answered within 1 day': '88.1%', 'Never touched': '11.9%'}
    """
    n = response["mqls"].to_numpy()
    out = pd.DataFrame(index=response.index)
    if by:
        out[_(by.replace("_", " ").capitalize())] = response[by].astype("str")
    out[_("MQLs")] = response["mqls"].map(lambda v: format_value(v, Unit.COUNT))
    out[_("Median first response")] = response["median_minutes"].map(duration_words)
    low, high = response.get("within_target_ci_low"), response.get("within_target_ci_high")
    within = _("Answered within {duration}")
    out[within.format(duration=duration_words(response_within))] = [
        share_text(k, t, interval=None if low is None else (lo, hi))
        for k, t, lo, hi in zip(response["within_target"], n, _or_nan(low, n), _or_nan(high, n), strict=True)
    ]
    out[within.format(duration=duration_words(max_response))] = _shares(response["within_max"], n)
    out[_("Never touched")] = _shares(response["never_touched"], n)
    if touches_target is not None and "followed_up" in response:
        followed = _("Followed up ({touches}+ touches in 14 days)").format(touches=touches_target)
        out[followed] = _shares(response["followed_up"], n)
    return out.reset_index(drop=True)


def summary_table(response: pd.DataFrame, delivery: pd.DataFrame, *, period: str, response_within, max_response,
                  touches_target: int | None) -> pd.DataFrame:  # fmt: skip
    """The scorecard's headline: one row per commitment, its result over every MQL.

    Returns
    -------
    DataFrame
        ``Commitment``, ``Result``.

    Examples
    --------
    >>> r = pd.DataFrame({"mqls": [150, 50], "within_target": [60, 10], "within_max": [140, 40],
    ...                   "never_touched": [5, 5]})
    >>> d = pd.DataFrame({"period": ["2025-01", "2025-02"], "status": ["within", "under"]})
    >>> t = summary_table(r, d, period="M", response_within="30min", max_response="1D", touches_target=None)
    >>> t["Result"].tolist()
    ['1 of 2 months', '35.0% (70 of 200)', '90.0% (180 of 200)', '5.0% (10 of 200)']
    """
    total = int(response["mqls"].sum())
    on_target = _("{on_target} of {periods} {unit}").format(
        on_target=int((delivery["status"] == "within").sum()), periods=len(delivery), unit=_(PERIOD_NAMES[period][1])
    )
    answered = _("MQLs answered within {duration}")
    rows = [
        (_("Periods with MQLs on target"), on_target),
        (answered.format(duration=duration_words(response_within)), _share_of(response["within_target"], total)),
        (answered.format(duration=duration_words(max_response)), _share_of(response["within_max"], total)),
        (_("MQLs never touched"), _share_of(response["never_touched"], total)),
    ]
    if touches_target is not None and "followed_up" in response:
        followed = _("MQLs followed up ({touches}+ touches in 14 days)").format(touches=touches_target)
        rows.append((followed, _share_of(response["followed_up"], total)))
    return pd.DataFrame(rows, columns=[_("Commitment"), _("Result")])


def feedback_table(feedback: pd.DataFrame) -> pd.DataFrame:
    """Rejected MQLs by the reason sales gave: ``Reason``, ``Rejected MQLs``, ``Share of rejected``.

    Examples
    --------
    >>> feedback_table(pd.DataFrame({"reason": ["No budget", "Student"], "mqls": [3, 1]})).iloc[0].tolist()
    ['No budget', '3', '75.0%']
    """
    total = feedback["mqls"].sum()
    return pd.DataFrame(
        {
            _("Reason"): feedback["reason"].astype("str"),
            _("Rejected MQLs"): feedback["mqls"].map(lambda v: format_value(v, Unit.COUNT)),
            _("Share of rejected"): (feedback["mqls"] / total).map(lambda v: format_value(v, Unit.RATE)),
        }
    )


def _number(value) -> str:
    """A target or band edge: whole numbers without decimals (100, not 100.0; 110, not 110.00000000000001)."""
    value = round(float(value), 6)
    return format_number(value, decimals=0 if value.is_integer() else 1)


def _shares(successes: pd.Series, trials) -> list[str]:
    return [share_text(k, t) for k, t in zip(successes, trials, strict=True)]


def _share_of(successes: pd.Series, total: int) -> str:
    done = int(successes.sum())
    if total < SMALL_N:  # "2 of 5" alone: a percentage of five MQLs would look precise
        return share_text(done, total) or _("no MQLs")
    counts = _("{successes} of {trials}").format(successes=format_number(done), trials=format_number(total))
    return f"{format_value(done / total, Unit.RATE)} ({counts})"


def _or_nan(column, n):
    return [float("nan")] * len(n) if column is None else column.to_numpy()
