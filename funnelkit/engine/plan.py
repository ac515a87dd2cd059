"""The lead-demand plan on the engine: step counts, won deals and lead times per group come from queries."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from .. import _params as params
from .. import schema as s
from ..errors import ParameterError
from ..metrics.plan import ALL, GROUP, STEP_RATES, PlanInputs, _step_stages, plan_from
from ._common import fetch, group_keys, reached, sorted_groups
from .periods import days_between

if TYPE_CHECKING:
    from .dataset import EngineDataset


def plan(
    data: EngineDataset,
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
    """:func:`funnelkit.plan` on the engine: the same options, checks, rows, rates, notes and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")          # doctest: +SKIP
    >>> data.plan(quota=500_000, by="source")          # doctest: +SKIP
    """
    by = params.check_options(data, by=by).by
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
    return plan_from(plan_inputs(data, by), quota=quota, deal_size=deal_size, given=given, by=by, currency=currency)


def plan_inputs(data: EngineDataset, by: str | None) -> PlanInputs:
    """:class:`funnelkit.metrics.plan.PlanInputs` in three aggregate queries."""
    f = data.funnel_table
    stages = data.stages
    group = group_keys(f, [by])[by] if by else ibis.literal(ALL)
    f = f.mutate(**{GROUP: group})

    sums, names = {}, []
    for name in STEP_RATES:
        a, b = _step_stages(stages, name)
        if a is None:
            continue
        rows = reached(f, stages, a)
        hits = f[s.IS_WON] if b == stages.won else reached(f, stages, b)
        if b == stages.won:  # closed deals only: open ones have not decided yet
            rows = rows & f[s.IS_CLOSED]
        sums[f"n_{name}"] = rows.cast("int64").sum()
        sums[f"k_{name}"] = (rows & hits).cast("int64").sum()
        names.append(name)
    columns = [GROUP, "step", "n", "k"]
    if sums:
        wide = fetch(f.group_by(GROUP).aggregate(**sums))
        steps = pd.concat(
            [wide[[GROUP]].assign(step=name, n=wide[f"n_{name}"], k=wide[f"k_{name}"]) for name in names],
            ignore_index=True,
        ).astype({"n": "int64", "k": "int64"})[columns]
    else:
        steps = pd.DataFrame(columns=columns)

    won = f.filter(f[s.IS_WON])
    amount = won[s.AMOUNT]
    money = fetch(
        won.group_by([GROUP, s.CURRENCY, amount.notnull().name("_priced")]).aggregate(
            deals=won.count(), **{s.AMOUNT: amount.sum()}
        )
    )
    money = sorted_groups(money, [GROUP, s.CURRENCY, "_priced"])
    money = money.astype({"deals": "int64", s.AMOUNT: "float64", "_priced": "bool"})
    money[s.AMOUNT] = money[s.AMOUNT].where(money["_priced"])

    won_at = won[s.stage_column(stages.won)]
    medians = {f"d{i}": days_between(won_at, won[s.stage_column(n)]).median() for i, n in enumerate(stages.names)}
    wide = fetch(won.group_by(GROUP).aggregate(**medians))
    lead_times = pd.concat(
        [
            pd.DataFrame({GROUP: wide[GROUP], "stage": n, "days": wide[f"d{i}"].astype("float64")})
            for i, n in enumerate(stages.names)
        ],
        ignore_index=True,
    )
    return PlanInputs(stages, steps, money, lead_times)
