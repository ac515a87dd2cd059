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

#: Python's whitespace (what pandas' ``str.strip`` removes: tabs, newlines, no-break and ideographic spaces, ...),
#: as a character class both RE2 (DuckDB) and Java (Spark) read; SQL's TRIM removes spaces only
SPACE_CLASS = (
    r"[\x{9}\x{a}\x{b}\x{c}\x{d}\x{1c}\x{1d}\x{1e}\x{1f}\x{20}\x{85}\x{a0}\x{1680}\x{2000}\x{2001}\x{2002}"
    r"\x{2003}\x{2004}\x{2005}\x{2006}\x{2007}\x{2008}\x{2009}\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
_SURROUNDING_SPACE = f"^{SPACE_CLASS}+|{SPACE_CLASS}+$"


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
    text = lost[s.LOST_REASON].re_replace(_SURROUNDING_SPACE, "")
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
