"""Statistics checked against published values and simulation with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnelkit import stats
from funnelkit.metrics import period_labels


def test_wilson_matches_published_values():
    # Newcombe (1998), Table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605
    low, high = stats.wilson([81, 15], [263, 148])
    assert np.round(low, 4).tolist() == [0.2553, 0.0624]
    assert np.round(high, 4).tolist() == [0.3662, 0.1605]


def test_wilson_edges():
    low, high = stats.wilson([0, 5, 0], [5, 5, 0])
    assert low[0] == 0 and high[1] == 1
    assert np.isnan(low[2]) and np.isnan(high[2])


def test_wilson_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    truth, n, draws = 0.3, 2_000, 400
    successes = rng.binomial(n, truth, size=draws)
    low, high = stats.wilson(successes, np.full(draws, n))
    coverage = np.mean((low <= truth) & (truth <= high))
    assert 0.92 <= coverage <= 0.98


def test_two_proportion_test_known_value():
    # 30/100 vs 50/100: pooled p 0.4, z = -0.2 / sqrt(0.4*0.6*0.02) = -2.887, p = 0.00389
    assert stats.two_proportion_pvalue([30], [100], [50], [100])[0] == pytest.approx(0.00389, abs=1e-5)
    assert np.isnan(stats.two_proportion_pvalue([1], [0], [1], [2])[0])


def test_holm_adjustment():
    assert stats.holm([0.01, 0.04, 0.03, np.nan]).round(3).tolist()[:3] == [0.03, 0.06, 0.06]
    assert np.isnan(stats.holm([0.01, 0.04, 0.03, np.nan])[3])


def test_kaplan_meier_quantiles_by_hand():
    # five deals; the third is still open at 3 days: S(1)=.8 S(2)=.6 S(4)=.3 S(5)=0
    assert stats.km_quantiles([1, 2, 3, 4, 5], [1, 1, 0, 1, 1]) == [2.0, 4.0, 5.0]
    assert stats.km_quantiles([1, 2, 3, 4, 5], [1, 1, 1, 1, 1]) == [2.0, 3.0, 4.0]
    curve = stats.km_curve([1, 2, 3, 4, 5], [1, 1, 0, 1, 1])
    assert dict(zip(curve["days"], curve["survival"].round(3), strict=True)) == {
        0.0: 1.0, 1.0: 0.8, 2.0: 0.6, 3.0: 0.6, 4.0: 0.3, 5.0: 0.0
    }  # fmt: skip


def test_kaplan_meier_recovers_an_exponential_median_under_censoring():
    rng = np.random.default_rng(1)
    durations = rng.exponential(30.0, 20_000)  # true median 30 ln 2 = 20.79
    censor = rng.uniform(0, 60, 20_000)
    observed = durations <= censor
    median = stats.km_quantiles(np.minimum(durations, censor), observed, qs=(0.5,))[0]
    naive = np.median(durations[observed])
    assert median == pytest.approx(30 * np.log(2), rel=0.03)
    assert naive < 0.85 * 30 * np.log(2)  # dropping open deals biases the median low


def test_fiscal_quarter_labels():
    stamps = pd.Series(pd.to_datetime(["2025-01-31", "2025-02-01", "2025-07-01", "2026-01-31"], utc=True))
    assert period_labels(stamps, "Q").tolist() == ["2025 Q1", "2025 Q1", "2025 Q3", "2026 Q1"]
    assert period_labels(stamps, "Q", fiscal_year_start=2).tolist() == [
        "FY2025 Q4", "FY2026 Q1", "FY2026 Q2", "FY2026 Q4"
    ]  # fmt: skip
    assert period_labels(stamps, "Y", fiscal_year_start=7).tolist() == [
        "FY2025",
        "FY2025",
        "FY2026",
        "FY2026",
    ]
    assert period_labels(stamps, "M").tolist() == ["2025-01", "2025-02", "2025-07", "2026-01"]
    assert period_labels(stamps, "W").tolist()[0] == "2025-01-27"  # the Monday of that week


def test_period_labels_keep_the_rows_of_a_filtered_table():
    """Labels line up with the stamps' own index (a filtered table), and a missing stamp has none."""
    stamps = pd.Series(
        pd.to_datetime(["2025-03-31 23:59", None, "2024-12-01", "2025-03-01"], utc=True, format="ISO8601"),
        index=[40, 7, 19, 3],
    )
    labels = period_labels(stamps, "Q")
    assert labels.index.tolist() == [40, 7, 19, 3]
    assert labels.tolist()[0] == "2025 Q1" and pd.isna(labels[7])
    assert labels[[19, 3]].tolist() == ["2024 Q4", "2025 Q1"]
    assert period_labels(stamps, "W")[[40, 19]].tolist() == ["2025-03-31", "2024-11-25"]


def test_fast_kaplan_meier_probability_matches_scipy():
    from scipy import stats as sps

    rng = np.random.default_rng(3)
    days = np.round(rng.exponential(20, 3_000))  # ties on purpose
    observed = rng.random(3_000) < 0.7
    fit = sps.ecdf(sps.CensoredData(uncensored=days[observed], right=days[~observed]))
    for horizon in (0, 5, 17.5, 40, 500):
        expected = float(fit.cdf.evaluate(horizon))
        assert stats.km_probability(days, observed, horizon) == pytest.approx(expected)
    assert stats.km_probability([3, 4], [False, False], 10) == 0.0
