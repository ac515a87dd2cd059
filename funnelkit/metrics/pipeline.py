"""Open pipeline: what is open at each stage, how old it is, what has stalled, and whether it covers the target.

An open deal is an opportunity that has not closed (won or lost). Its stage is
the furthest stage it has reached (a deal that moved back counts where it got
to). A stage's **stall line** is the 75th percentile of the days deals spent
in it before they entered the next stage, among the deals that did move on
(read from the stage log, so a stage a deal skipped gives no duration); an
open deal that has been in its stage longer than that has **stalled**.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _params as params
from .. import funnel as fn
from .. import schema as s
from .._arrow import labels, positions
from ..dataset import Dataset
from ..errors import NotMeasurableError, ParameterError
from ..i18n import _, ngettext
from ..stats import SMALL_N
from ..units import Unit, declare, format_number
from ._common import core, days_between, group_keys
from ._engines import runs_on_engines
from .time_to_close import _first_entries

#: column that says, on the rows that could not be measured in full, why
NOTE = "note"
#: weighted coverage at or above this reads "covered": the open pipeline, weighted by stage win rates, fills the gap
COVERED_AT = 1.0
#: weighted coverage at or above this (and below :data:`COVERED_AT`) reads "at risk"; below it, "short"
AT_RISK_AT = 0.75
NO_CREATED_DATE = "no opportunity created date"

#: units of :func:`pipeline`'s columns (the engine's pipeline declares the same)
PIPELINE_UNITS = {
    "open": Unit.COUNT, "open_value": Unit.MONEY, "stalled": Unit.COUNT, "median_age_days": Unit.DAYS,
    "q75_age_days": Unit.DAYS, "stall_line_days": Unit.DAYS, "stalled_value": Unit.MONEY,
}  # fmt: skip
#: units of :func:`stalled_deals`' columns (the engine's declares the same)
STALLED_UNITS = {
    "age_days": Unit.DAYS, "stage_entered_at": Unit.TIMESTAMP, fn.AMOUNT: Unit.MONEY, "days_in_stage": Unit.DAYS,
    "stall_line_days": Unit.DAYS, "days_over": Unit.DAYS,
}  # fmt: skip


@runs_on_engines
def pipeline(data: Dataset, *, by=None, as_of=None) -> pd.DataFrame:
    """Open deals by current stage: how many, their amount per currency, their age and what has stalled.

    Parameters
    ----------
    data : Dataset
    by : str or list of str, optional
        Funnel columns to break down by (``owner``, ``source``, a segment).
    as_of : date-like, optional
        The moment ages are measured at; default ``data.as_of``. It cannot be
        earlier than ``data.as_of``: the export shows the deals as they are
        then, not which were open before.

    Returns
    -------
    pandas.DataFrame
        One row per ``by`` group, stage (funnel order) and currency: amounts
        are never summed across currencies. Columns: the ``by`` columns,
        ``stage``, ``currency``, ``open`` (open deals), ``open_value`` (their
        amount), ``median_age_days`` and ``q75_age_days`` (days since the
        opportunity was created; NaN without an opportunity created date),
        ``stall_line_days`` (the stage's stall line, over all deals, not per
        group; NaN when no deal has moved on from the stage with dates for
        both stages), ``stalled`` (open deals in the stage for longer than its
        stall line; empty when there is no stall line) and ``stalled_value``
        (their amount). ``note`` is added when some row could not be measured
        in full: "no opportunity created date", no stall line, deals without
        a date for entering their stage or without an amount.

    Raises
    ------
    NotMeasurableError
        When the data holds no open deal.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> table = fk.pipeline(data)
    >>> print(table[["stage", "currency", "open", "open_value", "median_age_days"]].to_string(index=False))
          stage currency  open  open_value  median_age_days
    opportunity      USD     1      8000.0             10.0
    """
    by = params.check(data, by=by).by
    as_of = _as_of(data, as_of)
    deals, measures = _open_deals(data, by, as_of)
    if not len(deals):
        raise _no_open_deals(data)
    lines = _stall_lines(data)
    measures = _judge(measures, lines)
    # the deal's own owner and source are for the list of stalled deals; by= brings its own keys
    measures = measures.drop(columns=[c for c in measures if c in (fn.OWNER, fn.SOURCE, *by)])
    table = pd.concat([group_keys(deals, by), measures], axis=1)
    cols = list(dict.fromkeys([*by, s.STAGE, fn.CURRENCY]))
    grouped = table.groupby(cols, dropna=False, sort=False)
    out = grouped.agg(
        open=(fn.OPPORTUNITY_ID, "size"),
        open_value=(fn.AMOUNT, "sum"),
        _with_amount=(fn.AMOUNT, "count"),
        _without_amount=("_no_amount", "sum"),
        median_age_days=("age_days", "median"),
        _dated=("age_days", "count"),
        stalled=("_stalled", "sum"),
        _judged=("_judged", "sum"),
        stalled_value=("_stalled_value", "sum"),
        _stalled_with_amount=("_stalled_value", "count"),
    )
    out.insert(out.columns.get_loc("median_age_days") + 1, "q75_age_days", grouped["age_days"].quantile(0.75))
    out = out.reset_index()
    out["stall_line_days"] = out[s.STAGE].map(lines.set_index(s.STAGE)["stall_line_days"]).astype(float)
    return declare(_finish_pipeline(out, lines, by), **PIPELINE_UNITS)


@runs_on_engines
def stalled_deals(data: Dataset, *, stage: str | None = None) -> pd.DataFrame:
    """The open deals past their stage's stall line: which deals stalled where (a drop-off list).

    Parameters
    ----------
    data : Dataset
    stage : str, optional
        Only deals at this stage (a stage from the opportunity stage on, before won).

    Returns
    -------
    pandas.DataFrame
        One row per stalled deal, longest over its line first within each
        stage (funnel order). Columns: ``opportunity_id``, ``owner``,
        ``source``, ``stage``, ``amount``, ``currency``, ``age_days`` (since
        the opportunity was created; NaN without a created date),
        ``stage_entered_at``, ``days_in_stage`` (what is compared to the
        line), ``stall_line_days``, ``days_over`` (days past the line). Ready
        for :func:`funnelkit.to_csv_safe`. Empty when no deal has stalled.

    Raises
    ------
    NotMeasurableError
        When no stage (or not ``stage``) has a stall line: no deal has moved
        on from it with dates for both stages.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)
    >>> len(fk.stalled_deals(data))  # one open deal, 10 days old; the stall line is 34 days
    0
    """
    params.check(data)
    lines = _stall_lines(data)
    if stage is not None:
        stage = _check_open_stage(data, stage)
        lines = lines[lines[s.STAGE] == stage]
    measured = lines.dropna(subset=["stall_line_days"])
    if not len(measured):
        raise _no_stall_line(data, lines)
    _, measures = _open_deals(data, [], data.as_of)
    measures = _judge(measures, lines)
    stalled = measures[measures["_stalled"].eq(1).to_numpy()]
    out = stalled.assign(days_over=stalled["days_in_stage"] - stalled["stall_line_days"])
    out = out.assign(_order=positions(out[s.STAGE], pd.Series(data.stages.names, dtype="str")))
    # ties by deal id, so the order does not depend on the rows' order (an engine's rows have none)
    out = out.sort_values(["_order", "days_over", fn.OPPORTUNITY_ID], ascending=[True, False, True], kind="stable")
    columns = [fn.OPPORTUNITY_ID, fn.OWNER, fn.SOURCE, s.STAGE, fn.AMOUNT, fn.CURRENCY, "age_days", "stage_entered_at",
               "days_in_stage", "stall_line_days", "days_over"]  # fmt: skip
    return declare(out[columns].reset_index(drop=True), **STALLED_UNITS)


@runs_on_engines
def coverage(data: Dataset, *, target, period_end, period_start=None, currency: str | None = None) -> pd.DataFrame:
    """Are we on track? What is left to win this period against the open pipeline weighted by stage win rates.

    Parameters
    ----------
    data : Dataset
    target : float
        The period's revenue target (quota), in ``currency``.
    period_end : date-like
        The period's last day (``"2025-06-30"``; the period runs to the end
        of that day, UTC).
    period_start : date-like, optional
        The period's first day; default three months before the day after
        ``period_end`` (a quarter: ``period_end="2025-06-30"`` gives
        2025-04-01).
    currency : str, optional
        Needed when the won or open deals are in several currencies: money is
        compared in one currency only, and deals in others are left out.

    Returns
    -------
    pandas.DataFrame
        One row. Columns: ``period_start``, ``period_end`` (the last day),
        ``as_of`` (``data.as_of``), ``days_left``, ``currency``, ``target``,
        ``won_deals`` and ``won_revenue`` (won deals closed in the period by
        ``as_of``), ``attainment`` (won revenue / target), ``left_to_win``
        (target - won revenue, at least 0), ``open`` and ``open_value`` (open
        deals counted: with expected close dates in the export, those
        expected by the period's end), ``weighted_pipeline`` (each open deal's
        amount times the win rate of closed deals that reached its stage),
        ``coverage`` (weighted pipeline / left to win), ``verdict`` and
        ``note``. The verdict is "covered" (coverage at least
        :data:`COVERED_AT`, or the target already won), "at risk" (at least
        :data:`AT_RISK_AT`), "short", or "period ended" once ``as_of`` is past
        the period: then won revenue is final, and ``left_to_win``, ``open``,
        the pipeline and ``coverage`` are empty (an ended quarter has nothing
        "to go"). When deals are open but none has an amount (Maven's open
        deals), the pipeline's value is unknown: it and ``coverage`` are
        empty and the verdict is "not measurable".

    Raises
    ------
    ParameterError
        For a target that is not a positive number, a bad date, several
        currencies without ``currency=``, or a currency the deals do not use.
    NotMeasurableError
        When the period is in progress, deals are open, and no deal has
        closed to give a stage win rate.

    Examples
    --------
    >>> import funnelkit as fk
    >>> data = fk.load("tests/data/salesforce_report", cache=False)  # as of 2025-03-20
    >>> table = fk.coverage(data, target=20_000, period_start="2025-01-01", period_end="2025-06-30")
    >>> print(table[["won_revenue", "left_to_win", "weighted_pipeline", "coverage", "verdict"]].to_string(index=False))
     won_revenue  left_to_win  weighted_pipeline  coverage verdict
         12345.0       7655.0             4000.0  0.522534   short
    """
    params.check(data)
    target = _positive_number(target, "target")
    start, end = _period(period_start, period_end)
    notes: list[str] = []
    f = core(data, columns=[fn.IS_WON, fn.CLOSED_AT, fn.AMOUNT, fn.CURRENCY])
    won = f[(f[fn.IS_WON] & (f[fn.CLOSED_AT] >= start) & (f[fn.CLOSED_AT] < end)).to_numpy()]
    _, measures = _open_deals(data, [], data.as_of)
    measures = measures.iloc[:0] if data.as_of >= end else _expected_in_period(data, measures, end, notes)
    return coverage_table(
        money_counts(won, []),
        money_counts(measures, [s.STAGE]),
        target=target,
        start=start,
        end=end,
        as_of=data.as_of,
        currency=currency,
        notes=notes,
        stage_win_rates=lambda: _stage_win_rates(data),
    )


def money_counts(deals: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Deals per ``keys``, currency and ``_priced`` (has an amount): ``deals`` and ``value`` (their amount)."""
    frame = deals[[*keys, fn.CURRENCY]].assign(_priced=deals[fn.AMOUNT].notna().to_numpy(), _amount=deals[fn.AMOUNT])
    grouped = frame.groupby([*keys, fn.CURRENCY, "_priced"], dropna=False)
    return grouped.agg(deals=("_priced", "size"), value=("_amount", "sum")).reset_index()


def coverage_table(
    won: pd.DataFrame,
    open_: pd.DataFrame,
    *,
    target: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    as_of: pd.Timestamp,
    currency,
    notes: list[str],
    stage_win_rates,
) -> pd.DataFrame:
    """:func:`coverage`'s row from the won deals in the period and the open deals that can close in it.

    ``won`` (per currency and ``_priced``) and ``open_`` (per stage, currency
    and ``_priced``) are :func:`money_counts` tables, so the engine's
    coverage builds them in the engine; ``stage_win_rates`` is called only
    when there are open deals to weigh (see :func:`_stage_win_rates`).
    """
    ended = as_of >= end
    chosen = _one_currency(won, open_, currency, notes)
    won, open_ = _in_currency(won, chosen), _in_currency(open_, chosen)
    won_revenue = float(won["value"].sum())
    _note_missing_amounts(int(won.loc[~won["_priced"].astype(bool), "deals"].sum()), "won", notes)
    row = {
        "period_start": start,
        "period_end": end - pd.Timedelta(days=1),
        "as_of": as_of,
        "days_left": max((end - as_of) / pd.Timedelta(days=1), 0.0),
        fn.CURRENCY: chosen,
        "target": target,
        "won_deals": int(won["deals"].sum()),
        "won_revenue": won_revenue,
        "attainment": won_revenue / target,
    }
    if ended:
        notes.insert(0, f"the period ended on {row['period_end']:%Y-%m-%d}: won revenue is final")
        row.update(left_to_win=np.nan, open=pd.NA, open_value=np.nan, weighted_pipeline=np.nan, coverage=np.nan)
        row["verdict"] = "period ended"
    else:
        if as_of < start:
            notes.append(f"the period starts on {start:%Y-%m-%d}, after as_of ({as_of:%Y-%m-%d})")
        left = max(target - won_revenue, 0.0)
        weighted = _weighted(open_, notes, stage_win_rates)
        n_open = int(open_["deals"].sum())
        priced = bool(open_["_priced"].astype(bool).any()) or not n_open
        row.update(left_to_win=left, open=n_open, open_value=float(open_["value"].sum()))
        row.update(weighted_pipeline=weighted, coverage=weighted / left if left > 0 else np.nan)
        row["verdict"] = _verdict(row["coverage"], left)
        if not priced:  # open deals, none with an amount: the pipeline's value is unknown, not 0
            notes.append(f"none of the {_deals(n_open, 'open')} has an amount: the pipeline's value is unknown")
            row.update(open_value=np.nan, weighted_pipeline=np.nan, coverage=np.nan)
            row["verdict"] = "covered" if left == 0 else "not measurable"
        if left == 0:
            notes.append("the target is already won")
    row[NOTE] = "; ".join(notes) if notes else pd.NA
    out = pd.DataFrame([row]).astype({NOTE: "str", "open": "Int64", "won_deals": "int64"})
    return declare(
        out,
        period_start=Unit.TIMESTAMP,
        period_end=Unit.TIMESTAMP,
        as_of=Unit.TIMESTAMP,
        days_left=Unit.DAYS,
        target=Unit.MONEY,
        won_deals=Unit.COUNT,
        won_revenue=Unit.MONEY,
        open=Unit.COUNT,
        open_value=Unit.MONEY,
        attainment=Unit.RATE,
        left_to_win=Unit.MONEY,
        weighted_pipeline=Unit.MONEY,
        coverage=Unit.RATE,
    )


# ---- open deals --------------------------------------------------------------------------------------------


def _as_of(data: Dataset, as_of) -> pd.Timestamp:
    if as_of is None:
        return data.as_of
    moment = params.date(as_of, name="as_of")
    if moment < data.as_of:
        raise ParameterError(
            f"as_of={as_of!r} is before the data's as_of ({data.as_of:%Y-%m-%d}): the export shows deals as they "
            "are at its as_of, not which were open earlier; give a later as_of or none"
        )
    return moment


def _open_deals(data: Dataset, by: list[str], as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The open deals' funnel rows and, per deal, its stage, amount, currency, age and days in its stage."""
    names, stage_cols = data.stages.names, data.stages.columns
    wanted = [fn.OPPORTUNITY_ID, fn.OWNER, fn.SOURCE, fn.FURTHEST_INDEX, fn.IS_CLOSED, fn.AMOUNT, fn.CURRENCY,
              fn.OPPORTUNITY_CREATED_AT, *stage_cols]  # fmt: skip
    f = core(data, by, columns=wanted)
    deals = f[f[fn.OPPORTUNITY_ID].notna().to_numpy() & ~f[fn.IS_CLOSED].to_numpy()]
    at = deals[fn.FURTHEST_INDEX].to_numpy()
    times = np.column_stack([deals[c].to_numpy(dtype="datetime64[ns]") for c in stage_cols])
    entered = pd.Series(times[np.arange(len(deals)), at], index=deals.index).dt.tz_localize("UTC")
    now = pd.Series(as_of, index=deals.index)
    measures = pd.DataFrame(
        {
            fn.OPPORTUNITY_ID: deals[fn.OPPORTUNITY_ID],
            fn.OWNER: deals[fn.OWNER],
            fn.SOURCE: deals[fn.SOURCE],
            s.STAGE: labels(at, names, deals.index),
            fn.AMOUNT: deals[fn.AMOUNT],
            fn.CURRENCY: deals[fn.CURRENCY],
            "age_days": days_between(now, deals[fn.OPPORTUNITY_CREATED_AT]),
            "stage_entered_at": entered,
            "days_in_stage": days_between(now, entered),
        }
    )
    return deals, measures


def _stall_lines(data: Dataset) -> pd.DataFrame:
    """Per stage where deals stay open: ``stage``, ``next_stage``, ``moved_on``, ``stall_line_days``.

    Days from a deal's first entry into the stage to its first entry into the
    next, from the stage log: only dates a deal really has count, so a stage
    it skipped (reached without a date of its own) gives no duration.
    """
    names = data.stages.names
    first = names.index(data.stages.opportunity)
    entries = _first_entries(data)
    rows = []
    undated = pd.Series(pd.NaT, index=entries.index, dtype=s.TIMESTAMP)  # a stage no event dates (Maven's prospecting)
    for stage, later in zip(names[first:-1], names[first + 1 :], strict=True):
        a, b = (entries[x] if isinstance(entries[x].dtype, pd.DatetimeTZDtype) else undated for x in (stage, later))
        days = days_between(b, a).dropna()
        days = days[days >= 0]  # a later entry dated before the earlier one is a data error: left out
        line = float(days.quantile(0.75)) if len(days) else np.nan
        rows.append({s.STAGE: stage, "next_stage": later, "moved_on": len(days), "stall_line_days": line})
    return pd.DataFrame(rows, columns=[s.STAGE, "next_stage", "moved_on", "stall_line_days"])


def _judge(measures: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Each open deal against its stage's stall line: ``_stalled`` 1/0, NaN where it cannot be judged."""
    line = measures[s.STAGE].map(lines.set_index(s.STAGE)["stall_line_days"]).astype(float)
    days = measures["days_in_stage"]
    judged = line.notna() & days.notna()
    stalled = (days > line).astype(float).where(judged)
    return measures.assign(
        stall_line_days=line,
        _judged=judged.astype(int),
        _stalled=stalled,
        _stalled_value=measures[fn.AMOUNT].where(stalled.eq(1)),
        _no_amount=measures[fn.AMOUNT].isna().astype(int),
    )


def _finish_pipeline(out: pd.DataFrame, lines: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Empty what could not be measured, say why in ``note``, and order the rows by stage."""
    out["open_value"] = out["open_value"].where(out["_with_amount"] > 0)
    judged = out["_judged"].to_numpy() > 0
    n_stalled = out["stalled"].to_numpy(dtype=float)
    # no stalled deal is 0 of money; stalled deals none of which has an amount are an unknown amount
    value = np.where(out["_stalled_with_amount"] > 0, out["stalled_value"], np.where(n_stalled > 0, np.nan, 0.0))
    out["stalled_value"] = np.where(judged, value, np.nan)
    out["stalled"] = pd.array(np.where(judged, np.round(n_stalled), np.nan), dtype="Int64")
    # one note per stage and group, not per deal
    notes = [_row_note(row, lines) for row in out.to_dict("records")]
    if any(notes):
        out[NOTE] = pd.Series([n or pd.NA for n in notes], index=out.index, dtype="str")
    order = {name: i for i, name in enumerate(lines[s.STAGE])}
    keys = list(dict.fromkeys([*by, "_order", fn.CURRENCY]))
    out = out.assign(_order=out[s.STAGE].map(order)).sort_values(keys, kind="stable")
    measured = ["open", "open_value", "median_age_days", "q75_age_days", "stall_line_days", "stalled", "stalled_value"]
    columns = [*dict.fromkeys([*by, s.STAGE, fn.CURRENCY]), *measured, *([NOTE] if NOTE in out else [])]
    return out[columns].reset_index(drop=True)


def _row_note(row: dict, lines: pd.DataFrame) -> str:
    said = []
    n, dated, judged = row["open"], row["_dated"], row["_judged"]
    if dated == 0:
        said.append(NO_CREATED_DATE + ": age not measurable")
    elif dated < n:
        said.append(f"{_deals(n - dated)} without an opportunity created date left out of the age")
    stage = row[s.STAGE]
    if np.isnan(row["stall_line_days"]):
        later = lines.set_index(s.STAGE).loc[stage, "next_stage"]
        said.append(f"no stall line: no deal has moved on from {stage} to {later} with a date for both")
    elif judged < n:
        said.append(f"{_deals(n - judged)} without a date for entering {stage}: not judged as stalled")
    if row["_without_amount"]:
        said.append(f"{_deals(int(row['_without_amount']))} without an amount")
    return "; ".join(said)


def _deals(n: int, kind: str = "") -> str:
    """``_deals(1)`` -> "1 deal"; ``_deals(2_089, "open")`` -> "2,089 open deals"."""
    noun = f"{kind} deal" if kind else "deal"
    return f"1 {noun}" if n == 1 else f"{n:,} {noun}s"


def _check_open_stage(data: Dataset, stage: str) -> str:
    names = data.stages.names
    open_stages = names[names.index(data.stages.opportunity) : -1]
    # any stage of the funnel reads as itself ("Won" is won), then must be one where deals stay open
    stage = params.stage(data, stage)
    if stage not in open_stages:
        raise ParameterError(
            f"stage must be one of {list(open_stages)}, the stages where deals stay open; got {stage!r}"
            f"{params.did_you_mean(stage, open_stages)}"
        )
    return stage


def _no_open_deals(data: Dataset) -> NotMeasurableError:
    if not len(data.opportunities):
        return NotMeasurableError(
            "the pipeline is the open deals, and this export has no deals: load the opportunities export too",
            missing=("opportunities",),
        )
    return NotMeasurableError(
        f"the pipeline is the open deals, and every deal of this export ({_deals(len(data.opportunities))}) has closed",
        missing=(fn.IS_CLOSED,),
    )


def _no_stall_line(data: Dataset, lines: pd.DataFrame) -> NotMeasurableError:
    pairs = ", ".join(f"{a} to {b}" for a, b in zip(lines[s.STAGE], lines["next_stage"], strict=True))
    return NotMeasurableError(
        f"no stall line: no deal has moved on ({pairs}) with a date for entering both stages, so no open deal "
        "can be called stalled",
        missing=[s.stage_column(stage) for stage in lines[s.STAGE]],
    )


# ---- coverage ----------------------------------------------------------------------------------------------


def _positive_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a positive number of money; got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a positive number of money; got {value!r}")
    return float(value)


def _date(value, name: str) -> pd.Timestamp:
    """A day, read as the vocabulary reads dates (year-month-day text, never guessed)."""
    moment = params.date(value, name=name)
    if moment is None:
        raise ParameterError(f"{name} must be a date such as '2025-06-30'; got None")
    return moment.normalize()


def _period(period_start, period_end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` in UTC: ``end`` is the midnight after the period's last day."""
    end = _date(period_end, "period_end") + pd.Timedelta(days=1)
    start = end - pd.DateOffset(months=3) if period_start is None else _date(period_start, "period_start")
    if start >= end:
        raise ParameterError(f"period_start ({start:%Y-%m-%d}) must come before period_end ({period_end!r})")
    return start, end


def _expected_in_period(data: Dataset, measures: pd.DataFrame, end: pd.Timestamp, notes: list[str]) -> pd.DataFrame:
    """Open deals that can close in the period: without expected close dates in the export, all of them."""
    opps = data.opportunities
    if s.EXPECTED_CLOSE_AT not in opps or not opps[s.EXPECTED_CLOSE_AT].notna().any():
        note_expected(notes, open_deals=len(measures), dated=False, later=0)
        return measures
    at = positions(measures[fn.OPPORTUNITY_ID], opps[fn.OPPORTUNITY_ID])
    expected = opps[s.EXPECTED_CLOSE_AT].reset_index(drop=True).reindex(at)  # -1 (not found): no date
    later = (expected >= end).to_numpy()
    note_expected(notes, open_deals=len(measures), dated=True, later=int(later.sum()))
    return measures[~later]


def note_expected(notes: list[str], *, open_deals: int, dated: bool, later: int) -> None:
    """Say which open deals coverage counts: all (no expected close dates), or not those expected later."""
    if not dated:
        if open_deals:
            notes.append(_("every open deal counted: the export has no expected close dates"))
        return
    if later:
        notes.append(
            ngettext(
                "{count} deal expected to close after the period left out of the pipeline",
                "{count} deals expected to close after the period left out of the pipeline",
                later,
            ).format(count=format_number(later))
        )


def _one_currency(won: pd.DataFrame, open_: pd.DataFrame, currency, notes: list[str]) -> str | None:
    """The one currency money is compared in: the deals' only one, or ``currency``; notes the deals left out.

    ``won`` and ``open_`` are :func:`money_counts` tables (deals per currency and whether they have an amount).
    """
    every = pd.concat([won[[fn.CURRENCY, "_priced", "deals"]], open_[[fn.CURRENCY, "_priced", "deals"]]])
    money = every[every["_priced"].astype(bool).to_numpy()]  # a deal without an amount has no money in any currency
    present = sorted(set(money.loc[money["deals"] > 0, fn.CURRENCY].dropna()))
    if currency is None:
        if len(present) > 1:
            raise ParameterError(
                f"coverage compares money in one currency, and these deals are in {', '.join(present)}: "
                f"give currency=, e.g. currency={present[0]!r} (deals in other currencies are then left out)"
            )
        chosen = present[0] if present else None
    else:
        chosen = str(currency).strip().upper()
        if chosen not in present:
            raise ParameterError(f"currency={currency!r}: the won and open deals are in {present or 'no currency'}")
    others = int(every.loc[(every[fn.CURRENCY].notna() & every[fn.CURRENCY].ne(chosen)).to_numpy(), "deals"].sum())
    unset = int(money.loc[money[fn.CURRENCY].isna().to_numpy(), "deals"].sum()) if chosen is not None else 0
    if others:
        notes.append(f"{_deals(others)} in other currencies left out")
    if unset:
        notes.append(f"{_deals(unset)} with an amount but no currency left out")
    return chosen


def _in_currency(frame: pd.DataFrame, currency: str | None) -> pd.DataFrame:
    """The deals in ``currency``, and those with neither an amount nor a currency (deals, with no money)."""
    if currency is None:  # the export gives no currency at all: every deal, in its one unnamed currency
        return frame
    unpriced = ~frame["_priced"].astype(bool).to_numpy() & frame[fn.CURRENCY].isna().to_numpy()
    return frame[frame[fn.CURRENCY].eq(currency).fillna(False).to_numpy(dtype=bool) | unpriced]


def _note_missing_amounts(n: int, kind: str, notes: list[str]) -> None:
    if n:
        notes.append(f"{_deals(n, kind)} without an amount, not counted in the money")


def _stage_win_rates(data: Dataset) -> pd.DataFrame:
    """Per stage where deals stay open: of the closed deals that reached it, the share won.

    Returns
    -------
    pandas.DataFrame
        Columns: ``stage``, ``won``, ``closed``, ``win_rate``.
    """
    names = data.stages.names
    f = core(data, columns=[fn.ENTRY_INDEX, fn.FURTHEST_INDEX, fn.IS_CLOSED, fn.IS_WON])
    rows = []
    for stage in names[names.index(data.stages.opportunity) : -1]:
        closed = data.reached(stage).to_numpy() & f[fn.IS_CLOSED].to_numpy()
        won = int((closed & f[fn.IS_WON].to_numpy()).sum())
        rows.append({s.STAGE: stage, "won": won, "closed": int(closed.sum())})
    table = pd.DataFrame(rows, columns=[s.STAGE, "won", "closed"])
    table["win_rate"] = (table["won"] / table["closed"].where(table["closed"] > 0)).astype(float)
    return table


def _weighted(open_: pd.DataFrame, notes: list[str], stage_win_rates) -> float:
    """Sum of each open deal's amount times its stage's win rate (deals at a stage without one left out, noted).

    ``open_`` is a :func:`money_counts` table per stage; ``stage_win_rates`` gives :func:`_stage_win_rates`.
    """
    if not int(open_["deals"].sum()):
        return 0.0
    rates = stage_win_rates().set_index(s.STAGE)
    rate = open_[s.STAGE].map(rates["win_rate"]).astype(float)
    if rate.isna().all():
        raise NotMeasurableError(
            "coverage weights each open deal by the win rate of its stage, and no deal has closed yet",
            missing=(fn.IS_CLOSED,),
        )
    unrated = rate.isna().to_numpy()
    if unrated.any():
        stages = ", ".join(sorted(set(open_.loc[unrated, s.STAGE])))
        notes.append(
            f"{_deals(int(open_.loc[unrated, 'deals'].sum()))} at {stages} left out: no closed deal reached that stage"
        )
    priced = open_["_priced"].astype(bool).to_numpy()
    if priced.any():  # with no amount at all, coverage says the pipeline's value is unknown
        _note_missing_amounts(int(open_.loc[~priced & ~unrated, "deals"].sum()), "open", notes)
    used = rates.loc[sorted(set(open_.loc[~unrated, s.STAGE]))]
    if int(used["closed"].min()) < SMALL_N:
        notes.append(f"stage win rates rest on {int(used['closed'].min()):,} closed deals (fewer than {SMALL_N})")
    return float((open_["value"] * rate).sum())


def _verdict(ratio: float, left: float) -> str:
    if left == 0 or ratio >= COVERED_AT:
        return "covered"
    return "at risk" if ratio >= AT_RISK_AT else "short"
