"""Drift with a planted change (and a flat source that must stay quiet), and the mix/rate split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_fixtures import empty_events, random_funnel

import funnelkit as fk

RATES = {"Paid Social": 0.35, "Referrals": 0.40, "Webinar": 0.30}


@pytest.fixture(scope="module")
def generated():
    # MQL -> SQL for Paid Social drops from 0.35 to 0.15 for MQLs from 2025 on; the others stay flat
    return random_funnel(30_000, seed=3, mql_to_sql=RATES, drift_to={"Paid Social": 0.15}, drift_from="2025-01-01")


def test_planted_drift_is_flagged_and_the_flat_sources_are_not(generated):
    table = fk.drift(generated, metric="conversion", from_stage="mql", to_stage="sql", by="source")
    flagged = table[table["significant"]]
    assert flagged[["source", "period"]].values.tolist() == [["Paid Social", "2025 Q1"]]
    change = flagged["change"].iloc[0]
    assert -0.26 < change < -0.14  # the true change is -0.20
    # the immature last quarter (its MQLs have not had time to become SQLs) is not compared
    assert "2025 Q4" not in set(table["period"])


def test_drift_against_the_first_quarter_keeps_flagging_after_the_change(generated):
    table = fk.drift(generated, metric="conversion", from_stage="mql", to_stage="sql", by="source", compare_to="first")
    social = table[table["source"] == "Paid Social"].set_index("period")
    assert social.loc[["2025 Q1", "2025 Q2", "2025 Q3"], "significant"].all()
    assert not social.loc[["2024 Q2", "2024 Q3", "2024 Q4"], "significant"].any()
    assert not table[table["source"] != "Paid Social"]["significant"].any()


def test_drift_columns_and_corrections(generated):
    holm = fk.drift(generated, metric="win_rate", by="source")
    assert {"source", "period", "n", "successes", "value", "ci_low", "ci_high", "previous_value", "change",
            "p_value", "p_adjusted", "significant"} <= set(holm.columns)  # fmt: skip
    first = holm.groupby("source").head(1)
    assert first["previous_value"].isna().all()  # nothing to compare the first quarter with
    assert (holm["p_adjusted"].dropna() >= holm["p_value"].dropna()).all()
    bh = fk.drift(generated, metric="win_rate", by="source", correction="bh")
    assert (bh["p_adjusted"].dropna() <= holm["p_adjusted"].dropna() + 1e-12).all()  # BH is the more lenient
    assert not holm["significant"].any()  # the true win rate is 0.3 everywhere, every quarter
    with pytest.raises(fk.ParameterError, match="correction must be one of"):
        fk.drift(generated, correction="bonferroni")


def test_drift_of_durations_uses_mann_whitney(generated):
    table = fk.drift(generated, metric="time_to_close", by=None)
    assert table["p_value"].dropna().between(0, 1).all()
    assert table["n"].sum() == int(generated.opportunities["is_closed"].sum())
    # every deal takes ~30 days, but the first quarter of closes holds only deals that closed fast
    # (the data starts in January 2024): the one change beyond noise is the ramp-up into 2024 Q2
    assert table.loc[table["significant"], "period"].tolist() == ["2024 Q2"]


def test_mix_and_rate_effects_add_up_to_the_total_change(generated):
    table = fk.mix_decomposition(
        generated, current="2025 Q2", previous="2024 Q2", from_stage="mql", to_stage="sql", by="source"
    )
    total = table.set_index("source").loc["(total)"]
    assert total["mix_effect"] + total["rate_effect"] == pytest.approx(
        total["rate_current"] - total["rate_previous"], abs=1e-12
    )
    groups = table[table["source"] != "(total)"]
    assert (groups["mix_effect"] + groups["rate_effect"] == groups["total_change"]).all()
    # the overall rates are the plain rates of the two quarters
    conv = fk.conversion(generated, from_stage="mql", to_stage="sql", period="Q").set_index("period")
    assert total["rate_previous"] == pytest.approx(conv.loc["2024 Q2", "rate"])
    assert total["rate_current"] == pytest.approx(conv.loc["2025 Q2", "rate"])
    # the drop is a rate change in Paid Social, not a shift of mix
    assert groups.set_index("source").loc["Paid Social", "rate_effect"] < -0.04
    assert abs(total["mix_effect"]) < 0.01


def _two_group_deals(quarters) -> fk.Dataset:
    """Closed deals of groups A and B: ``quarters`` lists (date, {group: (n, rate)})."""
    rows = []
    for day, groups in quarters:
        for group, (n, rate) in groups.items():
            rows += [(group, day, i < round(rate * n)) for i in range(n)]
    frame = pd.DataFrame(rows, columns=["source", "created", "won"])
    created = pd.to_datetime(frame["created"], utc=True).astype("datetime64[ns, UTC]")
    opps = pd.DataFrame(
        {
            "opportunity_id": [f"O{i}" for i in range(len(frame))],
            "lead_id": pd.Series([None] * len(frame), dtype="str"),
            "created_at": created,
            "closed_at": created + pd.Timedelta(days=5),
            "stage": frame["won"].map({True: "won", False: "lost"}),
            "stage_label": "x",
            "is_closed": True,
            "is_won": frame["won"],
            "amount": 1.0,
            "currency": "USD",
            "source": frame["source"],
            "owner": "o",
            "lost_reason": pd.Series([None] * len(frame), dtype="str"),
        }
    )
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in fk.schema.LEAD_COLUMNS.items()})
    return fk.Dataset(leads, opps, empty_events(), stages=fk.Stages(names=("opportunity", "won")))


def test_mix_only_change_is_all_mix():
    # rates fixed at 0.2 (A) and 0.6 (B); B's share grows from 20% to 80%
    data = _two_group_deals([("2025-01-15", {"A": (80, 0.2), "B": (20, 0.6)}),
                             ("2025-04-15", {"A": (20, 0.2), "B": (80, 0.6)})])  # fmt: skip
    total = fk.mix_decomposition(data, metric="win_rate", by="source", current="2025 Q2", previous="2025 Q1")
    total = total.set_index("source").loc["(total)"]
    assert (total["rate_previous"], total["rate_current"]) == pytest.approx((0.28, 0.52))  # 0.28 -> 0.52: all mix
    assert total["mix_effect"] == pytest.approx(0.24)
    assert total["rate_effect"] == pytest.approx(0.0, abs=1e-12)


def test_mix_and_rate_split_worked_by_hand():
    # A: 50% share at 0.2 -> 25% at 0.4; B: 50% at 0.6 -> 75% at 0.6. Overall 0.40 -> 0.55.
    data = _two_group_deals([("2025-01-15", {"A": (50, 0.2), "B": (50, 0.6)}),
                             ("2025-04-15", {"A": (40, 0.4), "B": (120, 0.6)})])  # fmt: skip
    table = fk.mix_decomposition(data, metric="win_rate", by="source", current="2025 Q2", previous="2025 Q1").set_index(
        "source"
    )
    # mix: A (-0.25)(0.3) + B (+0.25)(0.6) = 0.075; rate: A (+0.2)(0.375) + B (0)(0.625) = 0.075
    assert table.loc["(total)", ["mix_effect", "rate_effect"]].tolist() == pytest.approx([0.075, 0.075])
    assert table.loc["(total)", "total_change"] == pytest.approx(0.15)
    assert np.isclose(table.loc["A", "rate_effect"], 0.075)


def test_mix_decomposition_names_missing_periods(generated):
    with pytest.raises(fk.ParameterError, match="not in the data"):
        fk.mix_decomposition(generated, by="source", current="2030 Q1", previous="2029 Q4")
