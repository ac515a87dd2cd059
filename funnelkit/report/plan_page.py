"""The lead plan's page: the headline sentence, its chart and tables a VP of Sales reads.

:func:`funnelkit.plan` answers "how many of each stage does the quota need";
the page opens with that answer in one sentence (how many leads, from where,
for which quota and period), draws it, and explains why the plans per source
do not add up to the plan for the whole quota (:func:`split_plan` gives the
split that does).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import markup
from ..errors import ParameterError
from ..i18n import N_, _
from ..metrics.plan import split_plan
from ..safety import escape
from ..stats import SMALL_N
from ..units import Unit, format_number, format_value

#: how each stage of the plan is counted in sentences and headers
STAGE_NOUNS = {"won": N_("won deals"), "opportunity": N_("opportunities"), "sql": N_("SQLs"), "mql": N_("MQLs"),
               "lead": N_("leads")}  # fmt: skip
#: one of a stage, as "From lead to won" says it
STAGE_ONE = {"won": N_("won deal"), "opportunity": N_("opportunity"), "sql": N_("SQL"), "mql": N_("MQL"),
             "lead": N_("lead")}  # fmt: skip
#: rate from a stage to the next, as a header reads it
STEP_NAMES = {"opportunity": N_("opportunity to won"), "sql": N_("SQL to opportunity"), "mql": N_("MQL to SQL"),
              "lead": N_("lead to MQL")}  # fmt: skip
_FREQ = {"W": "W-SUN", "M": "M", "Q": "Q", "Y": "Y"}
#: breakdown columns as sentences name them ("the plans per source"), for translation
BY_WORDS = (N_("source"), N_("owner"), N_("segment"), N_("campaign"), N_("country"), N_("industry"))
_PERIOD_WORDS = {"W": N_("week"), "M": N_("month"), "Q": N_("quarter"), "Y": N_("year")}
#: groups drawn and listed by name; the others are summed as "Other"
TOP_GROUPS = 6


@dataclass(frozen=True)
class QuotaPeriod:
    """The period a quota is for: its label and first and last day."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp
    why: str  # how it was chosen ("the quarter after the data ends on 2025-12-31")

    @property
    def dates(self) -> str:
        return _("{start} to {end}").format(
            start=format_value(self.start, Unit.TIMESTAMP), end=format_value(self.end, Unit.TIMESTAMP)
        )


def quota_period(as_of, *, period: str = "Q", start: str = "") -> QuotaPeriod:
    """The calendar period the quota is for: the one holding ``start``, else the one after ``as_of``.

    Parameters
    ----------
    as_of : Timestamp
        The data's as-of moment (``data.as_of``).
    period : {"W", "M", "Q", "Y"}
    start : str
        A day of the quota's period ("2026-01-01"); empty: the period after ``as_of``.

    Returns
    -------
    QuotaPeriod

    Examples
    --------
    >>> p = quota_period(pd.Timestamp("2025-12-31 18:00", tz="UTC"))
    >>> p.label, p.dates, p.why
    ('2026 Q1', '2026-01-01 to 2026-03-31', 'the quarter after the data ends (2025-12-31)')
    >>> quota_period(pd.Timestamp("2025-12-31", tz="UTC"), period="M", start="2025-06-15").label
    '2025-06'
    """
    if period not in _FREQ:
        raise ParameterError(f"period must be one of {list(_FREQ)}; got {period!r}")
    day = pd.Timestamp(as_of)
    day = day.tz_convert(None) if day.tzinfo else day
    if start:
        try:
            chosen = pd.Timestamp(str(start)).to_period(_FREQ[period])
        except (ValueError, TypeError):
            raise ParameterError(f"period_start: {start!r} is not a date; give one like 2026-01-01") from None
        why = _("the {period} holding {day}").format(period=_(_PERIOD_WORDS[period]), day=start)
    else:
        chosen = day.to_period(_FREQ[period]) + 1
        why = _("the {period} after the data ends ({day})").format(
            period=_(_PERIOD_WORDS[period]), day=format_value(day, Unit.TIMESTAMP)
        )
    first, last = chosen.start_time, chosen.end_time.normalize()
    week = _("the week of {day}").format(day=format_value(first, Unit.TIMESTAMP))
    label = {"W": week, "M": f"{first:%Y-%m}", "Q": f"{first.year} Q{chosen.quarter}", "Y": f"{first.year}"}[period]
    return QuotaPeriod(label=label, start=first, end=last, why=why)


def usable_breakdown(data, by: str | None) -> tuple[str | None, str]:
    """``by`` when the data can be split by it, else ``None`` and the reason in plain words.

    A column that is empty for every lead and deal (an export without a source column) or that holds one
    value would split the plan into one group called "(not set)": the page says so instead.
    """
    word = (by or "").replace("_", " ")
    if not by:
        return None, _("no breakdown was asked for (by is empty)")
    if by not in data.funnel.columns:
        return None, _("this data has no {column} column, so the plan is not split by {column}").format(column=word)
    filled = data.funnel[by].dropna()
    filled = filled[filled.astype("str").str.strip().ne("") & filled.ne("(not set)")]
    if filled.empty:
        return None, _("no lead or deal in this data has a {column}, so the plan is not split by {column}").format(
            column=word
        )
    if filled.nunique() < 2:
        return None, _(
            "every lead and deal with a {column} has the same one, so the plan is not split by {column}"
        ).format(column=word)
    return by, ""


def split(total: pd.DataFrame, by_group: pd.DataFrame | None, *, by: str | None) -> pd.DataFrame | None:
    """:func:`funnelkit.metrics.plan.split_plan` with the groups past :data:`TOP_GROUPS` summed as "Other",
    ordered by the first stage's count (largest first); ``None`` without a breakdown."""
    if by_group is None or not by:
        return None
    parts = split_plan(total, by_group, by=by)
    entry = total["stage"].iloc[-1]
    size = parts[parts["stage"] == entry].set_index(by)["needed"].sort_values(ascending=False, kind="stable")
    keep = list(size.index[:TOP_GROUPS]) if len(size) <= TOP_GROUPS + 1 else list(size.index[: TOP_GROUPS - 1])
    if len(size) > len(keep):
        parts[by] = parts[by].where(parts[by].isin(keep), "Other")
        parts = parts.groupby([by, "stage"], sort=False, as_index=False)[["needed", "own_plan"]].sum()
        keep.append("Other")
    order = {group: i for i, group in enumerate(keep)}
    return parts.sort_values(by, key=lambda s: s.map(order), kind="stable", ignore_index=True)


def headline(total: pd.DataFrame, parts: pd.DataFrame | None, *, quota: float, period: QuotaPeriod,
             by: str | None = None) -> str:  # fmt: skip
    """The plan in one sentence (HTML, escaped): how many of the funnel's first stage, from where, for what.

    Parameters
    ----------
    total : DataFrame
        ``plan(...)`` without ``by``.
    parts : DataFrame or None
        :func:`split` (the total shared among groups), or ``None``.
    quota : float
    period : QuotaPeriod
    by : str, optional
        The group column of ``parts``.

    Returns
    -------
    str

    Examples
    --------
    >>> total = pd.DataFrame({"stage": ["won", "opportunity", "lead"], "needed": [7, 11, 17],
    ...                       "value_per_unit": [10_000 / 7, 10_000 / 11, 10_000 / 17], "currency": ["USD"] * 3})
    >>> q1 = QuotaPeriod("2025 Q3", pd.Timestamp("2025-07-01"), pd.Timestamp("2025-09-30"), "")
    >>> headline(total, None, quota=10_000, period=q1)
    'To win <b>10,000 USD in 2025 Q3</b> (2025-07-01 to 2025-09-30), you need about <b>17 new leads</b>, \
which become 7 won deals of about 1,429 USD each.'
    """
    currency = _currency(total)
    entry = total.iloc[-1]
    won = total.iloc[0]
    goal = _("{amount} in {period}").format(amount=_money(quota, currency), period=escape(period.label))
    needed = _("{count} new {stage}").format(
        count=format_value(entry["needed"], Unit.COUNT), stage=_noun(entry["stage"])
    )
    text = _("To win {goal} ({dates}), you need about {needed}").format(
        goal=markup.element_html("b", goal), dates=period.dates, needed=markup.element_html("b", needed)
    )
    if len(total) > 1:
        text += _(", which become {count} won deals").format(count=format_value(won["needed"], Unit.COUNT))
    text += _(" of about {amount} each").format(amount=_money(won["value_per_unit"], currency))
    if parts is not None and by:
        first = parts[(parts["stage"] == entry["stage"]) & (parts[by] != "Other")]
        first = first.sort_values("needed", ascending=False, kind="stable").head(3)
        named = [f"{escape(str(g))} ({format_value(n, Unit.COUNT)})" for g, n in first[[by, "needed"]].to_numpy()]
        if named:
            listed = (
                _("{first} and {last}").format(first=_(", ").join(named[:-1]), last=named[-1])
                if len(named) > 1
                else named[0]
            )
            text += _(", at today's mix the most from {groups}").format(groups=listed)
    text += _(".")
    if entry["stage"] != "lead" and len(total) > 1:
        text += " " + _("The plan starts at {stage}: the data has no earlier stage.").format(
            stage=_noun(entry["stage"])
        )
    return text


def timing_sentence(total: pd.DataFrame, period: QuotaPeriod) -> str:
    """When the first stage has to arrive: the period shifted back by its median days to a win ("" unknown).

    Examples
    --------
    >>> total = pd.DataFrame({"stage": ["won", "lead"], "lead_time_days": [0.0, 60.2]})
    >>> q1 = QuotaPeriod("2026 Q1", pd.Timestamp("2026-01-01"), pd.Timestamp("2026-03-31"), "")
    >>> timing_sentence(total, q1)
    'From lead to won takes a median of 60 days: the leads for deals won in 2026 Q1 come in, at the median, \
between about 2025-11-02 and 2026-01-30.'
    """
    entry = total.iloc[-1]
    days = entry.get("lead_time_days")
    if len(total) < 2 or days is None or pd.isna(days):
        return ""
    shift = pd.Timedelta(days=round(float(days)))
    stage = entry["stage"]
    singular = _(STAGE_ONE[stage]) if stage in STAGE_ONE else str(stage)
    return _(
        "From {one} to won takes a median of {days} days: the {stages} for deals won in {period} come in, "
        "at the median, between about {first} and {last}."
    ).format(
        one=singular, days=format_number(float(days)), stages=_noun(stage), period=escape(period.label),
        first=format_value(period.start - shift, Unit.TIMESTAMP), last=format_value(period.end - shift, Unit.TIMESTAMP),
    )  # fmt: skip


def needs_table(total: pd.DataFrame) -> pd.DataFrame:
    """The plan for the whole quota, first stage first: six columns of text.

    Returns
    -------
    DataFrame
        ``Stage``, ``Needed``, ``Converts to the next stage`` (a rate, or "3 of 5" under 20),
        ``Rate measured on`` (how many entities, or "given"), ``Worth each`` (quota / needed),
        ``Median days to a win``.

    Examples
    --------
    >>> total = pd.DataFrame({"stage": ["won", "opportunity"], "needed": [7, 11], "rate_to_next": [None, 2 / 3],
    ...                       "rate_basis": [None, "measured"], "rate_n": pd.array([None, 3], dtype="Int64"),
    ...                       "value_per_unit": [10_000 / 7, 10_000 / 11], "lead_time_days": [0.0, 30.0],
    ...                       "currency": ["USD", "USD"]})
    >>> needs_table(total).values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['Opportunities', '11', '2 of 3', '3 closed deals', '909 USD', '30 days'],
     ['Won deals', '7', '', '', '1,429 USD', '']]
    """
    currency = _currency(total)
    rows = total.iloc[::-1]
    return pd.DataFrame(
        {
            _("Stage"): [_capital(_noun(s)) for s in rows["stage"]],
            _("Needed"): rows["needed"].map(lambda v: format_value(v, Unit.COUNT)).to_numpy(),
            _("Converts to the next stage"): [
                _rate(r, n) for r, n in zip(rows["rate_to_next"], rows["rate_n"], strict=True)
            ],  # fmt: skip
            _("Rate measured on"): [
                _basis(s, b, n) for s, b, n in zip(rows["stage"], rows["rate_basis"], rows["rate_n"], strict=True)
            ],  # fmt: skip
            _("Worth each"): [_money(v, currency) for v in rows["value_per_unit"]],
            _("Median days to a win"): [
                _days(d) if s != "won" else "" for s, d in zip(rows["stage"], rows["lead_time_days"], strict=True)
            ],  # fmt: skip
        }
    )


def split_table(parts: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """The plan for the whole quota shared among groups, with a Total row: the numbers that add up.

    Examples
    --------
    >>> parts = pd.DataFrame({"source": ["A", "A", "B", "B"], "stage": ["won", "lead"] * 2, "needed": [5, 33, 5, 67]})
    >>> split_table(parts, by="source").values.tolist()
    [['A', '33', '5'], ['B', '67', '5'], ['Total', '100', '10']]
    """
    wide = parts.pivot_table(index=by, columns="stage", values="needed", aggfunc="sum", sort=False)
    stages = list(dict.fromkeys(parts["stage"]))[::-1]
    wide = wide[stages]
    wide.loc[_("Total")] = wide.sum()
    out = wide.map(lambda v: format_value(v, Unit.COUNT))
    out.columns = [_capital(_noun(s)) for s in stages]
    return out.rename_axis(_(_capital(by.replace("_", " ")))).reset_index()


def group_plans_table(by_group: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Each group's own plan, with its share of the quota and how many of its first stage one won deal takes.

    Examples
    --------
    >>> g = pd.DataFrame({"source": ["A", "A", "B", "B"], "quota": [1_000.0, 1_000.0, 2_000.0, 2_000.0],
    ...                   "stage": ["won", "lead", "won", "lead"], "needed": [1, 3, 1, 2]})
    >>> group_plans_table(g, by="source").values.tolist()
    [['A', '33.3%', '3', '1', '3.0'], ['B', '66.7%', '2', '1', '2.0'], ['Sum of the plans', '100.0%', '5', '2', '']]
    """
    wide = by_group.pivot_table(index=by, columns="stage", values="needed", aggfunc="sum", sort=False)
    stages = list(dict.fromkeys(by_group["stage"]))[::-1]
    quota = by_group.groupby(by, sort=False)["quota"].first()
    out = pd.DataFrame(index=wide.index)
    out[_("Share of the quota")] = (quota / quota.sum()).map(lambda v: format_value(v, Unit.RATE))
    for stage in stages:  # first stage first, as in the split
        out[_capital(_noun(stage))] = wide[stage].map(lambda v: format_value(v, Unit.COUNT))
    entry = _capital(_noun(stages[0]))
    if len(stages) > 1:
        per_deal = _("{stages} per won deal").format(stages=entry)
        out[per_deal] = (wide[stages[0]] / wide["won"]).map(lambda v: format_number(v, decimals=1))
    total = [format_value(1.0, Unit.RATE), *(format_value(wide[s].sum(), Unit.COUNT) for s in stages)]
    out.loc[_("Sum of the plans")] = total + ([""] if len(stages) > 1 else [])
    return out.rename_axis(_(_capital(by.replace("_", " ")))).reset_index()


def why_sentence(total: pd.DataFrame, by_group: pd.DataFrame, *, by: str) -> str:
    """Why the groups' own plans do not add up to the plan for the whole quota, with this plan's numbers.

    Examples
    --------
    >>> total = pd.DataFrame({"stage": ["won", "lead"], "needed": [10, 100]})
    >>> g = pd.DataFrame({"source": ["A", "A", "B", "B"], "stage": ["won", "lead"] * 2, "needed": [6, 40, 6, 80]})
    >>> print(why_sentence(total, g, by="source"))  # doctest: +NORMALIZE_WHITESPACE
    Added up, the plans per source ask for 120 leads and 12 won deals, not the 100 leads and 10 won deals of the
    plan for the whole quota. Each source's plan covers its share of the quota (its share of won revenue so far) and
    is rounded up to whole deals, so 2 sources give 12 deals instead of 10; and each extra deal is multiplied back
    through that source's own conversion rates, which differ: one won deal takes 6.7 leads from A and 13.3 from B.
    The plan for the whole quota uses the rates of all leads together: it is the number to plan with, and the
    split above shares it out in proportion to the plans per source.
    """
    entry = total["stage"].iloc[-1]
    noun = _noun(entry)
    sums = by_group.groupby("stage", sort=False)["needed"].sum()
    own = {stage: int(sums.get(stage, 0)) for stage in (entry, "won")}
    whole = {stage: int(total.set_index("stage").loc[stage, "needed"]) for stage in (entry, "won")}
    word = _(by.replace("_", " "))
    if own == whole:
        return _("The plans per {group} add up to the plan for the whole quota.").format(group=word)
    count = lambda v: format_value(v, Unit.COUNT)  # noqa: E731
    text = _(
        "Added up, the plans per {group} ask for {own} {stages} and {own_won} won deals, not the {whole} {stages} and "
        "{whole_won} won deals of the plan for the whole quota. Each {group}'s plan covers its share of the quota "
        "(its share of won revenue so far)"
    ).format(
        group=word, own=count(own[entry]), stages=noun, own_won=count(own["won"]), whole=count(whole[entry]),
        whole_won=count(whole["won"]),
    )  # fmt: skip
    if own["won"] > whole["won"]:
        text += _(
            " and is rounded up to whole deals, so {groups} {group}s give {own_won} deals instead of {whole_won}; "
            "and each extra deal is multiplied back"
        ).format(groups=by_group[by].nunique(), group=word, own_won=count(own["won"]), whole_won=count(whole["won"]))
    else:
        text += _("; each deal is multiplied back")
    wide = by_group.pivot_table(index=by, columns="stage", values="needed", aggfunc="sum", sort=False)
    per_deal = (wide[entry] / wide["won"]).sort_values()
    return text + _(
        " through that {group}'s own conversion rates, which differ: one won deal takes {fewest} {stages} from "
        "{cheapest} and {most} from {dearest}. The plan for the whole quota uses the rates of all {stages} together: "
        "it is the number to plan with, and the split above shares it out in proportion to the plans per {group}."
    ).format(
        group=word, fewest=format_number(per_deal.iloc[0], decimals=1), stages=noun,
        cheapest=escape(str(per_deal.index[0])), most=format_number(per_deal.iloc[-1], decimals=1),
        dearest=escape(str(per_deal.index[-1])),
    )  # fmt: skip


def plot_plan(total: pd.DataFrame, parts: pd.DataFrame | None = None, *, by: str | None = None, title: str,
              ax=None):  # fmt: skip
    """The reverse funnel as horizontal bars, first stage on top; each bar split by group when ``parts`` is given.

    Parameters
    ----------
    total : DataFrame
        ``plan(...)`` without ``by``.
    parts : DataFrame, optional
        :func:`split` (adds up to ``total``).
    by : str, optional
    title : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    from ..plots import palette

    if ax is None:
        _figure, ax = plt.subplots(figsize=(10, 0.7 * len(total) + 1.8))
    stages = list(total["stage"])  # won first: drawn at the bottom
    labels = [_capital(_noun(s)) for s in stages]
    positions = range(len(stages))
    if parts is not None and by:
        groups = list(dict.fromkeys(parts[by]))
        colours = palette(groups)
        left = pd.Series(0.0, index=stages)
        wide = parts.pivot_table(index="stage", columns=by, values="needed", aggfunc="sum").reindex(stages).fillna(0)
        for group in groups:
            ax.barh(positions, wide[group].to_numpy(), left=left.to_numpy(), color=colours[str(group)],
                    label=str(group))  # fmt: skip
            left += wide[group].to_numpy()
        ax.legend(loc="lower right", frameon=False, fontsize=9, title=_(by.replace("_", " ").capitalize()))
    else:
        ax.barh(positions, total["needed"].to_numpy(), color="#1f77b4")
    for y, needed in zip(positions, total["needed"], strict=True):
        ax.annotate(format_value(needed, Unit.COUNT), (needed, y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=10, fontweight="bold")  # fmt: skip
    ax.set_yticks(list(positions), labels)
    ax.set_xlabel(_("needed (count)"))
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.08)
    return ax


def _currency(total: pd.DataFrame) -> str:
    codes = total["currency"].dropna() if "currency" in total else pd.Series(dtype="str")
    return str(codes.iloc[0]) if len(codes) else ""


def _money(value, currency: str) -> str:
    return escape(format_value(value, Unit.MONEY, currency=currency or None))


def _noun(stage) -> str:
    """How a stage of the plan is counted ("leads", "won deals"), in the current language."""
    return _(STAGE_NOUNS[stage]) if stage in STAGE_NOUNS else str(stage)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rate(rate, n) -> str:
    if rate is None or pd.isna(rate):
        return ""
    if n is not None and not pd.isna(n) and n < SMALL_N:
        return _("{successes} of {trials}").format(successes=f"{round(rate * n):.0f}", trials=int(n))
    return format_value(rate, Unit.RATE)


def _basis(stage, basis, n) -> str:
    if basis == "given":
        return _("given")
    if basis != "measured" or n is None or pd.isna(n):
        return ""
    what = _("closed deals") if stage == "opportunity" else _noun(stage)
    return f"{format_number(int(n))} {what}"


def _days(value) -> str:
    return "" if value is None or pd.isna(value) else _("{days} days").format(days=format_number(float(value)))


def quota_sentence(total: pd.DataFrame | None, *, quota: float, period: QuotaPeriod, data) -> str:
    """The quota, its period and how the period was chosen, and the dates the rates were measured on (HTML).

    Parameters
    ----------
    total : DataFrame or None
        ``plan(...)`` (for the quota's currency), or ``None``.
    quota : float
    period : QuotaPeriod
    data : Dataset
        The data the rates are measured on.

    Returns
    -------
    str
    """
    currency = _currency(total) if total is not None else ""
    return _(
        "Quota: {amount} for {period} ({dates}), {why}. Rates and deal size are measured on every lead and deal in "
        "the data, {data_dates}."
    ).format(
        amount=markup.element_html("b", _money(quota, currency)), period=markup.bold(period.label), dates=period.dates,
        why=escape(period.why), data_dates=_data_dates(data),
    )  # fmt: skip


def chart_title(total: pd.DataFrame, *, quota: float, period: QuotaPeriod) -> str:
    """The chart's title: what the quota takes, in its currency and period.

    Examples
    --------
    >>> chart_title(pd.DataFrame({"currency": ["USD"]}), quota=500_000, period=quota_period(pd.Timestamp("2025-12-31")))
    'What 500,000 USD in 2026 Q1 takes'
    """
    amount = format_value(quota, Unit.MONEY, currency=_currency(total) or None)
    return _("What {amount} in {period} takes").format(amount=amount, period=period.label)


def _data_dates(data) -> str:
    """First and last day the data covers: the earliest stage date to ``as_of``."""
    columns = [f"{stage}_at" for stage in data.stages.names if f"{stage}_at" in data.funnel]
    first = min((data.funnel[c].min() for c in columns), default=pd.NaT)
    last = format_value(pd.Timestamp(data.as_of), Unit.TIMESTAMP)
    if pd.isna(first):
        return _("up to {day}").format(day=last)
    return _("{start} to {end}").format(start=format_value(pd.Timestamp(first), Unit.TIMESTAMP), end=last)
