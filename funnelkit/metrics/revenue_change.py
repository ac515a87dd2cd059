"""What changed and why: the change in won revenue between two periods, split into volume, conversion, win rate
and deal size.

Won revenue of a period is a product of four factors, counted on a period
basis (each count is what happened in the period, whoever it happened to)::

    revenue = leads x (opportunities / leads) x (won deals / opportunities) x (revenue / won deals)
            = volume x conversion x win rate x average deal size

so the product is the period's won revenue exactly. ``conversion`` is
opportunities created per lead created and ``win_rate`` won deals per
opportunity created in the same period: period-basis ratios that multiply into
revenue, not the cohort rates of :func:`funnelkit.conversion` or the won /
(won + lost) of :func:`funnelkit.win_rate`; the win rate can pass 100% when
deals created in earlier periods close in this one (an export whose latest
opportunities have had no time to close). Without leads (an
opportunity-only export) the chain starts at opportunities: volume x win rate x
deal size.

The change is split between the factors with the **Shapley** value: each
factor's contribution is its effect on revenue averaged over every order in
which the factors could change from the previous period to the current one.
The contributions add up to the change exactly and treat every factor alike.
The log-mean (LMDI) split, the other exact choice, needs every factor positive
in both periods and fails on a period with no won deal; Shapley does not.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd

from .. import _params as params
from .. import schema as s
from ..dataset import Dataset
from ..errors import NotMeasurableError, ParameterError
from ..units import ROW_UNIT, Unit, declare
from ._common import core, group_keys, period_labels
from ._engines import runs_on_engines
from ._money import NO_CURRENCY

NOTE = "note"
#: the factors, in the order they multiply, and what each one counts
FACTORS = {
    "volume": "leads created",
    "conversion": "opportunities per lead",
    "win_rate": "won deals per opportunity",
    "deal_size": "average won deal",
}
OPPORTUNITY_VOLUME = "opportunities created"
#: what each factor's values are: volumes are counts, conversion and win rate rates, deal size and total money
FACTOR_UNITS = {"volume": Unit.COUNT, "conversion": Unit.RATE, "win_rate": Unit.RATE, "deal_size": Unit.MONEY}
TOTAL = "total"
COLUMNS = [s.CURRENCY, "factor", "measure", ROW_UNIT, "previous_period", "current_period", "previous_value",
           "current_value", "change", "contribution"]  # fmt: skip


@runs_on_engines
def revenue_change(
    data: Dataset,
    *,
    period: str = "Q",
    current: str | None = None,
    previous: str | None = None,
    by=None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Split the change in won revenue between two periods into volume, conversion, win rate and deal size.

    Parameters
    ----------
    data : Dataset
    period : {"W", "M", "Q", "Y"}
    current, previous : str, optional
        Period labels to compare ("2025 Q4", "2025 Q3"); default the latest
        period in which anything is dated and the period before it.
    by : str or list of str, optional
        Funnel columns to split by (``source``, ``owner``): one chain per group.
    fiscal_year_start : int

    Returns
    -------
    pandas.DataFrame
        Per ``by`` group and currency (money is never added across
        currencies), one row per factor and a ``total`` row. Columns: the
        ``by`` columns, ``currency``, ``factor`` (``volume``, ``conversion``,
        ``win_rate``, ``deal_size``, ``total``), ``measure`` (what the factor
        counts, in words), ``unit`` (the unit of the row's values: ``count``,
        ``rate`` or ``money``), ``previous_period``, ``current_period``,
        ``previous_value``, ``current_value`` (counts, rates 0-1, money),
        ``change`` (current - previous: for the rates, in proportion units, so
        -0.041 is -4.1 points), ``contribution`` (money: the factor's share
        of the change in won revenue; the factors' contributions add up to
        the ``total`` row's) and ``note`` where something was left out
        (won deals without an amount, a ratio with nothing to divide by).

    Raises
    ------
    NotMeasurableError
        When no deal has been won in either period, or nothing is dated.
    ParameterError
        For a period label that is not in the data.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("data/sample")
    >>> table = fk.revenue_change(data, current="2025 Q4", previous="2025 Q3")
    >>> bool(np.isclose(table.loc[table["factor"] != "total", "contribution"].sum(),
    ...                 table.loc[table["factor"] == "total", "contribution"].sum()))
    True
    """
    p = params.check(data, by=by, period=period, fiscal_year_start=fiscal_year_start)
    by, period = p.by, p.period
    f = core(data, by, columns=[s.ENTITY, s.IS_WON, s.CLOSED_AT, s.AMOUNT, s.CURRENCY, *data.stages.columns])
    label = lambda stamps: period_labels(stamps, period, fiscal_year_start=fiscal_year_start)  # noqa: E731
    first_col, opp_col = s.stage_column(data.stages.first), s.stage_column(data.stages.opportunity)
    with_leads = bool((f[s.ENTITY] == "lead").any()) and data.stages.first != data.stages.opportunity
    if not f[opp_col].notna().any():
        raise _no_dated_opportunity(data)
    seen = set().union(*(set(label(f[c].dropna()).dropna()) for c in [first_col, opp_col, s.CLOSED_AT]))
    current, previous = _periods(seen, current, previous)
    keys = group_keys(f, by) if by else pd.DataFrame(index=f.index)
    frame = keys.assign(
        _lead=label(f[first_col]).where(f[s.ENTITY].eq("lead")) if with_leads else pd.NA,
        _opp=label(f[opp_col]),
        _won=label(f[s.CLOSED_AT]).where(f[s.IS_WON].to_numpy(dtype=bool)),
        _amount=f[s.AMOUNT],
        _currency=f[s.CURRENCY],
    )
    priced = frame["_amount"].notna()
    columns = {"_deal": (frame["_opp"].notna() | frame["_won"].notna()).to_numpy()}
    for i, when in enumerate((previous, current)):
        won = frame["_won"].eq(when).fillna(False).to_numpy(dtype=bool)
        columns[f"leads{i}"] = frame["_lead"].eq(when).fillna(False).to_numpy(dtype=int) if with_leads else 0
        columns[f"opportunities{i}"] = frame["_opp"].eq(when).fillna(False).to_numpy(dtype=int)
        columns[f"won{i}"] = (won & priced.to_numpy()).astype(int)
        columns[f"unpriced{i}"] = (won & ~priced.to_numpy()).astype(int)
        columns[f"revenue{i}"] = frame["_amount"].where(won & priced.to_numpy(), 0.0)
    counted = frame[[*by, "_currency"]].assign(**columns)
    counts = counted.groupby([*by, "_currency", "_deal"], dropna=False).sum().reset_index()
    return change_table(counts, by, with_leads=with_leads, previous=previous, current=current)


def _no_dated_opportunity(data) -> NotMeasurableError:
    opp_col = s.stage_column(data.stages.opportunity)
    return NotMeasurableError(
        "the revenue change counts opportunities by the period they were created in, and no opportunity "
        f"has a date for entering the {data.stages.opportunity} stage",
        missing=(opp_col,),
    )


def change_table(counts: pd.DataFrame, by: list[str], *, with_leads: bool, previous: str, current: str) -> pd.DataFrame:
    """:func:`revenue_change`'s table from counts per ``by`` group, currency and whether the rows are deals.

    ``counts`` has the ``by`` columns, ``_currency``, ``_deal`` and, for the
    previous (0) and current (1) period, ``leads``, ``opportunities``,
    ``won`` (won deals with an amount), ``unpriced`` (won without one) and
    ``revenue``, each suffixed 0 or 1: small enough to come back from an engine.
    """
    won_any = (counts[["won0", "won1", "unpriced0", "unpriced1"]].sum(axis=1) > 0).to_numpy()
    if not won_any.any():
        raise NotMeasurableError(f"no deal was won in {previous} or {current}: there is no revenue to explain")
    priced = counts[(counts["won0"] + counts["won1"] > 0).to_numpy()]
    codes: list = sorted(priced["_currency"].dropna().unique().tolist())
    if priced["_currency"].isna().any():
        codes.append(None)
    tables = []
    for code in codes or [None]:
        in_code = _in_currency(counts, code, several=len(codes) > 1)
        groups = counts[in_code].groupby(by, dropna=False, sort=True) if by else [((), counts[in_code])]
        for key, rows in groups:
            table = _chain(rows, with_leads, previous, current, code)
            for column, value in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
                table[column] = value
            tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    if NOTE not in out:
        out[NOTE] = pd.Series(pd.NA, index=out.index, dtype="str")
    out = out[[*by, *COLUMNS, NOTE]]
    return declare(
        out,
        previous_value=Unit.PER_ROW,
        current_value=Unit.PER_ROW,
        change=Unit.PER_ROW_CHANGE,
        contribution=Unit.MONEY,
    )


def _periods(seen: set, current, previous) -> tuple[str, str]:
    """The periods to compare: ``current`` and ``previous``, or the latest dated period and the one before."""
    seen = sorted(seen)
    if not seen:
        raise NotMeasurableError("nothing in the data is dated: there are no periods to compare")
    current = current or seen[-1]
    if previous is None:
        earlier = [p for p in seen if p < current]
        if not earlier:
            raise NotMeasurableError(f"the data holds no period before {current} to compare it with")
        previous = earlier[-1]
    for name, value in (("current", current), ("previous", previous)):
        if value not in seen:
            raise ParameterError(f"{name}={value!r} is not a period of this data; choose from {seen}")
    return current, previous


def _in_currency(counts: pd.DataFrame, code, *, several: bool) -> np.ndarray:
    """Rows in ``code``: with one currency every row (leads have none); with several, leads and the deals in it."""
    if not several:
        return np.ones(len(counts), dtype=bool)
    in_code = counts["_currency"].isna() if code is None else counts["_currency"].eq(code).fillna(False)
    return (~counts["_deal"].astype(bool) | in_code).to_numpy(dtype=bool)


def _chain(rows: pd.DataFrame, with_leads: bool, previous: str, current: str, code) -> pd.DataFrame:
    """The factors of one group's won revenue in both periods and each factor's Shapley contribution."""
    notes = []
    counts = {}
    for i, when in enumerate((previous, current)):
        unpriced = int(rows[f"unpriced{i}"].sum())
        if unpriced:
            notes.append(f"{unpriced:,} won deals without an amount left out in {when}")
        counts[when] = {
            "leads": int(rows[f"leads{i}"].sum()) if with_leads else None,
            "opportunities": int(rows[f"opportunities{i}"].sum()),
            "won": int(rows[f"won{i}"].sum()),
            "revenue": float(rows[f"revenue{i}"].sum()),
        }
    names = list(FACTORS) if with_leads else ["volume", "win_rate", "deal_size"]
    values = {when: _factors(c, with_leads) for when, c in counts.items()}
    before, after = _fill_undefined(values[previous], values[current], names, notes)
    _note_throughput(values, previous, current, notes)
    contributions = _shapley([before[n] for n in names], [after[n] for n in names])
    measures = {**FACTORS, **({} if with_leads else {"volume": OPPORTUNITY_VOLUME})}
    rows_out = [
        (code, name, measures[name], FACTOR_UNITS[name].value, previous, current, values[previous][name],
         values[current][name], values[current][name] - values[previous][name], contribution)
        for name, contribution in zip(names, contributions, strict=True)
    ]  # fmt: skip
    r0, r1 = counts[previous]["revenue"], counts[current]["revenue"]
    rows_out.append((code, TOTAL, "won revenue", Unit.MONEY.value, previous, current, r0, r1, r1 - r0, r1 - r0))
    out = pd.DataFrame(rows_out, columns=COLUMNS)
    out[s.CURRENCY] = out[s.CURRENCY].astype("str") if code is not None else NO_CURRENCY
    if notes:
        out[NOTE] = "; ".join(dict.fromkeys(notes))
    return out


def _factors(c: dict, with_leads: bool) -> dict[str, float]:
    ratio = lambda a, b: a / b if b else np.nan  # noqa: E731
    if with_leads:
        return {
            "volume": float(c["leads"]),
            "conversion": ratio(c["opportunities"], c["leads"]),
            "win_rate": ratio(c["won"], c["opportunities"]),
            "deal_size": ratio(c["revenue"], c["won"]),
        }
    return {
        "volume": float(c["opportunities"]),
        "win_rate": ratio(c["won"], c["opportunities"]),
        "deal_size": ratio(c["revenue"], c["won"]),
    }


def _note_throughput(values: dict, previous: str, current: str, notes: list[str]) -> None:
    """Say so when more deals were won than opportunities created: the factor is then a throughput, not a rate."""
    over = [when for when in (previous, current) if values[when]["win_rate"] > 1]
    if over:
        notes.append(
            f"in {' and '.join(over)} more deals were won than opportunities were created (deals created earlier "
            "closed then): won deals per opportunity is a ratio of the period's counts, not a win rate"
        )


def _fill_undefined(before: dict, after: dict, names: list[str], notes: list[str]) -> tuple[dict, dict]:
    """A ratio with nothing to divide by in one period (no won deal: no deal size) takes the other period's value,
    so it contributes nothing; the revenue is 0 either way, as a count before it is 0."""
    before, after = dict(before), dict(after)
    for name in names:
        if np.isnan(before[name]) and np.isnan(after[name]):
            before[name] = after[name] = 0.0
            notes.append(f"{FACTORS[name]} not measurable in either period")
        elif np.isnan(before[name]):
            before[name] = after[name]
        elif np.isnan(after[name]):
            after[name] = before[name]
    return before, after


def _shapley(before: list[float], after: list[float]) -> list[float]:
    """Each factor's Shapley contribution to the change of the product of ``before`` -> ``after`` (exact sum).

    Examples
    --------
    >>> [round(x, 6) for x in _shapley([2.0, 3.0], [4.0, 3.0])]  # only the first factor moved: all of +6 is its
    [6.0, 0.0]
    >>> round(sum(_shapley([2.0, 3.0, 5.0], [4.0, 1.0, 6.0])), 9) == 4 * 1 * 6 - 2 * 3 * 5
    True
    """
    n = len(before)
    out = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        total = 0.0
        for size in range(n):
            weight = factorial(size) * factorial(n - size - 1) / factorial(n)
            for moved in combinations(others, size):
                base = [after[j] if j in moved else before[j] for j in range(n)]
                with_i = base.copy()
                with_i[i] = after[i]
                base[i] = before[i]
                total += weight * (np.prod(with_i) - np.prod(base))
        out.append(float(total))
    return out
