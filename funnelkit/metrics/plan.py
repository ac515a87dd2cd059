"""Lead-demand plan: the reverse funnel from a revenue quota to the leads it needs."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import stats
from ..dataset import Dataset
from ..errors import FunnelkitError, NotMeasurableError, ParameterError
from ..i18n import _
from ..schema import stage_column
from ..units import Unit, declare, format_number
from ._common import by_columns, days_between, group_keys
from ._engines import runs_on_engines
from ._money import choose_currency, without_amount_note

STEP_RATES = ("win_rate", "sql_to_opportunity", "mql_to_sql", "lead_to_mql")
STEP_STAGES = {"win_rate": ("opportunity", "won"), "sql_to_opportunity": ("sql", "opportunity"),
               "mql_to_sql": ("mql", "sql"), "lead_to_mql": ("lead", "mql")}  # fmt: skip
#: Units of the columns of :func:`plan`.
PLAN_UNITS = dict(quota=Unit.MONEY, needed=Unit.COUNT, rate_to_next=Unit.RATE, rate_n=Unit.COUNT,
                  value_per_unit=Unit.MONEY, lead_time_days=Unit.DAYS)  # fmt: skip


@runs_on_engines
def plan(
    data: Dataset | None = None,
    *,
    quota: float,
    deal_size: float | None = None,
    win_rate: float | None = None,
    sql_to_opportunity: float | None = None,
    mql_to_sql: float | None = None,
    lead_to_mql: float | None = None,
    by: str | None = None,
    currency: str | None = None,
) -> pd.DataFrame:
    """Reverse funnel: how many deals, opportunities, SQLs, MQLs and leads a quota needs.

    Each count is rounded up before the next division. Rates not given are
    measured from ``data`` (all-time conversion of the entities that reached
    each stage; win rate over closed deals); with ``data`` the plan also says
    how long before the close each stage must be reached (median days from
    the stage to won). A measured rate resting on fewer than 20 entities
    raises a :class:`~funnelkit.SmallSampleWarning`.

    Parameters
    ----------
    data : Dataset, optional
        The loaded data the rates and deal size not given are measured from
        (first, as in every metric; ``data=`` by keyword works too).
    quota : float
        Revenue target.
    deal_size : float, optional
        Average won deal (measured from ``data`` if not given).
    win_rate, sql_to_opportunity, mql_to_sql, lead_to_mql : float, optional
        Stage rates (0-1). ``lead_to_mql`` may be left out to stop at MQLs.
    by : str, optional
        With ``data``: split the quota by each group's share of won revenue
        (the current mix, e.g. ``by="source"``) and plan each group with its
        own measured rates and deal size (given rates apply to every group).
    currency : str, optional
        The quota's currency, needed when the data's amounts are in several:
        the measured deal size and the revenue mix then come from the won
        deals in that currency alone (stage rates from every deal). Amounts
        are never averaged or summed across currencies.

    Returns
    -------
    pandas.DataFrame
        One row per stage from won back to lead (per group with ``by``, after
        the ``by`` column and ``quota``): ``stage``, ``needed``,
        ``rate_to_next`` (the rate used to get from this stage to the next),
        ``rate_basis`` ("given" / "measured"), ``rate_n`` (entities a
        measured rate rests on), ``value_per_unit`` (quota /
        needed: what one MQL, say, is worth), ``lead_time_days`` (median
        days from this stage to won, with ``data``), ``currency`` (of the
        quota and deal size, when known) and ``note`` (on the won row: the
        won deals the measured deal size rests on, and the won deals left out
        of it for a blank amount).

    Examples
    --------
    >>> t = plan(quota=500_000, deal_size=2_000, win_rate=0.23, sql_to_opportunity=0.82, mql_to_sql=0.34)
    >>> t.set_index("stage")["needed"].to_dict()
    {'won': 250, 'opportunity': 1087, 'sql': 1326, 'mql': 3900}
    """
    if data is not None:
        by = params.check(data, by=by).by
        if len(by) > 1:
            raise ParameterError(f"plan splits the quota by one column, such as by='source'; got by={by!r}")
        by = by[0] if by else None
    for name, value in {"quota": quota, "deal_size": deal_size}.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0):
            raise ParameterError(f"{name} must be positive, an amount of money such as {name}=500000; got {value!r}")
    given = {
        "win_rate": win_rate,
        "sql_to_opportunity": sql_to_opportunity,
        "mql_to_sql": mql_to_sql,
        "lead_to_mql": lead_to_mql,
    }
    for name, value in given.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1):
            raise ParameterError(f"{name} must be in (0, 1]; got {value!r}")
    inputs = None if data is None else plan_inputs(data, by)
    return plan_from(inputs, quota=quota, deal_size=deal_size, given=given, by=by, currency=currency)


def plan_from(inputs: PlanInputs | None, *, quota, deal_size, given: dict, by: str | None, currency) -> pd.DataFrame:
    """:func:`plan`'s table from the data's small summaries (:class:`PlanInputs`; None without data)."""
    money = _Money(currency)
    if inputs is not None and (deal_size is None or by is not None):
        money = _Money(*choose_currency(inputs.won, currency, what="the plan's deal size and revenue mix"))
    if by is None:
        return _warn_if_shaky(_reverse(quota, deal_size, given, inputs, ALL, money))
    if inputs is None:
        raise ParameterError("by= needs data to measure each group's mix and rates")
    won = inputs.won if money.rows is None else inputs.won[money.rows]
    revenue = won.groupby(GROUP)[fn.AMOUNT].sum()
    if revenue.sum() <= 0:
        raise ParameterError("by= splits the quota by won revenue, and this data has none")
    parts = []
    for group, won in revenue[revenue > 0].items():  # one reverse funnel per group
        share = won / revenue.sum()
        part = _reverse(quota * share, deal_size, given, inputs, group, money)
        part.insert(0, "quota", quota * share)
        part.insert(0, by, group)
        parts.append(part)
    return _warn_if_shaky(pd.concat(parts, ignore_index=True))


#: the one group of a plan without ``by``
ALL = "_all"
GROUP = "_group"


@dataclass(frozen=True)
class PlanInputs:
    """What :func:`plan` reads of the data, per ``by`` group (``_group``; :data:`ALL` without ``by``).

    Attributes
    ----------
    stages : Stages
    steps : DataFrame
        ``_group``, ``step`` (a name of :data:`STEP_RATES`), ``n`` (entities the
        rate rests on: those that reached the step's first stage, closed deals
        for the win rate) and ``k`` (of them, those that reached the next stage, won).
    won : DataFrame
        Won deals per ``_group``, ``currency`` and ``_priced``: ``deals`` and
        ``amount`` (their amounts' sum; missing where not priced).
    lead_times : DataFrame
        ``_group``, ``stage``, ``days`` (median days from the stage to won over won deals).
    """

    stages: object
    steps: pd.DataFrame
    won: pd.DataFrame
    lead_times: pd.DataFrame


def plan_inputs(data: Dataset, by: str | None) -> PlanInputs:
    """:class:`PlanInputs` from a loaded dataset (the engine builds the same tables with queries)."""
    f = data.funnel
    group = group_keys(f, by_columns(data, by))[by] if by else pd.Series(ALL, index=f.index, dtype="str")
    steps = []
    for name in STEP_RATES:
        a, b = _step_stages(data.stages, name)
        if a is None:
            continue
        reached_a = data.reached(a).to_numpy()
        if b == data.stages.won:  # closed deals only: open ones have not decided yet
            rows, hits = reached_a & f[fn.IS_CLOSED].to_numpy(bool), f[fn.IS_WON].to_numpy(bool)
        else:
            rows, hits = reached_a, data.reached(b).to_numpy()
        counts = pd.DataFrame({GROUP: group, "n": rows.astype(int), "k": (rows & hits).astype(int)})
        steps.append(counts.groupby(GROUP, dropna=False).sum().reset_index().assign(step=name))
    columns = [GROUP, "step", "n", "k"]
    steps = pd.concat(steps, ignore_index=True)[columns] if steps else pd.DataFrame(columns=columns)
    is_won = f[fn.IS_WON].to_numpy(dtype=bool)
    won = f.loc[is_won, [fn.AMOUNT, fn.CURRENCY]].assign(**{GROUP: group[is_won]})
    won = won.assign(_priced=won[fn.AMOUNT].notna(), deals=1)
    won = won.groupby([GROUP, fn.CURRENCY, "_priced"], dropna=False).agg(
        deals=("deals", "sum"), amount=(fn.AMOUNT, "sum")
    )
    won = won.reset_index()
    won[fn.AMOUNT] = won[fn.AMOUNT].where(won["_priced"])
    lead_times = []
    won_at = f.loc[is_won, stage_column(data.stages.won)]
    for stage in data.stages.names:
        days = days_between(won_at, f.loc[is_won, stage_column(stage)])
        medians = days.groupby(group[is_won], dropna=False).median()
        lead_times.append(pd.DataFrame({GROUP: medians.index, "stage": stage, "days": medians.to_numpy()}))
    lead_times = (
        pd.concat(lead_times, ignore_index=True) if lead_times else pd.DataFrame(columns=[GROUP, "stage", "days"])
    )
    return PlanInputs(data.stages, steps, won, lead_times)


def _step_stages(stages, name: str) -> tuple[str | None, str | None]:
    """The funnel's stages of a plan step (its own opportunity stage), or (None, None) when it has not both."""
    a, b = (stages.opportunity if stage == "opportunity" else stage for stage in STEP_STAGES[name])
    if a not in stages.names or b not in stages.names:
        return None, None
    return a, b


def _warn_if_shaky(table: pd.DataFrame) -> pd.DataFrame:
    """One SmallSampleWarning for the whole plan when a measured rate rests on few entities."""
    sizes = table["rate_n"].dropna()
    if len(sizes):
        # warn_small, this, plan_from, plan, the engines' dispatch, then the caller
        stats.warn_small(int(sizes.min()), "a measured rate of this plan (see rate_n)", stacklevel=6)
    return declare(table, **PLAN_UNITS)


@dataclass(frozen=True)
class _Money:
    """The plan's currency and, when the data has several, which funnel rows are in it."""

    currency: str | None = None
    rows: np.ndarray | None = None  # rows of :attr:`PlanInputs.won` in the currency


def _measured_deal_size(inputs: PlanInputs, group, money: _Money) -> tuple[float, str]:
    """Mean amount of the won deals (of ``group``, in the plan's currency), and the note saying
    how many it rests on and how many were left out for a blank amount."""
    won = inputs.won
    in_group = won[GROUP].eq(group).fillna(False).to_numpy(dtype=bool)
    in_currency = np.ones(len(won), dtype=bool) if money.rows is None else money.rows
    priced = won["_priced"].to_numpy(dtype=bool)
    counted_deals = int(won.loc[in_group & in_currency & priced, "deals"].sum())
    total = float(won.loc[in_group & in_currency & priced, fn.AMOUNT].sum())
    # a won deal without an amount often has no currency either: it is left out of every currency's mean
    blank_rows = in_group & ~priced & (in_currency | won[fn.CURRENCY].isna().to_numpy())
    blank = int(won.loc[blank_rows, "deals"].sum())
    if counted_deals == 0:
        raise ParameterError("deal_size cannot be measured: no won deal has an amount; give deal_size=")
    counted = format_number(counted_deals)
    if money.currency:
        note = _("deal size: mean of {count} won deals in {currency}").format(count=counted, currency=money.currency)
    else:
        note = _("deal size: mean of {count} won deals").format(count=counted)
    if blank:
        note += f"; {without_amount_note(blank)}"
    return total / counted_deals, note


#: more of anything than a funnel holds: a plan past it rests on a deal size or rate next to nothing
MAX_PLANNED = 10**15
_PLURAL = {"opportunity": "opportunities", "sql": "SQLs", "mql": "MQLs", "lead": "leads"}


def _whole(wanted: float, what: str, because: str) -> int:
    """``wanted`` rounded up to whole units (a hair over a whole number is that number), or a
    :class:`~funnelkit.NotMeasurableError` when no funnel could hold it (a deal size or rate near 0)."""
    if not wanted <= MAX_PLANNED:
        raise NotMeasurableError(
            f"the plan would need {wanted:.3g} {what}, more than any funnel holds, because of {because}: "
            "check the amounts and rates it rests on, or give deal_size= or the rate"
        )
    return math.ceil(wanted - 1e-9)


def _reverse(quota, deal_size, given, inputs: PlanInputs | None, group, money: _Money) -> pd.DataFrame:
    rates, basis, sizes = {}, {}, {}
    for name, value in given.items():
        if value is not None:
            rates[name], basis[name] = float(value), "given"
        elif inputs is not None:
            rates[name], sizes[name] = _measured(inputs, name, group)
            basis[name] = "measured"
    note = None
    data = inputs  # what the messages read of the data: its stages
    if deal_size is None:
        if inputs is None:
            raise ParameterError("deal_size is required when no data is given to measure it from")
        deal_size, note = _measured_deal_size(inputs, group, money)
    for required in ("win_rate", "sql_to_opportunity", "mql_to_sql"):
        if required in rates and rates[required] > 0:
            continue
        if required != "win_rate" and data is not None and STEP_STAGES[required][0] not in data.stages.names:
            break  # the funnel starts after this step (an opportunity-only export): the plan stops before it
        raise _rate_needed(required, data, sizes.get(required), rates.get(required))
    if not deal_size > 0:  # NaN too: no won deal with an amount to average
        raise NotMeasurableError(
            "deal_size cannot be measured: no won deal in the data has a positive amount; give deal_size=",
            missing=(fn.AMOUNT,),
        )

    deals = _whole(quota / deal_size, "won deals", f"an average deal of {deal_size:g}")
    rows = [("won", deals, None, None, None)]
    needed = deals
    for name, stage in (
        ("win_rate", "opportunity"),
        ("sql_to_opportunity", "sql"),
        ("mql_to_sql", "mql"),
        ("lead_to_mql", "lead"),
    ):
        if name not in rates or not rates[name] > 0:
            break
        needed = _whole(needed / rates[name], _PLURAL[stage], f"a {name} of {rates[name]:g}")
        rows.append((stage, needed, rates[name], basis[name], sizes.get(name)))
    out = pd.DataFrame(rows, columns=["stage", "needed", "rate_to_next", "rate_basis", "rate_n"])
    out["rate_n"] = out["rate_n"].astype("Int64")
    out["value_per_unit"] = quota / out["needed"]
    out["lead_time_days"] = [_lead_time(inputs, stage, group) for stage in out["stage"]] if inputs else np.nan
    out[fn.CURRENCY] = pd.Series(money.currency, index=out.index, dtype="str")
    out["note"] = pd.Series([note] + [None] * (len(out) - 1), index=out.index, dtype="str")
    return out


def _rate_needed(name: str, data, n: int | None, rate: float | None) -> FunnelkitError:
    """Why a rate the plan needs is missing: not given and no data, or the data cannot measure it."""
    if data is None or n is None:
        return ParameterError(f"{name} is needed: give it, or data to measure it from")
    a, b = STEP_STAGES[name]
    if a not in data.stages.names or b not in data.stages.names:
        why = f"this data's funnel {list(data.stages.names)} has no {a} -> {b} step"
    elif n == 0:
        why = "no deal has closed" if name == "win_rate" else f"no lead or deal reached {a}"
    else:
        why = f"none of the {n:,} measured reached {b} (rate 0)" if rate == 0 else f"{n:,} measured"
    return NotMeasurableError(f"{name} cannot be measured from the data: {why}; give {name}=", missing=(name,))


def _measured(inputs: PlanInputs, name: str, group) -> tuple[float, int]:
    """The all-time rate of the step ``name`` in ``group`` and how many entities it rests on."""
    steps = inputs.steps
    row = steps[(steps["step"] == name).to_numpy() & steps[GROUP].eq(group).fillna(False).to_numpy(dtype=bool)]
    n, k = int(row["n"].sum()), int(row["k"].sum())
    return (k / n if n else float("nan")), n


def _lead_time(inputs: PlanInputs, stage: str, group) -> float:
    stage = inputs.stages.opportunity if stage == "opportunity" else stage  # the funnel's own opportunity stage
    times = inputs.lead_times
    row = times[(times["stage"] == stage).to_numpy() & times[GROUP].eq(group).fillna(False).to_numpy(dtype=bool)]
    return float(row["days"].iloc[0]) if len(row) and pd.notna(row["days"].iloc[0]) else float("nan")


def split_plan(total: pd.DataFrame, by_group: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Share the plan for the whole quota out among groups, so that the groups add up to it.

    The plans of ``plan(..., by=...)`` do not add up to the plan for the whole
    quota: each group's plan is rounded up to whole deals and runs through
    that group's own rates. This splits each stage's ``needed`` of ``total``
    in proportion to the groups' own plans, by largest remainders, so the
    parts are whole numbers that add up exactly.

    Parameters
    ----------
    total : DataFrame
        ``plan(...)`` without ``by``.
    by_group : DataFrame
        ``plan(..., by=by)`` on the same data and rates.
    by : str
        The group column of ``by_group``.

    Returns
    -------
    pandas.DataFrame
        One row per group and stage of ``total`` (groups in ``by_group``'s
        order): ``by``, ``stage``, ``needed`` (summing to ``total``'s per
        stage), ``share`` (of that stage's ``needed``), ``own_plan`` (the
        group's own plan for the stage).

    Examples
    --------
    >>> total = pd.DataFrame({"stage": ["won", "lead"], "needed": [10, 100]})
    >>> groups = pd.DataFrame({"source": ["A", "A", "B", "B"], "stage": ["won", "lead"] * 2, "needed": [6, 40, 6, 80]})
    >>> split_plan(total, groups, by="source")[["source", "stage", "needed"]].values.tolist()
    [['A', 'won', 5], ['A', 'lead', 33], ['B', 'won', 5], ['B', 'lead', 67]]
    """
    own = by_group.pivot_table(index=by, columns="stage", values="needed", aggfunc="sum", sort=False)
    parts = []
    for stage, needed in zip(total["stage"], total["needed"], strict=True):  # one apportionment per stage
        weights = own[stage].fillna(0) if stage in own else pd.Series(0.0, index=own.index)
        if not weights.sum() > 0:
            continue  # no group's plan reaches this stage: there is nothing to split it by
        exact = needed * weights / weights.sum()
        whole = np.floor(exact).astype(int)
        # the units left go to the largest remainders (ties: the group listed first)
        left = int(needed - whole.sum())
        order = np.argsort(-(exact - whole).to_numpy(), kind="stable")[:left]
        whole.iloc[order] += 1
        parts.append(pd.DataFrame({by: own.index, "stage": stage, "needed": whole.to_numpy(),
                                   "own_plan": weights.to_numpy().astype(int)}))  # fmt: skip
    out = pd.concat(parts, ignore_index=True)
    out["share"] = out["needed"] / out.groupby("stage", sort=False)["needed"].transform("sum")
    order = {group: i for i, group in enumerate(own.index)}
    out = out.sort_values(by, key=lambda s: s.map(order), kind="stable", ignore_index=True)
    return out[[by, "stage", "needed", "share", "own_plan"]]
