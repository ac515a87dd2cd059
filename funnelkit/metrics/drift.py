"""Quarter-by-quarter drift: what changed beyond noise, and whether mix or rates moved."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError, ParameterError
from ..units import Unit, declare
from ._common import check_choice, days_between, group_keys, period_labels
from ._engines import runs_on_engines
from .conversion import conversion
from .time_to_close import _start_column, default_start
from .win_rate import win_rate

METRICS = ("conversion", "win_rate", "time_to_close")
#: The unit of a metric's ``value`` and of its ``change``: a rate moves in points, a duration in days.
VALUE_UNITS = {"conversion": (Unit.RATE, Unit.POINTS), "win_rate": (Unit.RATE, Unit.POINTS),
               "time_to_close": (Unit.DAYS, Unit.DAYS)}  # fmt: skip
#: Units of the columns of :func:`mix_decomposition`.
MIX_UNITS = dict(share_previous=Unit.RATE, share_current=Unit.RATE, rate_previous=Unit.RATE, rate_current=Unit.RATE,
                 mix_effect=Unit.POINTS, rate_effect=Unit.POINTS, total_change=Unit.POINTS)  # fmt: skip


@runs_on_engines
def drift(
    data: Dataset,
    *,
    metric: str = "win_rate",
    period: str = params.DEFAULT_PERIOD,
    by=params.DEFAULT_BY,
    from_stage: str | None = None,
    to_stage: str | None = None,
    alpha: float = 0.05,
    correction: str = "holm",
    compare_to: str = "previous",
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Each group's value per period, its change from the previous period, and whether
    the change is beyond noise.

    Parameters
    ----------
    metric : {"win_rate", "conversion", "time_to_close"}
        Rates are compared with a two-proportion z-test; time to close (days,
        closed deals) with a Mann-Whitney test. Time to close counts from the
        deal's creation, or, in an export without created dates, from the
        first stage deals have dates for (as :func:`time_to_close` with the
        start :func:`funnelkit.review` uses).
    period : {"W", "M", "Q", "Y"}
        Default quarters (any case: "q").
    by : str or list of str, optional
        Funnel columns to compare within (``source``, ``owner``); default none: the whole funnel.
    from_stage, to_stage : str, optional
        The conversion step (default: the first stage to the next).
    alpha : float
        Significance level, applied to p-values adjusted over every
        comparison in the table.
    correction : {"holm", "bh"}
        Holm's step-down method (default: controls the chance of any false
        alarm) or Benjamini-Hochberg (controls the share of false alarms among
        the flagged changes; more lenient when many groups are compared).
    compare_to : {"previous", "first"}
        Compare each period with the one before (quarter-on-quarter), or with
        the group's first period (a slow drift shows here before it does
        quarter-on-quarter).

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``period``, ``n``, ``value``,
        ``previous_value``, ``change``, ``p_value``, ``p_adjusted``,
        ``significant``; for rates also ``successes``, ``ci_low``, ``ci_high``,
        and ``note`` where the rate's table had one (e.g. entrants without a date).
        Only mature cohorts are compared for ``conversion`` (an immature
        quarter would read as a collapse).

    Raises
    ------
    NotMeasurableError
        When no period can be measured (no dated closes, no mature cohort).
    """
    p = params.check(data, by=by, period=params.period(period, required=True), from_stage=from_stage,
                     to_stage=to_stage, fiscal_year_start=fiscal_year_start)  # fmt: skip
    return drift_table(data, p, metric, alpha, correction, compare_to, durations=_durations_by_period)


def drift_table(data, p, metric: str, alpha: float, correction: str, compare_to: str, *, durations) -> pd.DataFrame:
    """:func:`drift` once its parameters are checked (``p``); ``durations(data, by, period, fiscal_year_start)``
    gives time to close per group and period (``n``, ``value``, ``_sample``), on the rows or in an engine."""
    by, period, from_stage, to_stage, fiscal_year_start = p.by, p.period, p.from_stage, p.to_stage, p.fiscal_year_start
    metric = check_choice("metric", metric, METRICS)
    compare_to = check_choice("compare_to", compare_to, ("previous", "first"))
    correction = check_choice("correction", correction, tuple(stats.CORRECTIONS))
    if metric == "time_to_close":
        table = durations(data, by, period, fiscal_year_start)
    else:
        table = _rates_by_period(data, metric, by, period, from_stage, to_stage, fiscal_year_start)
    if not len(table):
        raise NotMeasurableError(f"drift of {metric.replace('_', ' ')} has no period to compare: {_why_empty(metric)}")
    table = table.sort_values([*by, "period"], kind="stable").reset_index(drop=True)
    previous = _baseline(table, by, compare_to)
    table["previous_value"] = previous["value"]
    table["change"] = table["value"] - table["previous_value"]
    if metric == "time_to_close":
        table["p_value"] = [
            stats.mann_whitney_pvalue(cur, prev) if isinstance(prev, np.ndarray) else np.nan
            for cur, prev in zip(table["_sample"], previous["_sample"], strict=True)
        ]
        table = table.drop(columns="_sample")
    else:
        table["p_value"] = stats.two_proportion_pvalue(
            table["successes"], table["n"], previous["successes"], previous["n"]
        )
    table["p_adjusted"] = stats.CORRECTIONS[correction](table["p_value"])
    table["significant"] = (table["p_adjusted"] < alpha).fillna(False)
    value, change = VALUE_UNITS[metric]
    return declare(table, n=Unit.COUNT, successes=Unit.COUNT, value=value, previous_value=value, change=change,
                   ci_low=Unit.RATE, ci_high=Unit.RATE, p_value=Unit.P_VALUE, p_adjusted=Unit.P_VALUE)  # fmt: skip


def _baseline(table: pd.DataFrame, by: list[str], compare_to: str) -> pd.DataFrame:
    """The row each period is compared with: the previous one, or the group's first."""
    grouped = table.groupby(by, dropna=False) if by else table.groupby(lambda _: 0)
    if compare_to == "previous":
        return grouped.shift(1)
    first = grouped.transform("first")
    is_first = grouped.cumcount() == 0
    return first.mask(is_first)


def _rate_table(data, metric, by, period, from_stage, to_stage, fiscal_year_start) -> pd.DataFrame:
    """Win rate or one conversion step per group and period, as ``successes`` of ``n``."""
    if metric == "win_rate":
        rates = win_rate(data, by=by, period=period, fiscal_year_start=fiscal_year_start)
        return rates.rename(columns={"won": "successes", "closed": "n"})
    names = data.stages.names
    a = from_stage or names[0]
    b = to_stage or names[data.stages.index(a) + 1]
    rates = conversion(data, from_stage=a, to_stage=b, by=by, period=period, fiscal_year_start=fiscal_year_start)
    return rates.rename(columns={"converted": "successes", "entered": "n"})


def _rates_by_period(data, metric, by, period, from_stage, to_stage, fiscal_year_start) -> pd.DataFrame:
    rates = _rate_table(data, metric, by, period, from_stage, to_stage, fiscal_year_start)
    if "mature" in rates:
        rates = rates[rates["mature"]]
    keep = [*by, "period", "n", "successes", "rate", "ci_low", "ci_high", *(["note"] if "note" in rates else [])]
    return rates[keep].rename(columns={"rate": "value"}).dropna(subset=["period"])


def _why_empty(metric: str) -> str:
    if metric == "win_rate":
        return "no closed deal has a close date (closed_at)"
    if metric == "conversion":
        return "no cohort of the step is mature (old enough for its rate to be final) and dated"
    return "no closed deal has both a close date and a start date (see fk.time_to_close)"


def _durations_by_period(data, by, period, fiscal_year_start) -> pd.DataFrame:
    f = data.funnel
    begin = _start_column(data, default_start(data))
    closed = f[f[fn.IS_CLOSED] & f[begin].notna() & f[fn.CLOSED_AT].notna()]
    days = days_between(closed[fn.CLOSED_AT], closed[begin])
    closed = closed[days >= 0]
    days = days[days >= 0]
    keys = group_keys(closed, by)
    keys["period"] = period_labels(closed[fn.CLOSED_AT], period, fiscal_year_start=fiscal_year_start)
    grouped = keys.assign(_days=days).groupby([*by, "period"], dropna=False)["_days"]
    out = grouped.agg(n="size", value="median").reset_index()
    out["_sample"] = [group.to_numpy() for _, group in grouped]
    return out


@runs_on_engines
def mix_decomposition(
    data: Dataset,
    *,
    current: str,
    previous: str,
    by=params.DEFAULT_BY,
    metric: str = "conversion",
    from_stage: str | None = None,
    to_stage: str | None = None,
    period: str = params.DEFAULT_PERIOD,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Split the change of an overall rate between two periods into mix and rate effects.

    overall rate = sum over groups of (share of the group) x (its rate). The
    change is split symmetrically (Shapley): ``mix_effect`` = sum of
    (share change) x (mean rate), ``rate_effect`` = sum of (rate change) x
    (mean share); the two add up to the total change exactly.

    Parameters
    ----------
    data : Dataset
    current, previous : str
        The two period labels compared ("2025 Q2", "2025 Q1").
    by : str
        The one funnel column whose mix is split out (``source``, ``owner``): needed.
    metric : {"conversion", "win_rate"}
    from_stage, to_stage : str, optional
        The conversion step (default: the first stage to the next).
    period : {"W", "M", "Q", "Y"}
        Default quarters.
    fiscal_year_start : int

    Returns
    -------
    pandas.DataFrame
        One row per group and a final ``(total)`` row. Columns: the ``by``
        column, ``share_previous``, ``share_current``, ``rate_previous``,
        ``rate_current``, ``mix_effect``, ``rate_effect``, ``total_change``.
    """
    p = params.check(data, by=by, period=params.period(period, required=True), from_stage=from_stage,
                     to_stage=to_stage, fiscal_year_start=fiscal_year_start)  # fmt: skip
    return mix_table(data, p, current, previous, metric)


def mix_table(data, p, current: str, previous: str, metric: str) -> pd.DataFrame:
    """:func:`mix_decomposition` once its parameters are checked (``p``): it reads only the rate tables of
    the public metrics, so it runs wherever they run (a loaded dataset or an engine)."""
    by, period, from_stage, to_stage, fiscal_year_start = p.by, p.period, p.from_stage, p.to_stage, p.fiscal_year_start
    metric = check_choice("metric", metric, ("conversion", "win_rate"))
    if len(by) != 1:
        raise ParameterError(f"mix_decomposition needs exactly one by column, such as by='source'; got by={by!r}")
    rates = _rate_table(data, metric, by, period, from_stage, to_stage, fiscal_year_start)
    missing = {current, previous} - set(rates["period"].dropna())
    if missing:
        raise ParameterError(
            f"period(s) {sorted(missing)} not in the data; available: {sorted(rates['period'].dropna().unique())}"
        )
    wide = rates[rates["period"].isin([current, previous])].pivot_table(
        index=by[0], columns="period", values=["n", "successes"], aggfunc="sum", fill_value=0
    )
    n_prev, n_cur = wide["n"].get(previous, 0), wide["n"].get(current, 0)
    x_prev, x_cur = wide["successes"].get(previous, 0), wide["successes"].get(current, 0)
    w_prev, w_cur = n_prev / n_prev.sum(), n_cur / n_cur.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        r_prev = (x_prev / n_prev).where(n_prev > 0)
        r_cur = (x_cur / n_cur).where(n_cur > 0)
    # a group absent in one period carries no weight there; give it the other rate
    r_prev, r_cur = r_prev.fillna(r_cur).fillna(0), r_cur.fillna(r_prev).fillna(0)
    out = pd.DataFrame(
        {
            "share_previous": w_prev,
            "share_current": w_cur,
            "rate_previous": r_prev,
            "rate_current": r_cur,
            "mix_effect": (w_cur - w_prev) * (r_cur + r_prev) / 2,
            "rate_effect": (r_cur - r_prev) * (w_cur + w_prev) / 2,
        }
    )
    out["total_change"] = out["mix_effect"] + out["rate_effect"]
    total = out.sum().to_frame("(total)").T
    total[["rate_previous", "rate_current"]] = [
        (w_prev * r_prev).sum(),
        (w_cur * r_cur).sum(),
    ]
    out = pd.concat([out, total])
    return declare(out.rename_axis(by[0]).reset_index(), **MIX_UNITS)
