"""The SLA scorecard on the engine: MQLs per period, response times per group, rejections per reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from ..errors import NotMeasurableError, ParameterError
from ..metrics._common import add_note, counted, to_timedelta
from ..metrics.sla import (
    DELIVERY_UNITS,
    RESPONSE_UNITS,
    SLAResult,
    _delivery,
    _feedback_table,
    _with_rates,
)
from ..units import Unit, declare
from ._common import fetch, group_keys, reached, sorted_groups
from .periods import period_label, seconds_between

if TYPE_CHECKING:
    from .dataset import EngineDataset

NO_REASON = "(no reason given)"


def sla(
    data: EngineDataset,
    *,
    mql_target: float,
    period: str | None = None,
    tolerance: float = 0.10,
    response_within="30min",
    max_response="1D",
    touches_target: int | None = None,
    by=params.DEFAULT_BY,
    stage: str = "mql",
    fiscal_year_start: int = 1,
) -> SLAResult:
    """:func:`funnelkit.sla` on the engine: the same options, checks, three tables, numbers, notes and units.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")               # doctest: +SKIP
    >>> data.sla(mql_target=400, period="M", by="owner")    # doctest: +SKIP
    """
    if period is None:
        raise ParameterError(
            f"sla() needs period=, the period mql_target counts MQLs per: one of {list(params.PERIODS)}"
        )
    p = params.check_options(data, what="sla()", by=by, period=period, stage=stage, fiscal_year_start=fiscal_year_start)
    by, period, mql_stage, fiscal_year_start = p.by, p.period, p.stage, p.fiscal_year_start
    mql_target = params.non_negative(mql_target, name="mql_target")
    tolerance = params.non_negative(tolerance, name="tolerance")
    within = to_timedelta(response_within, "response_within")
    longest = to_timedelta(max_response, "max_response")
    f = data.funnel_table
    mql_at = f[f"{mql_stage}_at"]
    touch = f[fn.FIRST_TOUCH_AT] if fn.FIRST_TOUCH_AT in f.columns else None
    row = fetch(
        f.aggregate(
            n=mql_at.count(),
            first=mql_at.min(),
            last=mql_at.max(),
            undated=(reached(f, data.stages, mql_stage) & mql_at.isnull()).cast("int64").sum(),
            touched=ibis.literal(0) if touch is None else touch.count(),
        )
    ).iloc[0]
    undated = int(0 if pd.isna(row["undated"]) else row["undated"])
    if touch is None or not int(row["touched"]):
        raise ParameterError(
            f"the response part of sla() needs the column {fn.FIRST_TOUCH_AT!r}, which this export does not fill; "
            "map it with a mapping file if your CRM has it"
        )
    if not int(row["n"]):
        raise NotMeasurableError(
            f"the SLA counts MQLs by the date they became {mql_stage}, and no lead has a {mql_stage} date "
            f"({mql_stage}_at; {undated:,} reached {mql_stage} by status alone): map the {mql_stage} date column",
            missing=(f"{mql_stage}_at",),
        )
    mqls = f.filter(mql_at.notnull())
    label = period_label(mqls[f"{mql_stage}_at"], period, fiscal_year_start=fiscal_year_start)
    per_period = fetch(mqls.group_by(_period=label).aggregate(n=mqls.count()))
    counts = pd.Series(per_period["n"].astype("int64").to_numpy(), index=per_period["_period"].astype("str"))
    first, last = (_utc(row[k]) for k in ("first", "last"))
    delivery = _delivery(counts, first, last, data.as_of, mql_target, period, tolerance, fiscal_year_start)
    if undated:
        add_note(delivery, f"{counted(undated, 'lead')} reached {mql_stage} with no {mql_stage} date, in no period")
    response = _response(mqls, mql_stage, within, longest, touches_target, by)
    return SLAResult(
        delivery=declare(delivery, **DELIVERY_UNITS),
        response=declare(response, **RESPONSE_UNITS),
        feedback=declare(_feedback(mqls), mqls=Unit.COUNT),
    )


def _utc(value) -> pd.Timestamp:
    """A timestamp from an engine in UTC (Spark returns them without a zone, in the session's UTC)."""
    moment = pd.Timestamp(value)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return moment.as_unit("ns")


def _response(mqls, mql_stage, within, longest, touches_target, by) -> pd.DataFrame:
    """Per ``by`` group: MQLs, how many were touched, within the target and the maximum, and the median minutes."""
    touch_at = mqls[fn.FIRST_TOUCH_AT]
    minutes = seconds_between(touch_at, mqls[f"{mql_stage}_at"]) / 60.0
    touched = touch_at.notnull()
    sums = {
        "mqls": mqls.count(),
        "touched": touched.cast("int64").sum(),
        "within_target": (touched & ibis.coalesce(minutes <= within.total_seconds() / 60, False)).cast("int64").sum(),
        "within_max": (touched & ibis.coalesce(minutes <= longest.total_seconds() / 60, False)).cast("int64").sum(),
        "never_touched": (~touched).cast("int64").sum(),
    }
    if touches_target is not None:
        touches = ibis.coalesce(mqls[fn.TOUCHES], 0) if fn.TOUCHES in mqls.columns else ibis.literal(0)
        sums["followed_up"] = (touches >= touches_target).cast("int64").sum()
    sums["median_minutes"] = ibis.ifelse(minutes >= 0, minutes, ibis.null("float64")).median()
    keys = group_keys(mqls, by)
    query = mqls.group_by(**keys).aggregate(**sums) if by else mqls.aggregate(**sums)
    out = sorted_groups(fetch(query), by)
    counts = [c for c in sums if c != "median_minutes"]
    out = out.astype({**dict.fromkeys(counts, "int64"), "median_minutes": "float64"})
    return _with_rates(out[[*by, *counts, "median_minutes"]])


def _feedback(mqls) -> pd.DataFrame:
    """Rejected MQLs per reason (one query)."""
    if fn.IS_DISQUALIFIED not in mqls.columns:
        return pd.DataFrame({"reason": [], "mqls": []})
    rejected = mqls.filter(ibis.coalesce(mqls[fn.IS_DISQUALIFIED], False))
    if fn.DISQUALIFY_REASON not in mqls.columns:
        n = int(fetch(rejected.aggregate(n=rejected.count()))["n"].iloc[0])
        return pd.DataFrame({"reason": [NO_REASON], "mqls": [n]})
    reason = ibis.coalesce(rejected[fn.DISQUALIFY_REASON], NO_REASON)
    counted_ = fetch(rejected.group_by(reason=reason).aggregate(mqls=rejected.count()))
    counts = pd.Series(
        counted_["mqls"].astype("int64").to_numpy(),
        index=pd.Index(counted_["reason"].astype("str"), name=fn.DISQUALIFY_REASON),
        name="count",
    )
    return _feedback_table(counts)
