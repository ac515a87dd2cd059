"""The engine's shortcuts for speed give the hand-worked numbers.

With periods, conversion's Kaplan-Meier pass reads only the latest periods'
rows (those that can hold someone censored by the horizon); a cohort of an
earlier period, even one with some members entered late in it, keeps its plain
share. Worked by hand on an eight-lead table.
"""

from __future__ import annotations

import pandas as pd
import pytest
from engine_cases import leads_only_engine

import funnelkit as fk

AS_OF = pd.Timestamp("2025-06-01", tz="UTC")
DAY = pd.Timedelta(days=1)


def _connected(tmp_path):
    q1, q1_late, q2 = (pd.Timestamp(d, tz="UTC") for d in ("2025-01-01", "2025-03-10", "2025-05-01"))
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(1, 9)],
            "source": ["A", "A", "A", "A", "B", "B", "B", "A"],
            # A, 2025 Q1: MQL after 1, 2 and 10 days, L4 never (followed 151 days), L8 (entered in March) after 1;
            # B, 2025 Q2: L5 after 1 day, L7 after 3, L6 entered half a day before as_of and is censored there
            "created_at": [q1] * 4 + [q2, AS_OF - DAY / 2, q2, q1_late],
            "mql_at": [q1 + DAY, q1 + 2 * DAY, q1 + 10 * DAY, pd.NaT, q2 + DAY, pd.NaT, q2 + 3 * DAY, q1_late + DAY],
            "opportunity_id": pd.Series([None] * 8, dtype="string"),
        }
    )
    return leads_only_engine(tmp_path, leads, as_of=AS_OF)


def test_quarterly_cohorts_censored_only_in_the_latest_by_hand(tmp_path):
    table = _connected(tmp_path).conversion(from_stage="lead", to_stage="mql", by="source", period="Q")
    # horizon: the 75th percentile of the times to MQL 1, 1, 1, 2, 3, 10 days: 2 + 0.75 * (3 - 2) = 2.75 days
    assert table["horizon_days"].tolist() == [2.75, 2.75]
    assert table[["source", "period", "entered", "converted"]].to_dict("records") == [
        {"source": "A", "period": "2025 Q1", "entered": 5, "converted": 4},
        {"source": "B", "period": "2025 Q2", "entered": 3, "converted": 2},
    ]
    # A, Q1: nobody censored by the horizon: L1, L2 and L8 by 2.75 days, the plain 3 of 5 (L8 alone, entered
    # late in the quarter, would read 1 of 1). B, Q2: L6 censored at half a day; at day 1, 1 of the 2 still
    # at risk converts (L7's 3 days are past the horizon): 1 - 1/2 = 0.5, not the plain 1 of 3
    assert table["cumulative_rate"].tolist() == pytest.approx([0.6, 0.5], abs=1e-12)
    # Q1 ended 2025-04-01; 2.75 days later is before as_of: mature. Q2 ends 2025-07-01: not yet
    assert table["mature"].tolist() == [True, False]


def test_shared_queries_run_each_question_once(tmp_path, monkeypatch):
    from funnelkit.engine import _common

    data = _connected(tmp_path)
    runs = []
    real_run = _common._run
    monkeypatch.setattr(_common, "_run", lambda expr: runs.append(expr) or real_run(expr))
    f = data.funnel_table
    leads_by_source = f.group_by("source").aggregate(n=f.count()).order_by("source")
    with _common.shared_queries():
        first = _common.fetch(leads_by_source)
        first.loc[0, "n"] = -1  # the caller's copy: the next answer is untouched
        # built again from scratch, the same question: answered from the first run
        again = _common.fetch(f.group_by("source").aggregate(n=f.count()).order_by("source"))
    # by hand: sources A (L1-L4, L8) and B (L5-L7)
    assert again.to_dict("records") == [{"source": "A", "n": 5}, {"source": "B", "n": 3}]
    assert len(runs) == 1
    _common.fetch(leads_by_source)  # outside, every question runs
    assert len(runs) == 2


def test_review_on_the_engine_asks_shared_questions_once(tmp_path, monkeypatch):
    import importlib
    import warnings

    from engine_cases import connected, random_data

    from funnelkit.engine import _common

    review_module = importlib.import_module("funnelkit.review")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.SmallSampleWarning)
        data = connected(random_data(), tmp_path)
        asked = []
        real_run = _common._run
        monkeypatch.setattr(_common, "_run", lambda expr: asked.append(expr.op()) or real_run(expr))
        plain = review_module.review.__wrapped__(data)  # every section asking on its own
        asked_plain, asked[:] = list(asked), []
        shared = fk.review(data)
    # sections ask some of the same questions (stall lines, win rates by period): those reach DuckDB once
    assert len(asked_plain) > len(set(asked_plain))
    assert sorted(map(hash, asked)) == sorted(map(hash, set(asked_plain)))
    pd.testing.assert_frame_equal(plain.headline, shared.headline)
    assert plain.findings == shared.findings
    for name, table in plain.sections.items():
        pd.testing.assert_frame_equal(table, shared.sections[name])


def test_revenue_change_counts_periods_as_spans_to_the_second_by_hand(tmp_path):
    def utc(text):
        return pd.Timestamp(text, tz="UTC")

    last_second_of_q1, first_of_q2 = utc("2025-03-31 23:59:59"), utc("2025-04-01")
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4", "L5"],
            "created_at": [utc("2025-01-10"), utc("2025-02-01"), last_second_of_q1, first_of_q2, utc("2025-05-01")],
            "opportunity_id": pd.Series(["O1", "O2", "O3", None, "O5"], dtype="string"),
        }
    )
    opportunities = pd.DataFrame(
        {
            "opportunity_id": pd.Series(["O1", "O2", "O3", "O5"], dtype="string"),
            "lead_id": pd.Series(["L1", "L2", "L3", "L5"], dtype="string"),
            "created_at": [utc("2025-01-20"), utc("2025-03-01"), first_of_q2, utc("2025-05-02")],
            "closed_at": [utc("2025-02-15"), last_second_of_q1, first_of_q2, utc("2025-05-20")],
            "is_closed": [True, True, True, True],
            "is_won": [True, True, True, False],
            "amount": [100.0, 200.0, 400.0, 50.0],
            "currency": pd.Series(["EUR"] * 4, dtype="string"),
        }
    )
    for name, frame in (("leads", leads), ("opportunities", opportunities)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
    table = fk.connect(tmp_path, as_of="2025-06-01").revenue_change(period="Q").set_index("factor")
    assert table[["previous_period", "current_period"]].drop_duplicates().values.tolist() == [["2025 Q1", "2025 Q2"]]
    # Q1: leads L1-L3 (L3 in its last second), opportunities O1 and O2, both won (O2 in Q1's last second): 300
    # Q2: leads L4 (its first moment) and L5, opportunities O3 and O5, O3 won at Q2's first moment: 400
    values = table[["previous_value", "current_value"]]
    assert values.loc["volume"].tolist() == [3, 2]
    assert values.loc["conversion"].tolist() == pytest.approx([2 / 3, 2 / 2])
    assert values.loc["win_rate"].tolist() == pytest.approx([2 / 2, 1 / 2])
    assert values.loc["deal_size"].tolist() == pytest.approx([300 / 2, 400 / 1])
    assert values.loc["total"].tolist() == pytest.approx([300.0, 400.0])
