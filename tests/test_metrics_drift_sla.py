"""Drift (with a planted change), mix decomposition and the SLA scorecard."""

from __future__ import annotations

import pandas as pd
import pytest
from metrics_fixtures import deals, empty_events, tiny

import funnelkit as fk


@pytest.fixture(scope="module")
def generated():
    truth = fk.generate_sample(60_000, seed=2)
    return fk.Dataset(truth.leads, truth.opportunities, empty_events(), as_of=truth.as_of)


def test_planted_drift_is_flagged_and_the_flat_source_is_not(generated):
    table = fk.drift(generated, metric="conversion", from_stage="mql", to_stage="sql", compare_to="first")
    social = table[table["source"] == "Paid Social"]
    referrals = table[table["source"] == "Referrals"]
    assert social["significant"].iloc[-1]  # 0.35 -> ~0.18 over the quarters
    assert social["change"].iloc[-1] < -0.1
    assert not referrals["significant"].any()
    # immature quarters are not compared at all
    assert table["period"].max() < "2025 Q4"


def test_drift_quarter_on_quarter_columns(generated):
    table = fk.drift(generated, metric="win_rate", by="source")
    assert {
        "period",
        "n",
        "value",
        "previous_value",
        "change",
        "p_value",
        "p_adjusted",
        "significant",
    } <= set(table.columns)
    first = table.groupby("source").head(1)
    assert first["previous_value"].isna().all()  # nothing to compare the first quarter with
    assert (table["p_adjusted"].dropna() >= table["p_value"].dropna()).all()


def test_drift_of_durations_uses_mann_whitney(generated):
    table = fk.drift(generated, metric="time_to_close", by=None)
    assert table["p_value"].dropna().between(0, 1).all()
    assert table["n"].sum() == int(generated.opportunities["is_closed"].sum())


def test_mix_and_rate_effects_add_up_to_the_total_change(generated):
    table = fk.mix_decomposition(
        generated,
        current="2025 Q2",
        previous="2024 Q2",
        from_stage="mql",
        to_stage="sql",
        by="source",
    )
    total = table.set_index("source").loc["(total)"]
    assert total["mix_effect"] + total["rate_effect"] == pytest.approx(
        total["rate_current"] - total["rate_previous"], abs=1e-12
    )
    # the overall rates are the plain rates of the two quarters
    conv = fk.conversion(generated, from_stage="mql", to_stage="sql", period="Q").set_index("period")
    assert total["rate_previous"] == pytest.approx(conv.loc["2024 Q2", "rate"])
    assert total["rate_current"] == pytest.approx(conv.loc["2025 Q2", "rate"])


def test_mix_only_change_is_all_mix():
    # two groups with fixed rates 0.2 and 0.6; the share of the better group grows
    rows = []
    for quarter, n_a, n_b in (("2025-01-15", 80, 20), ("2025-04-15", 20, 80)):
        for group, n, rate in (("A", n_a, 0.2), ("B", n_b, 0.6)):
            rows += [(group, quarter, i < rate * n) for i in range(n)]
    frame = pd.DataFrame(rows, columns=["source", "created", "won"])
    opps = pd.DataFrame(
        {
            "opportunity_id": [f"O{i}" for i in range(len(frame))],
            "lead_id": None,
            "created_at": pd.to_datetime(frame["created"], utc=True).astype("datetime64[ns, UTC]"),
            "closed_at": (pd.to_datetime(frame["created"], utc=True) + pd.Timedelta(days=5)).astype(
                "datetime64[ns, UTC]"
            ),
            "stage": frame["won"].map({True: "won", False: "lost"}),
            "stage_label": "x",
            "is_closed": True,
            "is_won": frame["won"],
            "amount": 1.0,
            "currency": "USD",
            "source": frame["source"],
            "owner": "o",
            "lost_reason": None,
        }
    )
    leads = pd.DataFrame({c: pd.Series(dtype=d) for c, d in fk.schema.LEAD_COLUMNS.items()})
    data = fk.Dataset(leads, opps, empty_events(), stages=fk.Stages(names=("opportunity", "won")))
    table = fk.mix_decomposition(data, metric="win_rate", current="2025 Q2", previous="2025 Q1")
    total = table.set_index("source").loc["(total)"]
    # overall 0.28 -> 0.52; every bit of it is mix
    assert (total["rate_previous"], total["rate_current"]) == pytest.approx((0.28, 0.52))
    assert total["mix_effect"] == pytest.approx(0.24)
    assert total["rate_effect"] == pytest.approx(0.0, abs=1e-12)


def test_sla_scorecard():
    result = fk.sla(tiny(), mql_target=2, period="M", touches_target=3)
    delivery = result.delivery.set_index("period")
    assert delivery["mqls"].to_dict() == {"2025-01": 3, "2025-04": 2}
    assert delivery["status"].to_dict() == {"2025-01": "over", "2025-04": "within"}
    response = result.response.iloc[0]
    assert response[["mqls", "touched", "within_target", "within_max", "never_touched"]].tolist() == [5, 4, 2, 3, 1]
    assert response["median_minutes"] == pytest.approx(32.5)  # of 10, 20, 45, 2,880 minutes
    assert response["followed_up"] == 2  # L1 (3 touches) and L4 (4)
    assert result.feedback.to_dict("records") == [{"reason": "No budget", "mqls": 1}]
    assert "periods on target" in result.summary["measure"].tolist()


def test_sla_response_by_owner():
    response = fk.sla(tiny(), mql_target=2, by="owner").response.set_index("owner")
    assert response["mqls"].to_dict() == {"ann": 3, "bob": 2}
    assert response.loc["bob", "never_touched"] == 1


def test_sla_on_data_that_cannot_support_it_says_why(data_dir):
    pipedrive = fk.load(data_dir / "pipedrive", cache=False)
    with pytest.raises(fk.ParameterError, match="needs the column 'first_touch_at'"):
        fk.sla(pipedrive, mql_target=10)
    opportunity_only = deals(["2025-01-01"], [None], as_of="2025-02-01")
    with pytest.raises(fk.ParameterError, match="needs the stage 'mql'"):
        fk.sla(opportunity_only, mql_target=10)
