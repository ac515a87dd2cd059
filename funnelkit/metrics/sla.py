"""The sales/marketing SLA scorecard: MQLs delivered vs commitment, speed to lead, follow-up."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError, ParameterError
from ..units import Unit, declare
from ._common import (
    add_note,
    core,
    counted,
    group_keys,
    period_labels,
    require_column,
    to_timedelta,
)
from ._engines import runs_on_engines

STATUSES = ("under", "within", "over")
#: The delivery table's verdict per period (one of :data:`STATUSES`): a result column that only shares its
#: name with the funnel's ``status`` (a lead's CRM status).
DELIVERY_STATUS = "status"
#: Units of the columns of the scorecard's three tables (:class:`SLAResult`).
DELIVERY_UNITS = dict(mqls=Unit.COUNT, target=Unit.COUNT, ratio=Unit.RATE, low=Unit.COUNT, high=Unit.COUNT)
RESPONSE_UNITS = {
    **dict.fromkeys(["mqls", "touched", "within_target", "within_max", "never_touched", "followed_up"], Unit.COUNT),
    **{f"{part}_{kind}": Unit.RATE for part in ("within_target", "within_max", "never_touched", "followed_up")
       for kind in ("rate", "ci_low", "ci_high")},
    "median_minutes": Unit.MINUTES,
}  # fmt: skip


@dataclass(frozen=True)
class SLAResult:
    """The three parts of the scorecard.

    Attributes
    ----------
    delivery : DataFrame
        ``period``, ``mqls``, ``target``, ``ratio``, ``status`` (under /
        within / over the target's tolerance band), ``low``, ``high`` (the band);
        ``note`` when leads reached the MQL stage without a date (counted in no period).
    response : DataFrame
        The ``by`` columns, ``mqls``, ``touched``, ``median_minutes``,
        ``within_target`` with ``within_target_rate`` and its Wilson interval
        (``within_target_ci_low``, ``within_target_ci_high``),
        ``within_max`` and ``within_max_rate``, ``never_touched`` and
        ``never_touched_rate``, and with a touch target ``followed_up``
        (MQLs with at least that many touches) and ``followed_up_rate``.
    feedback : DataFrame
        Disqualified (rejected) MQLs by ``disqualify_reason``: ``reason``, ``mqls``.
    """

    delivery: pd.DataFrame
    response: pd.DataFrame
    feedback: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        """One row per part: the headline figure of each."""
        r = self.response
        total = r["mqls"].sum()
        return pd.DataFrame(
            {
                "measure": [
                    "periods on target",
                    "MQLs answered within target",
                    "MQLs never touched",
                ],
                "value": [
                    f"{int((self.delivery[DELIVERY_STATUS] == 'within').sum())} of {len(self.delivery)}",
                    f"{r['within_target'].sum() / total:.0%}" if total else "n/a",
                    f"{r['never_touched'].sum() / total:.0%}" if total else "n/a",
                ],
            }
        )

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False)


@params.renamed(mql_stage="stage")
@runs_on_engines
def sla(
    data: Dataset,
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
    """Score both sides of the SLA.

    Parameters
    ----------
    mql_target : float
        Marketing's commitment: MQLs per ``period``.
    period : {"W", "M", "Q", "Y"}
        The period ``mql_target`` is counted per: needed (no default, so that a
        monthly target is never read as a quarterly one).
    tolerance : float
        Band around the target counted as on target (0.10 = +/-10%).
    response_within, max_response : str
        Sales' commitments: first touch within this time of the MQL, and never later.
    touches_target : int, optional
        Follow-up commitment: touches within 14 days.
    by : str or list of str, optional
        Break the response side down (e.g. ``owner``).
    stage : str
        The stage that means MQL (default ``"mql"``; old name ``mql_stage=``).

    Returns
    -------
    SLAResult

    Raises
    ------
    NotMeasurableError
        When no lead has an MQL date.
    ParameterError
        When the funnel has no ``stage``, ``period`` is missing, or the export has no first-touch dates.
    """
    if period is None:
        raise ParameterError(
            f"sla() needs period=, the period mql_target counts MQLs per: one of {list(params.PERIODS)}"
        )
    p = params.check(data, what="sla()", by=by, period=period, stage=stage, fiscal_year_start=fiscal_year_start)
    by, period, mql_stage, fiscal_year_start = p.by, p.period, p.stage, p.fiscal_year_start
    mql_target = params.non_negative(mql_target, name="mql_target")
    tolerance = params.non_negative(tolerance, name="tolerance")
    within = to_timedelta(response_within, "response_within")
    longest = to_timedelta(max_response, "max_response")
    f = core(data, by)
    mql_at = f[f"{mql_stage}_at"]
    mqls = f[mql_at.notna()]
    undated = int((data.reached(mql_stage) & mql_at.isna()).sum())
    require_column(data, fn.FIRST_TOUCH_AT, "the response part of sla()")
    if not len(mqls):
        raise NotMeasurableError(
            f"the SLA counts MQLs by the date they became {mql_stage}, and no lead has a {mql_stage} date "
            f"({mql_stage}_at; {undated:,} reached {mql_stage} by status alone): map the {mql_stage} date column",
            missing=(f"{mql_stage}_at",),
        )
    mql_at = mqls[f"{mql_stage}_at"]
    counts = period_labels(mql_at, period, fiscal_year_start=fiscal_year_start).value_counts()
    delivery = _delivery(counts, mql_at.min(), mql_at.max(), data.as_of, mql_target, period, tolerance,
                         fiscal_year_start)  # fmt: skip
    if undated:
        add_note(delivery, f"{counted(undated, 'lead')} reached {mql_stage} with no {mql_stage} date, in no period")
    response = _response(data, mqls, mql_stage, within, longest, touches_target, by)
    return SLAResult(
        delivery=declare(delivery, **DELIVERY_UNITS),
        response=declare(response, **RESPONSE_UNITS),
        feedback=declare(_feedback(mqls), mqls=Unit.COUNT),
    )


def _delivery(counts: pd.Series, first, last, as_of, target, period, tolerance, fiscal_year_start) -> pd.DataFrame:
    """MQLs per period against the target, from ``counts`` (MQLs per period label) and the first and last MQL."""
    last = last if pd.isna(as_of) else max(last, as_of)
    # a period without a single MQL is the worst miss of all: it is a row with 0, never a missing row
    every = _every_period(first, last, period, fiscal_year_start)
    counts = counts.reindex(every, fill_value=0)
    out = counts.rename_axis("period").reset_index(name="mqls")
    out["target"] = float(target)
    out["ratio"] = out["mqls"] / out["target"]
    out["low"], out["high"] = target * (1 - tolerance), target * (1 + tolerance)
    out[DELIVERY_STATUS] = np.select([out["mqls"] < out["low"], out["mqls"] > out["high"]], ["under", "over"], "within")
    return out


def _every_period(first: pd.Timestamp, last: pd.Timestamp, period: str, fiscal_year_start: int) -> list[str]:
    """Labels of every period from the one holding ``first`` to the one holding ``last``, in order."""
    if period == "W":
        start = first.normalize() - pd.Timedelta(days=first.day_of_week)
        stamps = pd.date_range(start, last, freq="7D")
    else:
        stamps = pd.date_range(first.normalize().replace(day=1), last, freq="MS")
    labels = period_labels(pd.Series(stamps), period, fiscal_year_start=fiscal_year_start)
    return list(dict.fromkeys(labels))


def _response(data, mqls, mql_stage, within, longest, touches_target, by) -> pd.DataFrame:
    minutes = (mqls[fn.FIRST_TOUCH_AT] - mqls[f"{mql_stage}_at"]).dt.total_seconds() / 60
    touched = mqls[fn.FIRST_TOUCH_AT].notna()
    table = group_keys(mqls, by).assign(
        mqls=1,
        touched=touched.astype(int),
        within_target=(touched & (minutes <= within.total_seconds() / 60)).astype(int),
        within_max=(touched & (minutes <= longest.total_seconds() / 60)).astype(int),
        never_touched=(~touched).astype(int),
        _minutes=minutes.where(minutes >= 0),
    )
    if touches_target is not None:
        table["followed_up"] = (mqls[fn.TOUCHES].fillna(0) >= touches_target).astype(int)
    sums = {c: "sum" for c in table.columns if c not in (*by, "_minutes")}
    if by:
        grouped = table.groupby(by, dropna=False)
        out = grouped.agg(sums).reset_index()
        out["median_minutes"] = grouped["_minutes"].median().to_numpy()
    else:
        out = table.agg(sums).to_frame().T
        out["median_minutes"] = table["_minutes"].median()
    return _with_rates(out)


def _with_rates(out: pd.DataFrame) -> pd.DataFrame:
    """Each commitment's share of the MQLs, with its Wilson interval."""
    for column in ("within_target", "within_max", "never_touched", "followed_up"):
        if column in out:
            stats.add_rate(out, column, "mqls", prefix=f"{column}_")
    return out


def _feedback(mqls: pd.DataFrame) -> pd.DataFrame:
    if fn.IS_DISQUALIFIED not in mqls:
        return pd.DataFrame({"reason": [], "mqls": []})
    rejected = mqls[mqls[fn.IS_DISQUALIFIED].fillna(False).to_numpy(dtype=bool)]
    reasons = rejected[fn.DISQUALIFY_REASON].fillna("(no reason given)") if fn.DISQUALIFY_REASON in rejected else None
    if reasons is None:
        return pd.DataFrame({"reason": ["(no reason given)"], "mqls": [len(rejected)]})
    return _feedback_table(reasons.value_counts())


def _feedback_table(counts: pd.Series) -> pd.DataFrame:
    """Rejected MQLs per reason, the most first; ties by reason, so the order does not depend on the rows'."""
    out = counts.rename_axis("reason").reset_index(name="mqls")
    return out.sort_values(["mqls", "reason"], ascending=[False, True], kind="stable").reset_index(drop=True)
