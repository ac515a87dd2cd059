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
    parts = []
    for name, (selected, when) in definitions.items():
        chosen = f[selected]
        labels = period_labels(when[selected], period, fiscal_year_start=fiscal_year_start)
        table = pd.DataFrame(
            {
                "period": labels,
                "leads": 1,
                "opportunities": opp[selected].astype(int),
                "won": chosen[fn.IS_WON].astype(int),
            }
        )
        by_period = table.groupby("period").sum().reset_index()
        overall = table[["leads", "opportunities", "won"]].sum().to_frame().T.assign(period="(all)")
        both = pd.concat([by_period, overall], ignore_index=True)
        both.insert(0, "definition", name)
        parts.append(both)
    out = pd.concat(parts, ignore_index=True)
    out = out.astype({"leads": "int64", "opportunities": "int64", "won": "int64"})
    stats.add_rate(out, "opportunities", "leads", prefix="to_opportunity_")
    stats.add_rate(out, "won", "leads", prefix="win_")
    for name, (selected, when) in definitions.items():
        undated = int((selected & when.isna()).sum())
        if undated:
            date = f"created date ({first})" if name == "rule" else f"{mql_stage} date ({stage_column(mql_stage)})"
            note = f"{counted(undated, 'lead')} with no {date}: in the (all) row only"
            add_note(out, note, out["definition"] == name)
    return declare(out, **QUALIFY_UNITS)
