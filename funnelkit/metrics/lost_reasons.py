"""Where we lose deals: lost deals by the reason the CRM gives, with their value and trend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import schema as s
from .. import stats
from ..dataset import Dataset
from ..errors import NotMeasurableError, ParameterError
from ..units import Unit, declare
from ._common import core, group_keys, period_labels
from ._engines import runs_on_engines

#: the reason shown for a lost deal whose reason cell is blank (the export has the column)
NO_REASON = "(no reason given)"
#: the reasons past the ``top`` most frequent, together
OTHER = "Other"
NOTE = "note"


@runs_on_engines
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
    p = params.check(data, by=by, period=period, fiscal_year_start=fiscal_year_start)
    by, period, fiscal_year_start = p.by, p.period, p.fiscal_year_start
    top = _check_top(top)
    _require_reason_column(data)
    f = core(data, by, columns=[fn.IS_LOST, fn.LOST_REASON, fn.AMOUNT, fn.CURRENCY, fn.CLOSED_AT])
    lost = f[f[fn.IS_LOST].to_numpy()]
    if not len(lost):
        raise NotMeasurableError("no deal in this data has been lost, so there is no lost reason to count")
    keys = group_keys(lost, by)
    if period:
        keys["period"] = period_labels(lost[fn.CLOSED_AT], period, fiscal_year_start=fiscal_year_start)
    groups = list(keys.columns)
    table = keys.assign(
        **{fn.LOST_REASON: _reasons(lost[fn.LOST_REASON])},
        _currency=lost[fn.CURRENCY],
        _amount=lost[fn.AMOUNT],
        _no_amount=lost[fn.AMOUNT].isna().astype(int),
    )
    counts = (
        table.groupby([*groups, fn.LOST_REASON, "_currency"], dropna=False)
        .agg(n=("_no_amount", "size"), value=("_amount", "sum"), _priced=("_amount", "count"),
             _no_amount=("_no_amount", "sum"))
        .reset_index()
    )  # fmt: skip
    return reasons_table(counts, groups, top=top, period=period, undated=int(lost[fn.CLOSED_AT].isna().sum()))


def reasons_table(counts: pd.DataFrame, groups: list[str], *, top, period, undated: int) -> pd.DataFrame:
    """:func:`lost_reasons`' table from lost deals counted per group, reason and currency.

    ``counts`` has the ``groups`` columns, ``lost_reason`` (trimmed; blanks
    read "(no reason given)"), ``_currency``, ``n`` (lost deals), ``value``
    (their amount), ``_priced`` and ``_no_amount`` (how many have an amount,
    how many not): small enough to come back from an engine.
    """
    if top is not None:
        counts = counts.assign(**{fn.LOST_REASON: _top_reasons(counts, top)})
    per_reason = counts.groupby([*groups, fn.LOST_REASON], dropna=False)["n"].sum().rename("lost").reset_index()
    if groups:
        totals = counts.groupby(groups, dropna=False)["n"].sum().rename("lost_total").reset_index()
        per_reason = per_reason.merge(totals, on=groups, how="left")
    else:
        per_reason = per_reason.assign(lost_total=int(counts["n"].sum()))
    stats.add_rate(per_reason, "lost", "lost_total")  # small_sample: fewer than 20 lost deals in the group
    per_reason = per_reason.rename(columns={"rate": "share"})
    # by="currency" already splits by currency
    per_currency = [] if fn.CURRENCY in groups else ["_currency"]
    money = (
        counts.groupby([*groups, fn.LOST_REASON, *per_currency], dropna=False)
        .agg(lost_in_currency=("n", "sum"), lost_value=("value", "sum"), _priced=("_priced", "sum"),
             _no_amount=("_no_amount", "sum"))
        .reset_index()
        .rename(columns={"_currency": fn.CURRENCY})
    )  # fmt: skip
    money["lost_value"] = money["lost_value"].where(money["_priced"] > 0)
    out = per_reason.merge(money, on=[*groups, fn.LOST_REASON], how="left")
    out = _order(out, groups)
    out = _notes(out, period, undated)
    columns = [*groups, fn.LOST_REASON, "lost", "lost_total", "share", "ci_low", "ci_high", "small_sample",
               *([] if fn.CURRENCY in groups else [fn.CURRENCY]), "lost_in_currency", "lost_value",
               *([NOTE] if NOTE in out else [])]  # fmt: skip
    return declare(out[columns].reset_index(drop=True), lost=Unit.COUNT, share=Unit.RATE, lost_total=Unit.COUNT,
                   ci_low=Unit.RATE, ci_high=Unit.RATE, lost_in_currency=Unit.COUNT, lost_value=Unit.MONEY)  # fmt: skip


def _check_top(top) -> int | None:
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ParameterError(f"top must be a whole number of reasons, 1 or more; got {top!r}")
    return int(top)


def _require_reason_column(data: Dataset) -> None:
    """A missing column is not a column of blanks: say the export lacks it rather than count "(no reason given)"."""
    if fn.LOST_REASON not in data.opportunities.columns or s.NO_LOST_REASON_COLUMN in data.notes:
        raise NotMeasurableError(
            s.NO_LOST_REASON_COLUMN + " (map the CRM's loss reason field with a mapping file if it has one)",
            missing=(fn.LOST_REASON,),
        )


def _reasons(values: pd.Series) -> pd.Series:
    """Each lost deal's reason as written (trimmed); blanks read "(no reason given)"."""
    text = values.astype("str").str.strip()
    return text.where(text.ne("") & text.notna(), NO_REASON)


def _top_reasons(counts: pd.DataFrame, top: int) -> pd.Series:
    """``counts``' reasons with those past the ``top`` most frequent (over every group) read "Other"."""
    reasons = counts[fn.LOST_REASON]
    named = counts[reasons.ne(NO_REASON).to_numpy()]
    totals = named.groupby(fn.LOST_REASON)["n"].sum().rename("count")
    # most lost deals first; ties by name, so the same data keeps the same reasons
    ranked = totals.rename_axis("reason").reset_index().sort_values(["count", "reason"], ascending=[False, True])
    kept = set(ranked["reason"].head(top))
    return reasons.where(reasons.isin(kept) | reasons.eq(NO_REASON), OTHER)


def _order(out: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Groups and periods in order; within each, the most lost deals first, "Other" and blanks last."""
    last = out[fn.LOST_REASON].isin([OTHER, NO_REASON]).astype(int) + out[fn.LOST_REASON].eq(NO_REASON).astype(int)
    out = out.assign(_last=last, _neg=-out["lost"])
    return out.sort_values(list(dict.fromkeys([*groups, "_last", "_neg", fn.LOST_REASON, fn.CURRENCY])), kind="stable")


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
