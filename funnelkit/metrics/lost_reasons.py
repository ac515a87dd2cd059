"""Where we lose deals: lost deals by the reason the CRM gives, with their value and trend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import funnel as fn
from .. import schema as s
from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError, ParameterError
from ..units import Unit, declare
from ._common import by_columns, core, group_keys, period_labels

#: the reason shown for a lost deal whose reason cell is blank (the export has the column)
NO_REASON = "(no reason given)"
#: the reasons past the ``top`` most frequent, together
OTHER = "Other"
NOTE = "note"


def lost_reasons(
    data: Dataset,
    *,
    by=None,
    period: str | None = None,
    top: int | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Lost deals by lost reason: how many, what share of the losses, how much money, and the trend.

    Parameters
    ----------
    data : Dataset
    by : str or list of str, optional
        Funnel columns to break down by (``owner``, ``source``, a segment).
    period : {"W", "M", "Q", "Y"}, optional
        Period of the close date: the trend of each reason.
    top : int, optional
        Keep the ``top`` reasons with the most lost deals (over all the data,
        so every group and period shows the same ones) and put the rest
        together as "Other". "(no reason given)" is never folded into
        "Other": it says the reason is missing, not that it is rare.
    fiscal_year_start : int
        First month of the fiscal year (quarter labels follow it).

    Returns
    -------
    pandas.DataFrame
        One row per ``by`` group, ``period`` (when asked), reason and
        currency, the most frequent reason first. Columns: the ``by``
        columns, ``period``, ``lost_reason`` (blank reasons read "(no reason
        given)"), ``lost`` (lost deals with this reason, in every currency),
        ``lost_total`` (lost deals in the group and period), ``share`` (lost
        / lost total), ``ci_low``, ``ci_high`` (Wilson 95%),
        ``small_sample`` (fewer than 20 lost deals in the group), then
        ``currency``, ``lost_in_currency`` (those of the ``lost`` deals in this
        currency) and ``lost_value`` (their amount). Money is never summed
        across currencies: with several, a reason has one row per currency and
        its counts repeat on each. ``note`` is added where some lost deals had
        no amount or no close date (with ``period``).

    Raises
    ------
    NotMeasurableError
        When the export has no lost reason column ("this export has no lost
        reason column", never a table of one blank reason), or no deal has
        been lost.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.lost_reasons(data)
    >>> print(table[["lost_reason", "lost", "share", "currency", "lost_value"]].to_string(index=False))
    lost_reason  lost  share currency  lost_value
          Price     1    1.0      USD      4000.5
    """
    top = _check_top(top)
    _require_reason_column(data)
    by = by_columns(data, by)
    f = core(data, by, columns=[fn.IS_LOST, s.LOST_REASON, s.AMOUNT, s.CURRENCY, s.CLOSED_AT])
    lost = f[f[fn.IS_LOST].to_numpy()]
    if not len(lost):
        raise NotMeasurableError("no deal in this data has been lost, so there is no lost reason to count")
    keys = group_keys(lost, by)
    if period:
        keys["period"] = period_labels(lost[s.CLOSED_AT], period, fiscal_year_start=fiscal_year_start)
    groups = list(keys.columns)
    keys[s.LOST_REASON] = _reasons(lost[s.LOST_REASON], top)
    table = keys.assign(
        _one=1, _currency=lost[s.CURRENCY], _amount=lost[s.AMOUNT], _no_amount=lost[s.AMOUNT].isna().astype(int)
    )
    counts = _counts(table, groups)
    # by="currency" already splits by currency
    per_currency = [] if s.CURRENCY in groups else ["_currency"]
    money = (
        table.groupby([*groups, s.LOST_REASON, *per_currency], dropna=False)
        .agg(
            lost_in_currency=("_one", "size"),
            lost_value=("_amount", "sum"),
            _priced=("_amount", "count"),
            _no_amount=("_no_amount", "sum"),
        )  # fmt: skip
        .reset_index()
        .rename(columns={"_currency": s.CURRENCY})
    )
    money["lost_value"] = money["lost_value"].where(money["_priced"] > 0)
    out = counts.merge(money, on=[*groups, s.LOST_REASON], how="left")
    out = _order(out, groups)
    out = _notes(out, period, int(lost[s.CLOSED_AT].isna().sum()))
    columns = [*groups, s.LOST_REASON, "lost", "lost_total", "share", "ci_low", "ci_high", "small_sample",
               *([] if s.CURRENCY in groups else [s.CURRENCY]), "lost_in_currency", "lost_value",
               *([NOTE] if NOTE in out else [])]  # fmt: skip
    return declare(out[columns].reset_index(drop=True), share=Unit.RATE, lost_total=Unit.COUNT,
                   lost_in_currency=Unit.COUNT, lost_value=Unit.MONEY)  # fmt: skip


def _check_top(top) -> int | None:
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ParameterError(f"top must be a whole number of reasons, 1 or more; got {top!r}")
    return int(top)


def _require_reason_column(data: Dataset) -> None:
    """A missing column is not a column of blanks: say the export lacks it rather than count "(no reason given)"."""
    if s.LOST_REASON not in data.opportunities.columns or s.NO_LOST_REASON_COLUMN in data.notes:
        raise NotMeasurableError(
            s.NO_LOST_REASON_COLUMN + " (map the CRM's loss reason field with a mapping file if it has one)",
            missing=(s.LOST_REASON,),
        )


def _reasons(values: pd.Series, top: int | None) -> pd.Series:
    """Each lost deal's reason as written (trimmed); blanks read "(no reason given)"; past ``top``, "Other"."""
    text = values.astype("str").str.strip()
    reasons = text.where(text.ne("") & text.notna(), NO_REASON)
    if top is None:
        return reasons
    counts = reasons[reasons.ne(NO_REASON)].value_counts()
    # most lost deals first; ties by name, so the same data keeps the same reasons
    ranked = counts.rename_axis("reason").reset_index().sort_values(["count", "reason"], ascending=[False, True])
    kept = set(ranked["reason"].head(top))
    return reasons.where(reasons.isin(kept) | reasons.eq(NO_REASON), OTHER)


def _counts(table: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """``lost`` per group and reason, with the group's total, share and Wilson interval."""
    per_reason = table.groupby([*groups, s.LOST_REASON], dropna=False)["_one"].size().rename("lost").reset_index()
    if groups:
        totals = table.groupby(groups, dropna=False)["_one"].size().rename("lost_total").reset_index()
        counts = per_reason.merge(totals, on=groups, how="left")
    else:
        counts = per_reason.assign(lost_total=len(table))
    stats.add_rate(counts, "lost", "lost_total")  # small_sample: fewer than 20 lost deals in the group
    return counts.rename(columns={"rate": "share"})


def _order(out: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Groups and periods in order; within each, the most lost deals first, "Other" and blanks last."""
    last = out[s.LOST_REASON].isin([OTHER, NO_REASON]).astype(int) + out[s.LOST_REASON].eq(NO_REASON).astype(int)
    out = out.assign(_last=last, _neg=-out["lost"])
    return out.sort_values(list(dict.fromkeys([*groups, "_last", "_neg", s.LOST_REASON, s.CURRENCY])), kind="stable")


def _notes(out: pd.DataFrame, period: str | None, undated: int) -> pd.DataFrame:
    notes = pd.Series("", index=out.index, dtype="str")
    priced = out["_no_amount"] > 0
    if priced.any():
        n = out["_no_amount"].astype(int)
        deals = pd.Series(np.where(n == 1, " lost deal", " lost deals"), index=out.index, dtype="str")
        notes = notes.where(~priced, n.map("{:,}".format) + deals + " without an amount, not in lost_value")
    if period and undated:
        undated_rows = out["period"].isna()
        said = f"{undated:,} lost deal{'' if undated == 1 else 's'} without a close date, in no period"
        notes = notes.where(~undated_rows, notes.where(notes.eq(""), notes + "; ") + said)
    if notes.ne("").any():
        out[NOTE] = notes.where(notes.ne(""))
    return out
