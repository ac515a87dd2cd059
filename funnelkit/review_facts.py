"""What the funnel review asks of the funnel's rows, each question an aggregate query.

The review's own figures (the headline, the dates each section counts, the
on-track target) need a handful of facts about the rows: how many, the first
and last date under a condition, counts and won revenue in two periods, the
median days to close. Each is answered by one Ibis expression over the funnel
view, so there is one implementation for both kinds of dataset:

- a dataset from :func:`funnelkit.connect` asks its engine (``funnel_table``):
  only aggregates come back, never the rows;
- a loaded dataset hands the few funnel columns the questions read to an
  embedded DuckDB (their Arrow form, scanned in place), which answers the same
  expressions.

Questions are grouped so that the review runs few queries: one for every
count and first/last date and the start days to close count from (the rows
counted per combination of yes/no answers, :attr:`ReviewFacts.overview`), one for the
period before the latest, one for the headline's counts, one grouped by
currency for revenue, one for the middle days to close. Periods are asked
as time spans ``[start, end)``, never by labelling every row.
"""

from __future__ import annotations

from functools import cached_property, reduce
from operator import or_

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from . import funnel as fn
from .dataset import Dataset
from .engine._common import calling_ibis, fetch
from .engine.periods import epoch_seconds
from .engine.time_to_close import is_deal, start_tests
from .metrics._common import days_between
from .metrics._engines import get_engine
from .metrics.time_to_close import _start_column
from .schema import stage_column

#: two periods, each ``(start, end)`` of ``[start, end)`` or None when there is no such period
Periods = tuple

#: the funnel columns the review's questions read (with the stages' dates)
COLUMNS = (
    fn.ENTITY, fn.OPPORTUNITY_ID, fn.IS_CLOSED, fn.IS_WON, fn.IS_LOST, fn.CLOSED_AT, fn.AMOUNT, fn.CURRENCY,
    fn.OPPORTUNITY_CREATED_AT, fn.SKIPPED_STAGES,
)  # fmt: skip


def funnel_table(data, extra=()) -> ir.Table:
    """The funnel view as an Ibis table: an engine's own, or a loaded dataset's columns in an embedded DuckDB."""
    if not isinstance(data, Dataset):
        return data.funnel_table
    from .engine.memory import arrow_table, in_duckdb  # Ibis is imported only when a review runs

    if get_engine() == "duckdb":  # the metrics run in the dataset's DuckDB: ask its funnel view too
        return in_duckdb(data).funnel_table

    f = data.funnel
    wanted = [c for c in dict.fromkeys([*COLUMNS, *data.stages.columns, *extra]) if c in f.columns]
    frame = f[wanted]
    for column in extra:  # only whether they hold a value is asked: text keeps a column of mixed objects whole
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    backend = ibis.duckdb.connect()
    backend.raw_sql("SET TimeZone = 'UTC'")  # dates compared and shown in UTC, as pandas holds them
    # A pandas frame's Arrow form is one chunk per column: more threads only coordinate (measured at 1M leads:
    # the review's queries take 0.4 s on one thread, 0.6 s on two)
    backend.raw_sql("SET threads = 1")
    with calling_ibis():
        backend.con.register("funnelkit_review", arrow_table(frame))
        return backend.table("funnelkit_review")


def _flag(table: ir.Table, column: str) -> ir.BooleanValue:
    """A true/false column with a missing value read as false (as the review's pandas code read it)."""
    return ibis.coalesce(table[column], False) if column in table.columns else ibis.literal(False)


def _within(table: ir.Table, column: str, span) -> ir.BooleanValue:
    """Rows whose ``column`` falls in ``[start, end)``; none when there is no such period (``span`` None)."""
    if span is None:
        return table[column].isnull() & ibis.literal(False)  # a column of false, to count over
    start, end = (_moment(x) for x in span)
    return (table[column] >= start) & (table[column] < end)  # a missing date is in no period


def _dated_in(table: ir.Table, columns: list[str], periods: Periods) -> ir.Table:
    """The rows with a date of ``columns`` in one of ``periods``: the only rows a count of either period reads
    (an engine evaluates one test per column on every row, then the counts' tests on these few)."""
    spans = [span for span in periods if span is not None]
    if not spans:
        return table
    both = (min(start for start, _ in spans), max(end for _, end in spans))
    return table.filter(reduce(or_, (_within(table, column, both) for column in columns)))


def _moment(value: pd.Timestamp) -> ir.TimestampScalar:
    """A period's bound (a whole day, UTC) as text cast to a timestamp: engines read it once, where a timestamp
    built from its parts (DuckDB's ``make_timestamptz``) is worked out again for every row."""
    return ibis.literal(_utc(value).isoformat()).cast("timestamp('UTC')")


def _count(table: ir.Table, condition: ir.BooleanValue) -> ir.IntegerValue:
    """How many rows meet ``condition`` (a missing value counts as not met): ``COUNT(*) FILTER (WHERE ...)``,
    cheaper for an engine than summing the condition as numbers."""
    return table.count(where=condition)


class ReviewFacts:
    """The facts about a dataset's funnel rows that the review states, fetched as aggregates.

    Parameters
    ----------
    data : Dataset or EngineDataset
    by : str, optional
        A funnel column whose filled values are counted (the review's breakdown).

    Examples
    --------
    >>> import funnelkit as fk
    >>> facts = ReviewFacts(fk.load("tests/data/salesforce_report", cache=False))  # doctest: +SKIP
    >>> facts.overview["rows"]                                                      # doctest: +SKIP
    """

    def __init__(self, data, *, by: str | None = None):
        self.data = data
        self.stages = data.stages
        self.by = by
        self.table = funnel_table(data, [by] if by else [])

    def has(self, column: str) -> bool:
        return column in self.table.columns

    @cached_property
    def _tally(self) -> pd.DataFrame:
        """The funnel's rows counted (``n``) per combination of the yes/no questions the review's counts ask, with
        each date column's first and last (``first_<column>``, ``last_<column>``) in each combination.

        Every count and first/last date of :attr:`overview` and the start options of
        :attr:`default_start` is a sum, minimum or maximum over these groups (about ten
        on a typical funnel): one grouped scan of the funnel, where a filtered aggregate
        per fact tests every row once per fact (at 1M leads 0.07 s in DuckDB for what
        took two queries and 0.09 s).
        """
        t = self.table
        tests = {name: ibis.coalesce(test, False) for name, test in self._tests().items()}
        dates = [c for c in (*self.stages.columns, fn.CLOSED_AT, fn.OPPORTUNITY_CREATED_AT) if self.has(c)]
        ranges = {}
        for column in dates:
            ranges[f"first_{column}"], ranges[f"last_{column}"] = t[column].min(), t[column].max()
        tally = fetch(t.group_by(**tests).aggregate(n=t.count(), **ranges))
        return tally.astype({name: bool for name in tests})

    def _tests(self) -> dict[str, ir.BooleanValue]:
        """The yes/no questions of :attr:`_tally`, by name (a missing value reads as no)."""
        t = self.table
        closed = _flag(t, fn.IS_CLOSED)
        tests = {"closed": closed, "lost": closed & _flag(t, fn.IS_LOST)}
        tests["deal"] = t[fn.OPPORTUNITY_ID].notnull() | closed if self.has(fn.OPPORTUNITY_ID) else closed
        tests["closed_dated"] = closed & t[fn.CLOSED_AT].notnull() if self.has(fn.CLOSED_AT) else ibis.literal(False)
        if self.has(fn.ENTITY):
            tests["lead"] = t[fn.ENTITY] == "lead"
        if self.by:
            tests["by_filled"] = t[self.by].notnull()
        names = self.stages.names
        for stage, after in zip(names[:-1], names[1:], strict=True):
            at, later = stage_column(stage), stage_column(after)
            if self.has(at):
                differs = ibis.coalesce(t[at] != t[later], True) if self.has(later) else ibis.literal(True)
                tests[f"own_{stage}"] = t[at].notnull() & differs
        tests["start_deal"] = is_deal(t)
        for name, own in start_tests(t, self.stages).items():
            tests[f"start_{name}"] = own
            column = _start_column(self.data, name)
            tests[f"dated_{column}"] = t[column].notnull()
        return tests

    @cached_property
    def overview(self) -> pd.Series:
        """Every count and first/last date the review needs (from :attr:`_tally`).

        ``rows``, ``deals`` (an opportunity id or closed), ``closed``, ``leads``,
        ``closed_dated`` (closed with a close date), ``by_filled``; ``own_<stage>``
        (entries with a date not borrowed from the next stage); ``first_<column>``/``last_<column>`` for each stage's
        date and ``closed_at``; ``first_closed``/``last_closed`` (closed deals),
        ``first_lost``/``last_lost``, ``first_lead``/``last_lead`` (the leads' first
        stage); ``first_deal_start``/``last_deal_start`` (the deals' dates days to
        close count from, :attr:`start_column`) and ``closed_with_start`` (closed
        deals with a close date and that start).
        """
        tally = self._tally
        every = pd.Series(True, index=tally.index)

        def rows(where: pd.Series = every) -> int:
            return int(tally.loc[where, "n"].sum())

        def first_last(column: str, where: pd.Series = every) -> tuple:
            return tally.loc[where, f"first_{column}"].min(), tally.loc[where, f"last_{column}"].max()

        facts = {"rows": rows(), "deals": rows(tally["deal"]), "closed": rows(tally["closed"])}
        facts["leads"] = rows(tally["lead"]) if "lead" in tally else 0
        facts["closed_dated"] = rows(tally["closed_dated"])
        for name in ("by_filled", *(f"own_{stage}" for stage in self.stages.names)):
            if name in tally:
                facts[name] = rows(tally[name])
        for column in (*self.stages.columns, fn.CLOSED_AT):
            if self.has(column):
                facts[f"first_{column}"], facts[f"last_{column}"] = first_last(column)
        if self.has(fn.CLOSED_AT):
            facts["first_closed"], facts["last_closed"] = first_last(fn.CLOSED_AT, tally["closed"])
            facts["first_lost"], facts["last_lost"] = first_last(fn.CLOSED_AT, tally["lost"])
        first = stage_column(self.stages.first)
        if self.has(first) and "lead" in tally:
            facts["first_lead"], facts["last_lead"] = first_last(first, tally["lead"])
        column = self.start_column
        if self.has(column):
            facts["first_deal_start"], facts["last_deal_start"] = first_last(column, tally["deal"])
            facts["closed_with_start"] = rows(tally["closed_dated"] & tally[f"dated_{column}"])
        return pd.Series(facts, dtype=object)

    def count(self, name: str) -> int:
        value = self.overview.get(name)
        return 0 if value is None or pd.isna(value) else int(value)

    def span(self, name: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last of the dates ``first_<name>``/``last_<name>`` of :attr:`overview`, or None."""
        first, last = self.overview.get(f"first_{name}"), self.overview.get(f"last_{name}")
        if first is None or pd.isna(first):
            return None
        return _utc(first), _utc(last)

    def entries_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last stage entry of any stage."""
        spans = [self.span(c) for c in self.stages.columns if self.has(c)]
        spans = [s for s in spans if s is not None]
        if not spans:
            return None
        return min(s[0] for s in spans), max(s[1] for s in spans)

    def first_date(self) -> pd.Timestamp | None:
        """The data's first date: the earliest stage entry or close date."""
        firsts = [self.span(c) for c in (*self.stages.columns, fn.CLOSED_AT) if self.has(c)]
        firsts = [s[0] for s in firsts if s is not None]
        return min(firsts) if firsts else None

    @cached_property
    def default_start(self) -> str:
        """What days to close count from by default (as :func:`funnelkit.metrics.time_to_close.default_start`):
        the first start of :func:`funnelkit.engine.time_to_close.start_options` some deal has a date of its own for."""
        tally = self._tally
        deals = tally[tally["start_deal"]]
        for name in start_tests(self.table, self.stages):
            if deals.loc[deals[f"start_{name}"], "n"].sum():
                return name
        return "opportunity"

    @property
    def start_column(self) -> str:
        """The funnel column of :attr:`default_start`."""
        return _start_column(self.data, self.default_start)

    def period_column(self) -> str | None:
        """What places the data in periods: the leads' creation (the first stage), or without any, deals' close."""
        first = stage_column(self.stages.first)
        if self.has(first) and self.span(first) is not None:
            return first
        return fn.CLOSED_AT if self.has(fn.CLOSED_AT) else None

    def latest(self, column: str, *, before: pd.Timestamp) -> pd.Timestamp | None:
        """The latest value of ``column`` earlier than ``before`` (one aggregate query), or None."""
        t = self.table
        found = fetch(t.aggregate(latest=t[column].max(where=t[column] < _moment(before)))).iloc[0]["latest"]
        return None if found is None or pd.isna(found) else _utc(found)

    def headline_counts(self, periods: Periods) -> pd.Series:
        """Entries of each stage with dates of its own (``<stage>_0``, ``<stage>_1``), closed and won deals
        (``closed_0``...) in the two periods ``[start, end)`` (``None``: no such period), in one aggregate query."""
        stages = [stage for stage in self.stages.names[:-1] if self.count(f"own_{stage}")]
        with_closed = bool(self.count("closed_dated"))
        columns = [stage_column(stage) for stage in stages] + ([fn.CLOSED_AT] if with_closed else [])
        if not columns:
            return pd.Series(dtype="int64")
        t = _dated_in(self.table, columns, periods)
        asks = {}
        for stage in stages:
            for i, span in enumerate(periods):
                asks[f"{stage}_{i}"] = _count(t, _within(t, stage_column(stage), span))
        if with_closed:
            closed, won = _flag(t, fn.IS_CLOSED), _flag(t, fn.IS_CLOSED) & _flag(t, fn.IS_WON)
            for i, span in enumerate(periods):
                asks[f"closed_{i}"] = _count(t, closed & _within(t, fn.CLOSED_AT, span))
                asks[f"won_{i}"] = _count(t, won & _within(t, fn.CLOSED_AT, span))
        return fetch(t.aggregate(**asks)).fillna(0).astype("int64").iloc[0]

    @cached_property
    def _won_rows(self) -> ir.Table:
        return self.table.filter(_flag(self.table, fn.IS_WON))

    def won_money(self, periods: Periods = ()) -> pd.DataFrame:
        """Won deals per currency (one grouped query): ``with_amount``, ``blank`` (no amount), ``closed_amount``
        (closed, dated, with an amount) and per period ``i`` of ``periods`` the closed won deals
        ``n_i``, those with an amount ``amounts_i``, their sum ``sum_i`` and those without ``blank_i``."""
        t = self._won_rows
        amount = t[fn.AMOUNT].notnull()
        closed = _flag(t, fn.IS_CLOSED)
        asks = {
            "with_amount": _count(t, amount),
            "blank": _count(t, ~amount),
            "closed_amount": _count(t, closed & t[fn.CLOSED_AT].notnull() & amount),
        }
        for i, span in enumerate(periods):
            now = closed & _within(t, fn.CLOSED_AT, span)
            asks[f"n_{i}"] = _count(t, now)
            asks[f"amounts_{i}"] = _count(t, now & amount)
            asks[f"blank_{i}"] = _count(t, now & ~amount)
            asks[f"sum_{i}"] = t[fn.AMOUNT].sum(where=now)
        return _by_currency(fetch(t.group_by(currency=t[fn.CURRENCY]).aggregate(**asks)))

    def won_in_windows(self, windows: dict[str, tuple[pd.Timestamp, pd.Timestamp]]) -> pd.DataFrame:
        """Won deals with a close date and an amount, per currency: ``deals`` (all of them), and per window
        ``[start, end)`` the deals closed in it (``deals_<name>``) and their amounts' sum (``sum_<name>``)."""
        t = self._won_rows
        t = t.filter(t[fn.CLOSED_AT].notnull() & t[fn.AMOUNT].notnull())
        asks = {"deals": t.count()}
        for name, span in windows.items():
            inside = _within(t, fn.CLOSED_AT, span)
            asks[f"deals_{name}"] = _count(t, inside)
            asks[f"sum_{name}"] = t[fn.AMOUNT].sum(where=inside)
        return _by_currency(fetch(t.group_by(currency=t[fn.CURRENCY]).aggregate(**asks)))

    def middle_days(self, periods: Periods, start_column: str) -> list[float]:
        """Median days to close of the closed deals of each period (those with a start no later than the close);
        missing for a period without any.

        The engine ranks the deals by days and returns only the middle one or
        two per period; their days are worked out here as pandas works them
        out, so the median is exactly pandas' (the mean of the two middle
        values for an even count).
        """
        out = [np.nan] * len(periods)
        if not self.has(start_column):
            return out
        t = self.table
        t = t.filter(_flag(t, fn.IS_CLOSED) & t[fn.CLOSED_AT].notnull() & t[start_column].notnull())
        which = ibis.cases(*((_within(t, fn.CLOSED_AT, span), i) for i, span in enumerate(periods)), else_=-1)
        t = t.select(
            which=which,
            closed_at=t[fn.CLOSED_AT],
            started=t[start_column],
            seconds=epoch_seconds(t[fn.CLOSED_AT]) - epoch_seconds(t[start_column]),
        )
        t = t.filter((t["which"] >= 0) & (t["seconds"] >= 0))
        order = ibis.window(group_by=t["which"], order_by=[t["seconds"], t["closed_at"]])
        ranked = t.mutate(rank=ibis.row_number().over(order), n=t.count().over(ibis.window(group_by=t["which"])))
        middle = ranked.filter((ranked["rank"] == (ranked["n"] - 1) // 2) | (ranked["rank"] == ranked["n"] // 2))
        rows = fetch(middle.select("which", "closed_at", "started"))
        for i, rows_in in rows.groupby("which"):
            days = days_between(_utc_series(rows_in["closed_at"]), _utc_series(rows_in["started"]))
            out[int(i)] = float(np.median(days.to_numpy()))
        return out


def _by_currency(table: pd.DataFrame) -> pd.DataFrame:
    """A per-currency result indexed by currency (``None`` for amounts that name none): sums (``sum_*``) as
    floats (missing where no amount was summed), every other column a count."""
    table = table.copy()
    table["currency"] = table["currency"].astype(object).where(table["currency"].notna(), None)
    table = table.set_index("currency")
    for column in table.columns:
        if not column.startswith("sum_"):
            table[column] = table[column].fillna(0).astype("int64")
    return table


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _utc_series(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


__all__ = ["ReviewFacts", "funnel_table"]
