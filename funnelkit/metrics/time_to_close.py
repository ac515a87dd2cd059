"""Time to close as a distribution, with open deals censored rather than dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from ..dataset import Dataset
from ..schema import stage_column
from ._common import by_columns, check_choice, core, days_between, group_keys, period_labels


def _start_column(data: Dataset, start: str) -> str:
    """``opportunity``: deal creation; ``lead``: the first stage; or any stage's entry."""
    if start == "opportunity":
        return "opportunity_created_at"
    if start == "lead":
        return stage_column(data.stages.first)
    check_choice("start", start, ("opportunity", "lead", *data.stages.names))
    return stage_column(start)


def default_start(data: Dataset) -> str:
    """Deal creation when the export has it, else the first stage deals have dates for."""
    f = data.funnel
    if f["opportunity_created_at"].notna().any():
        return "opportunity"
    deals = f[f["is_closed"] | f["opportunity_id"].notna()]
    for stage in data.stages.names[:-1]:
        if deals[stage_column(stage)].notna().any():
            return stage
    return "opportunity"


def _durations(data: Dataset, start: str, by=()) -> pd.DataFrame:
    """Per deal: days from start to close (closed) or to as_of (open, censored)."""
    begin_col = _start_column(data, start)
    f = core(data, by)
    has_deal = f["opportunity_created_at"].notna() | f["is_closed"] | f["opportunity_id"].notna()
    frame = f[has_deal & f[begin_col].notna()]
    closed = frame["is_closed"].to_numpy() & frame["closed_at"].notna().to_numpy()
    end = frame["closed_at"].where(closed, data.as_of)
    days = days_between(end, frame[begin_col])
    # a close before the start is a data error: left out (the loader flags such deals)
    valid = (days >= 0).to_numpy()
    frame = frame[valid].assign(_days=days[valid].to_numpy(), _closed=closed[valid], _begin=frame[begin_col][valid])
    return frame


def time_to_close(
    data: Dataset,
    *,
    start: str = "opportunity",
    by=None,
    period: str | None = None,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Median and quartiles of days to close, open deals right-censored at ``data.as_of``.

    Parameters
    ----------
    data : Dataset
    start : str
        Count from opportunity creation (``"opportunity"``, default), from
        lead creation (``"lead"``), or from entry into any named stage (for an
        export without deal creation dates, e.g. ``"engaging"``).
    by : str or list of str, optional
    period : {"W", "M", "Q", "Y"}, optional
        Period of the start date (a cohort of deals).

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``period`` (when asked), ``n`` (deals),
        ``n_closed``, ``n_censored`` (still open), ``median``, ``q25``,
        ``q75`` (Kaplan-Meier, days; NaN when too few deals have closed to
        say), ``closed_median`` (plain median of closed deals only, for
        comparison: it is biased low when many deals are open),
        ``small_sample``.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> print(fk.time_to_close(data)[["n", "n_closed", "n_censored", "closed_median"]].to_string(index=False))
     n  n_closed  n_censored  closed_median
     3         2           1           28.5
    """
    by = by_columns(data, by)
    frame = _durations(data, start, by)
    keys = group_keys(frame, by)
    if period:
        keys["period"] = period_labels(frame["_begin"], period, fiscal_year_start=fiscal_year_start)
    cols = list(keys.columns)
    table = pd.concat([keys, frame[["_days", "_closed"]]], axis=1)
    groups = table.groupby(cols, dropna=False) if cols else [((), table)]
    rows = []
    for key, group in groups:  # one Kaplan-Meier fit per group
        q25, median, q75 = stats.km_quantiles(group["_days"], group["_closed"])
        closed_days = group.loc[group["_closed"], "_days"]
        row = dict(zip(cols, key if isinstance(key, tuple) else (key,), strict=True))
        row.update(
            n=len(group),
            n_closed=int(group["_closed"].sum()),
            n_censored=int((~group["_closed"]).sum()),
            median=median,
            q25=q25,
            q75=q75,
            closed_median=float(closed_days.median()) if len(closed_days) else np.nan,
        )
        rows.append(row)
    out = pd.DataFrame(
        rows,
        columns=[*cols, "n", "n_closed", "n_censored", "median", "q25", "q75", "closed_median"],
    )
    out["small_sample"] = out["n"] < stats.SMALL_N
    return out


def km_curve(data: Dataset, *, start: str = "opportunity", by=None) -> pd.DataFrame:
    """Kaplan-Meier curve of time to close: share of deals still open after ``days``.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``days``, ``survival``, ``n`` (deals in the group).
    """
    by = by_columns(data, by)
    frame = _durations(data, start, by)
    keys = group_keys(frame, by)
    table = pd.concat([keys, frame[["_days", "_closed"]]], axis=1)
    groups = table.groupby(by, dropna=False) if by else [((), table)]
    parts = [pd.DataFrame(columns=[*by, "days", "survival", "n"])]
    for key, group in groups:
        curve = stats.km_curve(group["_days"], group["_closed"])
        for column, value in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
            curve[column] = value
        curve["n"] = len(group)
        parts.append(curve)
    return pd.concat(parts, ignore_index=True)[[*by, "days", "survival", "n"]]


def stage_durations(data: Dataset, *, by=None) -> pd.DataFrame:
    """Days spent in each stage (first entry to the next stage's first entry) and backward moves.

    Read from the stage log (:attr:`Dataset.events`), so only dates an entity
    really has count: a skipped stage (reached without a date of its own) has
    no duration, and neither has the stage before it. A recycled entity counts
    at its first entry of each stage.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``stage``, ``next_stage``, ``n``,
        ``median``, ``q25``, ``q75`` (days), ``backward_moves`` (times a deal
        returned from a later stage to this one, from stage history).

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.stage_durations(data)
    >>> print(table[["stage", "next_stage", "n", "median"]].round(1).to_string(index=False))
          stage  next_stage  n  median
           lead         mql  4     1.0
            mql         sql  2     4.5
            sql opportunity  2     4.0
    opportunity         won  1    34.0
    """
    by = by_columns(data, by)
    f = data.funnel
    entries = _first_entries(data).reindex(f["entity_id"].to_numpy())
    keys = group_keys(f, by).reset_index(drop=True)
    backward = _backward_moves(data)
    parts = []
    names = data.stages.names
    for a, b in zip(names[:-1], names[1:], strict=True):
        days = pd.Series(days_between(entries[b], entries[a]).to_numpy())
        ok = (days >= 0).to_numpy()  # both dates present, in order
        table = keys[ok].assign(_days=days[ok])
        summary = _quartiles(table, by)
        summary.insert(len(by), "next_stage", b)
        summary.insert(len(by), "stage", a)
        summary["backward_moves"] = int(backward.get(a, 0))
        parts.append(summary)
    return pd.concat(parts, ignore_index=True)


def _first_entries(data: Dataset) -> pd.DataFrame:
    """First entry time per funnel entity (rows) and stage (columns), from the stage log.

    An opportunity's entries belong to the lead it came from, so the lead's
    SQL date and its opportunity's creation sit on one row.
    """
    names = list(data.stages.names)
    ev = data.events
    ev = ev[ev["stage"].isin(names)]
    f = data.funnel
    paired = f[f["opportunity_id"].notna()]
    entity_of_opportunity = pd.Series(paired["entity_id"].to_numpy(), index=paired["opportunity_id"].to_numpy())
    from_opportunity = (ev["entity"] == "opportunity").to_numpy()
    entity = np.where(from_opportunity, ev["entity_id"].map(entity_of_opportunity), ev["entity_id"])
    first = ev.assign(entity_id=entity).groupby(["entity_id", "stage"])["at"].min().unstack("stage")
    return first.reindex(columns=names)


def _quartiles(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``n``, ``median``, ``q25``, ``q75`` of ``_days`` per ``by`` group (one row without ``by``)."""
    if by:
        grouped = table.groupby(by, dropna=False)["_days"]
        return grouped.agg(
            n="size", median="median", q25=lambda d: d.quantile(0.25), q75=lambda d: d.quantile(0.75)
        ).reset_index()
    d = table["_days"]
    return pd.DataFrame({"n": [len(d)], "median": [d.median()], "q25": [d.quantile(0.25)], "q75": [d.quantile(0.75)]})


def _backward_moves(data: Dataset) -> pd.Series:
    """Count of returns to each stage from a later one, from stage history events."""
    ev = data.history
    ev = ev[ev["stage"].isin(data.stages.names)]
    if ev.empty:
        return pd.Series(dtype="int64")
    position = {name: i for i, name in enumerate(data.stages.names)}
    ev = ev.sort_values(["entity_id", "at"], kind="stable")
    index = ev["stage"].map(position).to_numpy()
    same = ev["entity_id"].to_numpy()[1:] == ev["entity_id"].to_numpy()[:-1]
    back = np.concatenate([[False], same & (index[1:] < index[:-1])])
    return ev.loc[back, "stage"].value_counts()
