"""The sales/marketing SLA scorecard: MQLs delivered vs commitment, speed to lead, follow-up."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError
from ._common import (
    add_note,
    by_columns,
    check_choice,
    core,
    counted,
    group_keys,
    period_labels,
    require_column,
    require_stage,
    to_timedelta,
)

STATUSES = ("under", "within", "over")


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
                    f"{int((self.delivery['status'] == 'within').sum())} of {len(self.delivery)}",
                    f"{r['within_target'].sum() / total:.0%}" if total else "n/a",
                    f"{r['never_touched'].sum() / total:.0%}" if total else "n/a",
                ],
            }
        )

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False)


def sla(
    data: Dataset,
    *,
    mql_target: float,
    period: str = "M",
    tolerance: float = 0.10,
    response_within="30min",
    max_response="1D",
    touches_target: int | None = None,
    by=None,
    mql_stage: str = "mql",
    fiscal_year_start: int = 1,
) -> SLAResult:
    """Score both sides of the SLA.

    Parameters
    ----------
    mql_target : float
        Marketing's commitment: MQLs per ``period``.
    period : {"W", "M", "Q", "Y"}
    tolerance : float
        Band around the target counted as on target (0.10 = +/-10%).
    response_within, max_response : str
        Sales' commitments: first touch within this time of the MQL, and never later.
    touches_target : int, optional
        Follow-up commitment: touches within 14 days.
    by : str or list of str, optional
        Break the response side down (e.g. ``owner``).

    Returns
    -------
    SLAResult

    Raises
    ------
    NotMeasurableError
        When no lead has an MQL date.
    ParameterError
        When the funnel has no ``mql_stage`` or the export no first-touch dates.
    """
    require_stage(data, mql_stage, "sla()")
    if tolerance < 0:
        from ..errors import ParameterError

        raise ParameterError(f"tolerance must be 0 or more; got {tolerance!r}")
    within = to_timedelta(response_within, "response_within")
    longest = to_timedelta(max_response, "max_response")
    check_choice("period", period, ("W", "M", "Q", "Y"))
    f = core(data, by_columns(data, by))
    mql_at = f[f"{mql_stage}_at"]
    mqls = f[mql_at.notna()]
    undated = int((data.reached(mql_stage) & mql_at.isna()).sum())
    require_column(data, "first_touch_at", "the response part of sla()")
    if not len(mqls):
        raise NotMeasurableError(
            f"the SLA counts MQLs by the date they became {mql_stage}, and no lead has a {mql_stage} date "
            f"({mql_stage}_at; {undated:,} reached {mql_stage} by status alone): map the {mql_stage} date column",
            missing=(f"{mql_stage}_at",),
        )
    delivery = _delivery(mqls[f"{mql_stage}_at"], mql_target, period, tolerance, fiscal_year_start)
    if undated:
        add_note(delivery, f"{counted(undated, 'lead')} reached {mql_stage} with no {mql_stage} date, in no period")
    response = _response(data, mqls, mql_stage, within, longest, touches_target, by_columns(data, by))
    return SLAResult(delivery=delivery, response=response, feedback=_feedback(mqls))


def _delivery(mql_at, target, period, tolerance, fiscal_year_start) -> pd.DataFrame:
    labels = period_labels(mql_at, period, fiscal_year_start=fiscal_year_start)
    out = labels.value_counts().sort_index().rename_axis("period").reset_index(name="mqls")
    out["target"] = float(target)
    out["ratio"] = out["mqls"] / out["target"]
    out["low"], out["high"] = target * (1 - tolerance), target * (1 + tolerance)
    out["status"] = np.select([out["mqls"] < out["low"], out["mqls"] > out["high"]], ["under", "over"], "within")
    return out


def _response(data, mqls, mql_stage, within, longest, touches_target, by) -> pd.DataFrame:
    minutes = (mqls["first_touch_at"] - mqls[f"{mql_stage}_at"]).dt.total_seconds() / 60
    touched = mqls["first_touch_at"].notna()
    table = group_keys(mqls, by).assign(
        mqls=1,
        touched=touched.astype(int),
        within_target=(touched & (minutes <= within.total_seconds() / 60)).astype(int),
        within_max=(touched & (minutes <= longest.total_seconds() / 60)).astype(int),
        never_touched=(~touched).astype(int),
        _minutes=minutes.where(minutes >= 0),
    )
    if touches_target is not None:
        table["followed_up"] = (mqls["touches"].fillna(0) >= touches_target).astype(int)
    sums = {c: "sum" for c in table.columns if c not in (*by, "_minutes")}
    if by:
        grouped = table.groupby(by, dropna=False)
        out = grouped.agg(sums).reset_index()
        out["median_minutes"] = grouped["_minutes"].median().to_numpy()
    else:
        out = table.agg(sums).to_frame().T
        out["median_minutes"] = table["_minutes"].median()
    for column in ("within_target", "within_max", "never_touched", "followed_up"):
        if column in out:
            stats.add_rate(out, column, "mqls", prefix=f"{column}_")
    return out


def _feedback(mqls: pd.DataFrame) -> pd.DataFrame:
    if "is_disqualified" not in mqls:
        return pd.DataFrame({"reason": [], "mqls": []})
    rejected = mqls[mqls["is_disqualified"].fillna(False).to_numpy(dtype=bool)]
    reasons = rejected["disqualify_reason"].fillna("(no reason given)") if "disqualify_reason" in rejected else None
    if reasons is None:
        return pd.DataFrame({"reason": ["(no reason given)"], "mqls": [len(rejected)]})
    return reasons.value_counts().rename_axis("reason").reset_index(name="mqls")
