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

from ..errors import ParameterError
from ..metrics.plan import split_plan
from ..safety import escape
from ..stats import SMALL_N
from ..units import Unit, format_value

#: how each stage of the plan is counted in sentences and headers
STAGE_NOUNS = {"won": "won deals", "opportunity": "opportunities", "sql": "SQLs", "mql": "MQLs", "lead": "leads"}
#: rate from a stage to the next, as a header reads it
STEP_NAMES = {"opportunity": "opportunity to won", "sql": "SQL to opportunity", "mql": "MQL to SQL",
              "lead": "lead to MQL"}  # fmt: skip
_FREQ = {"W": "W-SUN", "M": "M", "Q": "Q", "Y": "Y"}
_PERIOD_WORDS = {"W": "week", "M": "month", "Q": "quarter", "Y": "year"}
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
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"


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
        why = f"the {_PERIOD_WORDS[period]} holding {start}"
    else:
        chosen = day.to_period(_FREQ[period]) + 1
        why = f"the {_PERIOD_WORDS[period]} after the data ends ({day:%Y-%m-%d})"
    first, last = chosen.start_time, chosen.end_time.normalize()
    label = {"W": f"the week of {first:%Y-%m-%d}", "M": f"{first:%Y-%m}", "Q": f"{first.year} Q{chosen.quarter}",
             "Y": f"{first.year}"}[period]  # fmt: skip
    return QuotaPeriod(label=label, start=first, end=last, why=why)


def usable_breakdown(data, by: str | None) -> tuple[str | None, str]:
    """``by`` when the data can be split by it, else ``None`` and the reason in plain words.

    A column that is empty for every lead and deal (an export without a source column) or that holds one
    value would split the plan into one group called "(not set)": the page says so instead.
    """
    word = (by or "").replace("_", " ")
    if not by:
        return None, "no breakdown was asked for (by is empty)"
    if by not in data.funnel.columns:
        return None, f"this data has no {word} column, so the plan is not split by {word}"
    filled = data.funnel[by].dropna()
    filled = filled[filled.astype("str").str.strip().ne("") & filled.ne("(not set)")]
    if filled.empty:
        return None, f"no lead or deal in this data has a {word}, so the plan is not split by {word}"
    if filled.nunique() < 2:
        return None, f"every lead and deal with a {word} has the same one, so the plan is not split by {word}"
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
    text = (
        f"To win <b>{_money(quota, currency)} in {escape(period.label)}</b> ({period.dates}), you need about "
        f"<b>{format_value(entry['needed'], Unit.COUNT)} new {STAGE_NOUNS.get(entry['stage'], entry['stage'])}</b>"
    )
    if len(total) > 1:
        text += f", which become {format_value(won['needed'], Unit.COUNT)} won deals"
    text += f" of about {_money(won['value_per_unit'], currency)} each"
    if parts is not None and by:
        first = parts[(parts["stage"] == entry["stage"]) & (parts[by] != "Other")]
        first = first.sort_values("needed", ascending=False, kind="stable").head(3)
        named = [f"{escape(str(g))} ({format_value(n, Unit.COUNT)})" for g, n in first[[by, "needed"]].to_numpy()]
        if named:
            text += ", at today's mix the most from " + (
                ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else named[0]
            )
    text += "."
    if entry["stage"] != "lead" and len(total) > 1:
        text += f" The plan starts at {STAGE_NOUNS.get(entry['stage'], entry['stage'])}: the data has no earlier stage."
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
    noun = STAGE_NOUNS.get(entry["stage"], str(entry["stage"]))
    singular = {"opportunities": "opportunity", "leads": "lead"}.get(noun, noun.removesuffix("s"))
    return (
        f"From {singular} to won takes a median of {float(days):,.0f} days: the {noun} for deals won in "
        f"{escape(period.label)} come in, at the median, between about "
        f"{period.start - shift:%Y-%m-%d} and {period.end - shift:%Y-%m-%d}."
    )


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
            "Stage": [_capital(STAGE_NOUNS.get(s, str(s))) for s in rows["stage"]],
            "Needed": rows["needed"].map(lambda v: format_value(v, Unit.COUNT)).to_numpy(),
            "Converts to the next stage": [
                _rate(r, n) for r, n in zip(rows["rate_to_next"], rows["rate_n"], strict=True)
            ],  # fmt: skip
            "Rate measured on": [
                _basis(s, b, n) for s, b, n in zip(rows["stage"], rows["rate_basis"], rows["rate_n"], strict=True)
            ],  # fmt: skip
            "Worth each": [_money(v, currency) for v in rows["value_per_unit"]],
            "Median days to a win": [
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
    wide.loc["Total"] = wide.sum()
    out = wide.map(lambda v: format_value(v, Unit.COUNT))
    out.columns = [_capital(STAGE_NOUNS.get(s, str(s))) for s in stages]
    return out.rename_axis(_capital(by.replace("_", " "))).reset_index()


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
    out["Share of the quota"] = (quota / quota.sum()).map(lambda v: format_value(v, Unit.RATE))
    for stage in stages:  # first stage first, as in the split
        out[_capital(STAGE_NOUNS.get(stage, str(stage)))] = wide[stage].map(lambda v: format_value(v, Unit.COUNT))
    entry = _capital(STAGE_NOUNS.get(stages[0], str(stages[0])))
    if len(stages) > 1:
        out[f"{entry} per won deal"] = (wide[stages[0]] / wide["won"]).map(lambda v: f"{v:,.1f}")
    total = ["100.0%", *(format_value(wide[s].sum(), Unit.COUNT) for s in stages)]
    out.loc["Sum of the plans"] = total + ([""] if len(stages) > 1 else [])
    return out.rename_axis(_capital(by.replace("_", " "))).reset_index()


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
    noun = STAGE_NOUNS.get(entry, str(entry))
    sums = by_group.groupby("stage", sort=False)["needed"].sum()
    own = {stage: int(sums.get(stage, 0)) for stage in (entry, "won")}
    whole = {stage: int(total.set_index("stage").loc[stage, "needed"]) for stage in (entry, "won")}
    word = by.replace("_", " ")
    if own == whole:
        return f"The plans per {word} add up to the plan for the whole quota."
    count = lambda v: format_value(v, Unit.COUNT)  # noqa: E731
    text = (
        f"Added up, the plans per {word} ask for {count(own[entry])} {noun} and {count(own['won'])} won deals, not "
        f"the {count(whole[entry])} {noun} and {count(whole['won'])} won deals of the plan for the whole quota. "
        f"Each {word}'s plan covers its share of the quota (its share of won revenue so far)"
    )
    if own["won"] > whole["won"]:
        text += (
            f" and is rounded up to whole deals, so {by_group[by].nunique()} {word}s give {count(own['won'])} deals "
            f"instead of {count(whole['won'])}; and each extra deal is multiplied back"
        )
    else:
        text += "; each deal is multiplied back"
    wide = by_group.pivot_table(index=by, columns="stage", values="needed", aggfunc="sum", sort=False)
    per_deal = (wide[entry] / wide["won"]).sort_values()
    return text + (
        f" through that {word}'s own conversion rates, which differ: one won deal takes {per_deal.iloc[0]:,.1f} "
        f"{noun} from {escape(str(per_deal.index[0]))} and {per_deal.iloc[-1]:,.1f} from "
        f"{escape(str(per_deal.index[-1]))}. The plan for the whole quota uses the rates of all {noun} together: it "
        f"is the number to plan with, and the split above shares it out in proportion to the plans per {word}."
    )


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
        _, ax = plt.subplots(figsize=(10, 0.7 * len(total) + 1.8))
    stages = list(total["stage"])  # won first: drawn at the bottom
    labels = [_capital(STAGE_NOUNS.get(s, str(s))) for s in stages]
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
        ax.legend(loc="lower right", frameon=False, fontsize=9, title=by.replace("_", " ").capitalize())
    else:
        ax.barh(positions, total["needed"].to_numpy(), color="#1f77b4")
    for y, needed in zip(positions, total["needed"], strict=True):
        ax.annotate(format_value(needed, Unit.COUNT), (needed, y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=10, fontweight="bold")  # fmt: skip
    ax.set_yticks(list(positions), labels)
    ax.set_xlabel("needed (count)")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.08)
    return ax


def _currency(total: pd.DataFrame) -> str:
    codes = total["currency"].dropna() if "currency" in total else pd.Series(dtype="str")
    return str(codes.iloc[0]) if len(codes) else ""


def _money(value, currency: str) -> str:
    return escape(format_value(value, Unit.MONEY, currency=currency or None))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rate(rate, n) -> str:
    if rate is None or pd.isna(rate):
        return ""
    if n is not None and not pd.isna(n) and n < SMALL_N:
        return f"{round(rate * n):.0f} of {int(n)}"
    return format_value(rate, Unit.RATE)


def _basis(stage, basis, n) -> str:
    if basis == "given":
        return "given"
    if basis != "measured" or n is None or pd.isna(n):
        return ""
    what = "closed deals" if stage == "opportunity" else STAGE_NOUNS.get(stage, str(stage))
    return f"{int(n):,} {what}"


def _days(value) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):,.0f} days"


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
    return (
        f"Quota: <b>{_money(quota, currency)}</b> for <b>{escape(period.label)}</b> ({period.dates}), "
        f"{escape(period.why)}. Rates and deal size are measured on every lead and deal in the data, "
        f"{_data_dates(data)}."
    )


def chart_title(total: pd.DataFrame, *, quota: float, period: QuotaPeriod) -> str:
    """The chart's title: what the quota takes, in its currency and period.

    Examples
    --------
    >>> chart_title(pd.DataFrame({"currency": ["USD"]}), quota=500_000, period=quota_period(pd.Timestamp("2025-12-31")))
    'What 500,000 USD in 2026 Q1 takes'
    """
    return f"What {format_value(quota, Unit.MONEY, currency=_currency(total) or None)} in {period.label} takes"


def _data_dates(data) -> str:
    """First and last day the data covers: the earliest stage date to ``as_of``."""
    columns = [f"{stage}_at" for stage in data.stages.names if f"{stage}_at" in data.funnel]
    first = min((data.funnel[c].min() for c in columns), default=pd.NaT)
    if pd.isna(first):
        return f"up to {pd.Timestamp(data.as_of):%Y-%m-%d}"
    return f"{pd.Timestamp(first):%Y-%m-%d} to {pd.Timestamp(data.as_of):%Y-%m-%d}"
