"""MQL-definition workbench: what a candidate qualification rule would have delivered."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError, ParameterError
from ..schema import stage_column
from ..units import Unit, declare
from ._common import add_note, counted, period_labels
from ._engines import runs_on_engines

#: Units of the columns of :func:`qualify`.
QUALIFY_UNITS = dict(leads=Unit.COUNT, opportunities=Unit.COUNT, won=Unit.COUNT, to_opportunity_rate=Unit.RATE,
                     to_opportunity_ci_low=Unit.RATE, to_opportunity_ci_high=Unit.RATE, win_rate=Unit.RATE,
                     win_ci_low=Unit.RATE, win_ci_high=Unit.RATE)  # fmt: skip


@runs_on_engines
@params.renamed(mql_stage="stage")
def qualify(
    data: Dataset, rule, *, period: str = params.DEFAULT_PERIOD, stage: str = "mql", fiscal_year_start: int = 1
) -> pd.DataFrame:
    """Compare a candidate MQL rule with the current MQL definition.

    Parameters
    ----------
    rule : str or callable
        A pandas query over the funnel table's columns (e.g. ``"employees >= 100
        and source != 'Trade Show'"``) or a function taking the funnel table
        and returning a boolean mask.
    period : {"W", "M", "Q", "Y"}
        Volume is counted per period of lead creation (rule) or MQL date (current); default quarters.
    stage : str
        The stage that means MQL (default ``"mql"``; old name ``mql_stage=``).

    Returns
    -------
    pandas.DataFrame
        One row per definition ("rule", "current") and period, plus an
        ``(all)`` period per definition. Columns: ``definition``, ``period``,
        ``leads`` (qualified volume), ``opportunities``, ``won``,
        ``to_opportunity_rate`` and ``win_rate`` (won / qualified) with
        Wilson intervals (``*_ci_low``, ``*_ci_high``). The current
        definition counts every lead that reached ``stage``, by its
        status too; one without a date is counted in ``(all)`` only and
        the ``note`` says how many.

    Raises
    ------
    NotMeasurableError
        When the export has no leads.
    ParameterError
        When the funnel has no ``stage`` or the rule cannot be evaluated.
    """
    p = params.check(data, what="qualify()", period=params.period(period, required=True), stage=stage,
                     fiscal_year_start=fiscal_year_start)  # fmt: skip
    period, mql_stage, fiscal_year_start = p.period, p.stage, p.fiscal_year_start
    is_lead = data.funnel[fn.ENTITY].eq("lead")
    if not is_lead.any():
        raise NotMeasurableError(
            "qualify() tries an MQL rule on leads, and this export has none (opportunities only): load the leads",
            missing=("leads",),
        )
    f = data.funnel[is_lead]
    try:
        mask = f.eval(rule) if isinstance(rule, str) else rule(f)
    except Exception as exc:  # pandas raises many types for a bad expression
        raise ParameterError(f"the rule {rule!r} cannot be evaluated on the lead table: {exc}") from None
    mask = pd.Series(np.asarray(mask, dtype=bool), index=f.index)
    first = stage_column(data.stages.first)
    opp = data.reached(data.stages.opportunity)[f.index]
    definitions = {
        "rule": (mask, f[first]),
        "current": (data.reached(mql_stage)[f.index], f[stage_column(mql_stage)]),
    }
    counts = {}
    for name, (selected, when) in definitions.items():
        counts[name] = pd.DataFrame(
            {
                "period": period_labels(when[selected], period, fiscal_year_start=fiscal_year_start),
                "leads": 1,
                "opportunities": opp[selected].astype(int),
                "won": f.loc[selected, fn.IS_WON].astype(int),
            }
        )
    return qualify_table(counts, first=first, mql_stage=mql_stage)


#: what :func:`qualify` counts per definition and period
COUNTS = ["leads", "opportunities", "won"]


def qualify_table(counts: dict[str, pd.DataFrame], *, first: str, mql_stage: str) -> pd.DataFrame:
    """Both definitions' rows per period and over all time, with rates and the undated notes.

    ``counts`` holds, per definition (``rule``, ``current``), the :data:`COUNTS`
    per row or per group with its ``period`` label (missing when the lead has
    no date for it): shared by the pandas metric and the engine's.
    """
    parts, undated = [], {}
    for name, table in counts.items():
        undated[name] = int(table.loc[table["period"].isna(), "leads"].sum())
        dated = table[table["period"].notna()].astype({"period": "str"})
        by_period = dated.groupby("period")[COUNTS].sum().reset_index()
        overall = table[COUNTS].sum().to_frame().T.assign(period="(all)")
        both = pd.concat([by_period, overall], ignore_index=True)
        both.insert(0, "definition", name)
        parts.append(both)
    out = pd.concat(parts, ignore_index=True)
    out = out.astype({"leads": "int64", "opportunities": "int64", "won": "int64"})
    stats.add_rate(out, "opportunities", "leads", prefix="to_opportunity_")
    stats.add_rate(out, "won", "leads", prefix="win_")
    for name, n in undated.items():
        if n:
            date = f"created date ({first})" if name == "rule" else f"{mql_stage} date ({stage_column(mql_stage)})"
            add_note(out, f"{counted(n, 'lead')} with no {date}: in the (all) row only", out["definition"] == name)
    return declare(out, **QUALIFY_UNITS)
