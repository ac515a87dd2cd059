"""Lost reasons on the engine: lost deals counted per group, period, reason and currency there."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pandas as pd

from .. import _params as params
from .. import schema as s
from ..errors import NotMeasurableError
from ..metrics.lost_reasons import NO_REASON, _check_top, reasons_table
from ._common import fetch, group_keys, with_period

if TYPE_CHECKING:
    from .dataset import EngineDataset


def lost_reasons(
    data: EngineDataset,
    *,
    by=None,
    period: str | None = None,
    top: int | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """:func:`funnelkit.lost_reasons` on the engine: the same options, checks, columns, numbers, notes and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")       # doctest: +SKIP
    >>> data.lost_reasons(by="owner", top=5)        # doctest: +SKIP
    """
    p = params.check_options(data, by=by, period=period, fiscal_year_start=fiscal_year_start)
    by, period, fiscal_year_start = p.by, p.period, p.fiscal_year_start
    top = _check_top(top)
    if s.LOST_REASON not in data.opportunities.columns:
        raise NotMeasurableError(
            s.NO_LOST_REASON_COLUMN + " (map the CRM's loss reason field with a mapping file if it has one)",
            missing=(s.LOST_REASON,),
        )
    f = data.funnel_table
    lost = f.filter(f["is_lost"])
    keys = with_period(group_keys(lost, by), lost[s.CLOSED_AT], period, fiscal_year_start)
    groups = list(keys)
    text = lost[s.LOST_REASON].strip()
    reason = ibis.ifelse(text.isnull() | (text == ""), NO_REASON, text)
    amount = lost[s.AMOUNT]
    grouped = lost.group_by(**keys, **{s.LOST_REASON: reason, "_currency": lost[s.CURRENCY]})
    counts = fetch(
        grouped.aggregate(
            n=lost.count(),
            value=amount.sum(),
            _priced=amount.count(),
            _no_amount=amount.isnull().cast("int64").sum(),
            _undated=lost[s.CLOSED_AT].isnull().cast("int64").sum(),
        )
    )
    if not len(counts):
        raise NotMeasurableError("no deal in this data has been lost, so there is no lost reason to count")
    counts = counts.astype({"n": "int64", "value": "float64", "_priced": "int64", "_no_amount": "int64"})
    undated = int(counts.pop("_undated").sum())
    return reasons_table(counts, groups, top=top, period=period, undated=undated)
