"""engb's metrics on the engine (DuckDB), each on a table small enough to work out by hand.

The pandas metrics must give the same numbers (tests/engine_cases.py compares
them column for column on bigger funnels); here the numbers are worked out
independently, in the comments.
"""

from __future__ import annotations

import re
import warnings

import pandas as pd
import pytest
from engine_cases import assert_same, connected
from metrics_fixtures import _column, t, tiny

import funnelkit as fk
from funnelkit import schema as s

# ---- a three-stage deal funnel with stage history -------------------------------------------------------
#
# stages opportunity > proposal > won, as of 2025-06-30; no leads.
#   deal  created  proposal  closed        amount  note
#   O1    01-01    01-11     won 02-10     1,000   opportunity 10 days, proposal 30 days
#   O2    02-01    02-21     lost 03-01      500   opportunity 20 days
#   O3    03-01    (03-31)   won 04-10     2,000   history: opportunity 03-01, proposal 03-21, won 04-10
#                                                  (its own dates are not read: 20 days, then 20 days)
#   O4    05-01    -         open            400   at opportunity for 60 days
#   O5    06-10    06-20     open            300   opportunity 10 days; at proposal for 10 days
#   O6    06-25    -         open             -    at opportunity for 5 days, no amount
#
# Stall lines (75th percentile, linear): opportunity -> proposal over 10, 20, 20, 10 days: sorted 10 10 20 20,
# position 0.75 * 3 = 2.25 -> 20. proposal -> won over O1 30 and O3 20: 20 + 0.75 * 10 = 27.5.
# O4 (60 days > 20) has stalled, 40 days over; O6 (5) and O5 (10 < 27.5) have not.


def deal_funnel() -> fk.Dataset:
    opps = pd.DataFrame(
        {
            s.OPPORTUNITY_ID: ["O1", "O2", "O3", "O4", "O5", "O6"],
            s.LEAD_ID: pd.Series([None] * 6, dtype="str"),
            s.CREATED_AT: _column(["2025-01-01", "2025-02-01", "2025-03-01", "2025-05-01", "2025-06-10", "2025-06-25"]),
            "proposal_at": _column(["2025-01-11", "2025-02-21", "2025-03-31", None, "2025-06-20", None]),
            s.CLOSED_AT: _column(["2025-02-10", "2025-03-01", "2025-04-10", None, None, None]),
            s.STAGE: ["won", "lost", "won", "opportunity", "proposal", "opportunity"],
            s.STAGE_LABEL: ["Won", "Lost", "Won", "Open", "Proposal", "Open"],
            s.IS_CLOSED: [True, True, True, False, False, False],
            s.IS_WON: [True, False, True, False, False, False],
            s.AMOUNT: [1000.0, 500.0, 2000.0, 400.0, 300.0, None],
            s.CURRENCY: ["USD"] * 6,
            s.SOURCE: ["A", "A", "B", "A", "B", "B"],
            s.OWNER: ["ann"] * 6,
            s.LOST_REASON: pd.Series([None, "Price", None, None, None, None], dtype="str"),
        }
    )
    history = pd.DataFrame(
        {
            s.ENTITY_ID: ["O3", "O3", "O3"],
            s.ENTITY: ["opportunity"] * 3,
            s.STAGE: ["opportunity", "proposal", "won"],
            s.STAGE_LABEL: ["Open", "Proposal", "Won"],
            s.AT: _column(["2025-03-01", "2025-03-21", "2025-04-10"]),
            s.ORIGIN: ["history"] * 3,
        }
    )
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in s.LEAD_COLUMNS.items()})
    stages = fk.Stages(names=("opportunity", "proposal", "won"))
    return fk.Dataset(leads, opps, history, stages=stages, as_of=t("2025-06-30"))


@pytest.fixture(scope="module")
def deal_pair(tmp_path_factory):
    data = deal_funnel()
    return data, connected(data, tmp_path_factory.mktemp("deals"), stages=data.stages)


def quiet(metric, data, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        return metric(data, **options)


def test_pipeline_by_hand(deal_pair):
    data, engine = deal_pair
    table = fk.pipeline(engine)  # fk.pipeline hands the engine dataset to its engine
    assert table["stage"].tolist() == ["opportunity", "proposal"]
    assert table["open"].tolist() == [2, 1]  # O4, O6; O5
    assert table["open_value"].tolist() == [400.0, 300.0]  # O6 has no amount
    # ages: O4 60 days, O6 5 days -> median 32.5, q75 5 + 0.75 * 55 = 46.25; O5 20 days
    assert table["median_age_days"].tolist() == [32.5, 20.0]
    assert table["q75_age_days"].tolist() == [46.25, 20.0]
    assert table["stall_line_days"].tolist() == [20.0, 27.5]
    assert table["stalled"].tolist() == [1, 0]  # O4
    assert table["stalled_value"].tolist() == [400.0, 0.0]
    assert table["note"].tolist()[0] == "1 deal without an amount"
    assert_same(fk.pipeline(data), table)


def test_pipeline_by_source_and_a_later_as_of_by_hand(deal_pair):
    data, engine = deal_pair
    table = engine.pipeline(by="source", as_of="2025-07-30")
    # A: O4 (90 days at opportunity); B: O6 (35 days at opportunity, over 20: stalled too) and O5 (40 > 27.5)
    assert table[["source", "stage", "open", "stalled"]].values.tolist() == [
        ["A", "opportunity", 1, 1],
        ["B", "opportunity", 1, 1],
        ["B", "proposal", 1, 1],
    ]
    assert table["stalled_value"].isna().tolist() == [False, True, False]  # O6's amount is unknown
    assert_same(fk.pipeline(data, by="source", as_of="2025-07-30"), table)


def test_stalled_deals_by_hand(deal_pair):
    data, engine = deal_pair
    table = fk.stalled_deals(engine)
    assert table["opportunity_id"].tolist() == ["O4"]
    row = table.iloc[0]
    assert (row["stage"], row["amount"], row["days_in_stage"], row["stall_line_days"], row["days_over"]) == (
        "opportunity",
        400.0,
        60.0,
        20.0,
        40.0,
    )
    assert row["stage_entered_at"] == pd.Timestamp("2025-05-01", tz="UTC")
    assert_same(fk.stalled_deals(data), table)
    assert engine.stalled_deals(stage="proposal").empty  # O5: 10 days, under 27.5


def test_pipeline_errors_read_as_in_memory(tmp_path):
    data = deal_funnel()
    opps = data.opportunities.assign(is_closed=True)
    closed = fk.Dataset(data.leads, opps, data.history, stages=data.stages, as_of=data.as_of)
    engine = connected(closed, tmp_path, stages=closed.stages)
    with pytest.raises(fk.NotMeasurableError, match=r"every deal of this export \(6 deals\) has closed"):
        fk.pipeline(engine)
    with pytest.raises(fk.ParameterError, match="stages where deals stay open"):
        engine.stalled_deals(stage="won")


def test_coverage_by_hand(deal_pair):
    data, engine = deal_pair
    table = fk.coverage(engine, target=5000, period_end="2025-06-30")  # 2025-04-01 to 06-30, as of 06-30
    row = table.iloc[0]
    # won in the quarter: O3 (2,000); open: O4 400 and O6 (no amount) at opportunity, O5 300 at proposal.
    # Closed deals that reached opportunity: O1, O2, O3 (2 won); reached proposal: the same three -> 2/3 each.
    assert (row["won_deals"], row["won_revenue"], row["left_to_win"], row["open"]) == (1, 2000.0, 3000.0, 3)
    assert row["open_value"] == 700.0
    assert row["weighted_pipeline"] == pytest.approx(700 * 2 / 3)
    assert row["coverage"] == pytest.approx(700 * 2 / 3 / 3000)
    assert row["verdict"] == "short"
    assert row["note"] == (
        "every open deal counted: the export has no expected close dates; 1 open deal without an amount, "
        "not counted in the money; stage win rates rest on 3 closed deals (fewer than 20)"
    )
    assert_same(fk.coverage(data, target=5000, period_end="2025-06-30"), table)
    ended = engine.coverage(target=5000, period_end="2025-03-31")  # O1 02-10 and O2 lost: 1,000 won, final
    assert (ended["won_revenue"].iloc[0], ended["verdict"].iloc[0]) == (1000.0, "period ended")
    assert_same(fk.coverage(data, target=5000, period_end="2025-03-31"), ended)


def test_coverage_leaves_out_deals_expected_after_the_period_by_hand(tmp_path):
    data = deal_funnel()
    expected = _column([None, None, None, "2025-08-15", "2025-06-30", None])  # O4 after the quarter
    opps = data.opportunities.assign(**{s.EXPECTED_CLOSE_AT: expected})
    data = fk.Dataset(data.leads, opps, data.history, stages=data.stages, as_of=data.as_of)
    engine = connected(data, tmp_path, stages=data.stages)
    row = engine.coverage(target=5000, period_end="2025-06-30").iloc[0]
    assert (row["open"], row["open_value"]) == (2, 300.0)  # O5 and O6 (no date: counted)
    assert row["weighted_pipeline"] == pytest.approx(300 * 2 / 3)
    assert row["note"].startswith("1 deal expected to close after the period left out of the pipeline")
    assert_same(
        fk.coverage(data, target=5000, period_end="2025-06-30"), engine.coverage(target=5000, period_end="2025-06-30")
    )


# ---- lost deals -----------------------------------------------------------------------------------------
#
#   deal  reason      amount  currency  closed (lost)
#   L1    "Price"       100   USD       2025-01-15
#   L2    " Price "     200   USD       2025-02-10   (trimmed: Price)
#   L3    "Timing"       50   USD       2025-04-05
#   L4    (blank)         -   USD       2025-04-20
#   L5    "Budget"       30   EUR       (no close date)
#   W1    won, not counted


def lost_funnel() -> fk.Dataset:
    n = 6
    opps = pd.DataFrame(
        {
            s.OPPORTUNITY_ID: ["L1", "L2", "L3", "L4", "L5", "W1"],
            s.LEAD_ID: pd.Series([None] * n, dtype="str"),
            s.CREATED_AT: _column(["2025-01-01"] * n),
            s.CLOSED_AT: _column(["2025-01-15", "2025-02-10", "2025-04-05", "2025-04-20", None, "2025-03-01"]),
            s.STAGE: ["lost"] * 5 + ["won"],
            s.STAGE_LABEL: ["Lost"] * 5 + ["Won"],
            s.IS_CLOSED: [True] * n,
            s.IS_WON: [False] * 5 + [True],
            s.AMOUNT: [100.0, 200.0, 50.0, None, 30.0, 999.0],
            s.CURRENCY: ["USD", "USD", "USD", "USD", "EUR", "USD"],
            s.SOURCE: ["A"] * n,
            s.OWNER: ["ann"] * n,
            s.LOST_REASON: pd.Series(["Price", " Price ", "Timing", "  ", "Budget", None], dtype="str"),
        }
    )
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in s.LEAD_COLUMNS.items()})
    stages = fk.Stages(names=("opportunity", "won"))
    return fk.Dataset(leads, opps, empty_history(), stages=stages, as_of=t("2025-06-30"))


def empty_history() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in s.EVENT_COLUMNS}).astype({s.AT: s.TIMESTAMP})


@pytest.fixture(scope="module")
def lost_pair(tmp_path_factory):
    data = lost_funnel()
    return data, connected(data, tmp_path_factory.mktemp("lost"), stages=data.stages)


def test_lost_reasons_by_hand(lost_pair):
    data, engine = lost_pair
    table = quiet(fk.lost_reasons, engine)
    rows = table[["lost_reason", "lost", "lost_total", "currency", "lost_value"]].values.tolist()
    # most lost first, ties by name, the blank reason last; money per currency
    assert rows[:3] == [["Price", 2, 5, "USD", 300.0], ["Budget", 1, 5, "EUR", 30.0], ["Timing", 1, 5, "USD", 50.0]]
    assert rows[3][:4] == ["(no reason given)", 1, 5, "USD"] and pd.isna(rows[3][4])
    assert table["share"].tolist() == [0.4, 0.2, 0.2, 0.2]
    assert table["note"].tolist()[3] == "1 lost deal without an amount, not in lost_value"
    assert_same(quiet(fk.lost_reasons, data), table)


def test_lost_reasons_are_trimmed_of_tabs_and_unicode_spaces_as_in_pandas(tmp_path):
    plain = lost_funnel()
    reasons = ["\tPrice\n", "\u00a0Price", "Timing\u3000", "\u2003", "Budget", None]
    opps = plain.opportunities.assign(**{s.LOST_REASON: pd.Series(reasons, dtype="str")})
    data = fk.Dataset(plain.leads, opps, plain.history, stages=plain.stages, as_of=plain.as_of)
    engine = connected(data, tmp_path, stages=data.stages)
    table = quiet(fk.lost_reasons, engine)
    # the same reasons as " Price " and "  " give in test_lost_reasons_by_hand
    assert table[["lost_reason", "lost"]].values.tolist() == [["Price", 2], ["Budget", 1], ["Timing", 1],
                                                             ["(no reason given)", 1]]  # fmt: skip
    assert_same(quiet(fk.lost_reasons, data), table)


def test_the_engine_s_space_class_is_python_s_whitespace():
    from funnelkit.engine.lost_reasons import SPACE_CLASS

    listed = {chr(int(code, 16)) for code in SPACE_CLASS.strip("[]").replace("\\x{", " ").replace("}", "").split()}
    assert listed == {c for c in map(chr, range(0x110000)) if c.isspace()}


def test_lost_reasons_top_and_period_by_hand(lost_pair):
    data, engine = lost_pair
    top = quiet(fk.lost_reasons, engine, top=1)
    # Budget (EUR) and Timing (USD) fold into Other: 2 lost deals, one row per currency
    assert top[["lost_reason", "lost", "currency", "lost_in_currency", "lost_value"]].values.tolist()[:3] == [
        ["Price", 2, "USD", 2, 300.0],
        ["Other", 2, "EUR", 1, 30.0],
        ["Other", 2, "USD", 1, 50.0],
    ]
    assert_same(quiet(fk.lost_reasons, data, top=1), top)
    by_quarter = quiet(fk.lost_reasons, engine, period="Q")
    assert by_quarter[["period", "lost_reason", "lost", "lost_total"]].fillna("-").values.tolist() == [
        ["2025 Q1", "Price", 2, 2],
        ["2025 Q2", "Timing", 1, 2],
        ["2025 Q2", "(no reason given)", 1, 2],
        ["-", "Budget", 1, 1],
    ]
    assert by_quarter["note"].tolist()[3] == "1 lost deal without a close date, in no period"
    assert_same(quiet(fk.lost_reasons, data, period="Q"), by_quarter)


def test_lost_reasons_without_the_column_says_so(tmp_path):
    data = lost_funnel()
    opps = data.opportunities.drop(columns=[s.LOST_REASON])
    data = fk.Dataset(data.leads, opps, data.history, stages=data.stages, as_of=data.as_of)
    engine = connected(data, tmp_path, stages=data.stages)
    with pytest.raises(fk.NotMeasurableError, match="this export has no lost reason column"):
        fk.lost_reasons(engine)


# ---- the revenue change on the six-lead funnel of metrics_fixtures --------------------------------------


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    data = tiny()
    return data, connected(data, tmp_path_factory.mktemp("tiny"))


def test_revenue_change_by_hand(tiny_pair):
    data, engine = tiny_pair
    table = fk.revenue_change(engine)  # the latest quarter with a date, 2025 Q2, against 2025 Q1
    # Q1: 4 leads (L1-L4), 2 opportunities (O1, O2), 1 won (O1, 1,000); Q2: 2 leads, 2 opportunities (O3, O4),
    # 1 won (O4, 2,000). volume 4 -> 2, conversion 0.5 -> 1, win rate 0.5 -> 0.5, deal size 1,000 -> 2,000.
    assert table["factor"].tolist() == ["volume", "conversion", "win_rate", "deal_size", "total"]
    assert table["previous_value"].tolist() == [4.0, 0.5, 0.5, 1000.0, 1000.0]
    assert table["current_value"].tolist() == [2.0, 1.0, 0.5, 2000.0, 2000.0]
    # Shapley over volume (x0.5), conversion (x2), deal size (x2) from 1,000: volume averages
    # (-500 + (-1000 - 1000) / 2 + -2000) / 3 = -3500 / 3; conversion and deal size (1000 + 1250 + 1000) / 3
    assert table["contribution"].tolist() == pytest.approx([-3500 / 3, 3250 / 3, 0.0, 3250 / 3, 1000.0])
    assert (table["previous_period"].iloc[0], table["current_period"].iloc[0]) == ("2025 Q1", "2025 Q2")
    assert_same(fk.revenue_change(data), table)
    by_source = engine.revenue_change(by="source")
    assert by_source.loc[by_source["factor"] == "total", ["source", "contribution"]].values.tolist() == [
        ["A", -1000.0],  # O1's 1,000 in Q1, nothing in Q2
        ["B", 2000.0],  # O4's 2,000 in Q2
    ]
    assert_same(fk.revenue_change(data, by="source"), by_source)


def test_sla_by_hand(tiny_pair):
    data, engine = tiny_pair
    result = fk.sla(engine, mql_target=3, period="Q", touches_target=2)
    # MQLs: L1 01-06, L2 01-12, L4 01-21 in Q1; L5 04-03, L6 04-06 in Q2. Band 2.7 to 3.3.
    delivery = result.delivery
    assert delivery[["period", "mqls", "status"]].values.tolist() == [["2025 Q1", 3, "within"], ["2025 Q2", 2, "under"]]
    # first touch: L1 10 min, L2 20, L4 45, L5 2 days (2,880 min), L6 never; touches 3, 1, 4, 2, 0
    row = result.response.iloc[0]
    assert (row["mqls"], row["touched"], row["within_target"], row["within_max"], row["never_touched"]) == (
        5,
        4,
        2,
        3,
        1,
    )
    assert row["followed_up"] == 3  # L1, L4, L5
    assert row["median_minutes"] == 32.5  # (20 + 45) / 2
    assert result.feedback.values.tolist() == [["No budget", 1]]  # L2
    expected = fk.sla(data, mql_target=3, period="Q", touches_target=2)
    assert_same(expected, result)
    by_source = engine.sla(mql_target=3, period="Q", by="source").response
    assert by_source[["source", "mqls", "within_target", "within_max", "median_minutes"]].values.tolist() == [
        ["A", 2, 2, 2, 15.0],
        ["B", 3, 0, 1, 1462.5],  # L4 45 and L5 2,880 minutes; L6 never touched
    ]
    assert_same(fk.sla(data, mql_target=3, period="Q", by="source"), engine.sla(mql_target=3, period="Q", by="source"))
    with pytest.raises(fk.ParameterError, match="sla\\(\\) needs period="):
        fk.sla(engine, mql_target=3)


def test_plan_by_hand(tiny_pair):
    data, engine = tiny_pair
    with pytest.warns(fk.SmallSampleWarning, match="a measured rate of this plan"):
        table = fk.plan(engine, quota=6000)
    # win rate: O1, O2, O4 closed, 2 won; sql -> opportunity 4 of 4 (L1, L4, L5, L6); mql -> sql 4 of 5;
    # lead -> mql 5 of 6. Deal size (1,000 + 2,000) / 2. Needed: 4 won, 6 opportunities, 6 SQLs,
    # ceil(6 / 0.8) = 8 MQLs, ceil(8 / (5/6)) = 10 leads.
    assert table["stage"].tolist() == ["won", "opportunity", "sql", "mql", "lead"]
    assert table["needed"].tolist() == [4, 6, 6, 8, 10]
    assert table["rate_to_next"].tolist()[1:] == pytest.approx([2 / 3, 1.0, 0.8, 5 / 6])
    assert table["rate_n"].tolist()[1:] == [3, 4, 5, 6]
    # median days to the win over O1 (L1) and O4 (L6): opportunity 30 and 30, sql 35 and 31, mql 39 and 33,
    # lead 40 and 34
    assert table["lead_time_days"].tolist() == [0.0, 30.0, 33.0, 36.0, 37.0]
    assert table["note"].iloc[0] == "deal size: mean of 2 won deals in USD"
    with pytest.warns(fk.SmallSampleWarning):
        assert_same(fk.plan(data, quota=6000), table)
    with pytest.warns(fk.SmallSampleWarning):
        by_source = engine.plan(quota=6000, by="source", win_rate=0.5)
    # the quota split by won revenue: A 1,000 of 3,000, B 2,000; each group's own deal size
    assert by_source.loc[by_source["stage"] == "won", ["source", "quota", "needed"]].values.tolist() == [
        ["A", 2000.0, 2],
        ["B", 4000.0, 2],
    ]
    with pytest.warns(fk.SmallSampleWarning):
        assert_same(fk.plan(data, quota=6000, by="source", win_rate=0.5), by_source)


@pytest.mark.parametrize(
    ("previous", "current", "wrong"),
    [
        ("2025 Q1", "2025 Q3", "current='2025 Q3'"),  # a quarter nothing is dated in
        ("2024 Q4", "2025 Q2", "previous='2024 Q4'"),
        ("2025 Q1", "2025Q2", "current='2025Q2'"),  # not a label funnelkit writes
        ("2025  Q1", "2025 Q2", "previous='2025  Q1'"),  # the same quarter, but not as funnelkit labels it
    ],
)
def test_revenue_change_of_named_periods_the_data_lacks_says_which_it_has(tiny_pair, previous, current, wrong):
    data, engine = tiny_pair
    said = f"{wrong} is not a period of this data; choose from ['2025 Q1', '2025 Q2']"
    for dataset in (data, engine):
        with pytest.raises(fk.ParameterError, match=re.escape(said)):
            fk.revenue_change(dataset, previous=previous, current=current)


def test_revenue_change_of_named_periods_is_the_latest_two_when_they_are(tiny_pair):
    data, engine = tiny_pair
    named = fk.revenue_change(engine, previous="2025 Q1", current="2025 Q2")
    assert_same(fk.revenue_change(engine), named)
    assert_same(fk.revenue_change(data, previous="2025 Q1", current="2025 Q2"), named)
