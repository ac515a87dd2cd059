"""Statistics behind every number funnelkit reports: intervals, tests, survival curves.

Pure, vectorised functions. Proportions get Wilson intervals; two rates are
compared with a two-proportion z-test; many comparisons are adjusted with
Holm's method (family-wise error) or Benjamini-Hochberg (false discovery
rate); times to an event with right-censoring use the Kaplan-Meier estimator
from :func:`scipy.stats.ecdf`.
"""

from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd

from .errors import SmallSampleWarning


def _sps():
    """scipy.stats, imported on first use (it takes half a second to import)."""
    from scipy import stats

    return stats


#: below this many observations a rate is shown as a count, not a precise-looking percentage
SMALL_N = 20


def wilson(successes, trials, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for proportions ``successes / trials``.

    Parameters
    ----------
    successes, trials : array-like of int
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    (low, high) : tuple of numpy.ndarray
        NaN where ``trials`` is 0.

    Examples
    --------
    >>> low, high = wilson([8], [10])
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.4902, 0.9433)
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)  # the standard library's: no scipy import for a constant
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    # at 0 or n successes the bound is exactly 0 or 1; rounding would leave 1e-17
    low = np.where(n > 0, np.where(x == 0, 0.0, np.clip(centre - half, 0, 1)), np.nan)
    high = np.where(n > 0, np.where(x == n, 1.0, np.clip(centre + half, 0, 1)), np.nan)
    return low, high


def two_proportion_pvalue(x1, n1, x2, n2) -> np.ndarray:
    """Two-sided p-value of the pooled two-proportion z-test (NaN where a group is empty).

    Examples
    --------
    >>> float(two_proportion_pvalue([30], [100], [50], [100])[0]) < 0.01
    True
    """
    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se
        p = 2 * _sps().norm.sf(np.abs(z))
    # identical proportions with zero variance: no evidence of a difference
    p = np.where((se == 0) & (n1 > 0) & (n2 > 0), 1.0, p)
    return np.where((n1 > 0) & (n2 > 0), p, np.nan)


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjustment of p-values (NaN entries stay NaN).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if m == 0:
        return out
    order = present[np.argsort(p[present], kind="stable")]
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def benjamini_hochberg(pvalues) -> np.ndarray:
    """Benjamini-Hochberg step-up adjustment (false discovery rate); NaN entries stay NaN.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if m == 0:
        return out
    order = present[np.argsort(p[present], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


#: multiple-comparison corrections by name
CORRECTIONS = {"holm": holm, "bh": benjamini_hochberg}


def mann_whitney_pvalue(a, b) -> float:
    """Two-sided Mann-Whitney U p-value of two samples of durations (NaN if one is empty)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(_sps().mannwhitneyu(a, b, alternative="two-sided").pvalue)


def kaplan_meier(durations, observed) -> object | None:
    """Kaplan-Meier fit of durations where ``observed`` is False for right-censored ones."""
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    keep = ~np.isnan(durations)
    durations, observed = np.maximum(durations[keep], 0.0), observed[keep]
    if not observed.any():
        return None
    sample = _sps().CensoredData(uncensored=durations[observed], right=durations[~observed])
    return _sps().ecdf(sample)


def km_quantiles(durations, observed, qs=(0.25, 0.5, 0.75)) -> list[float]:
    """Times by which a share ``q`` of the population has had the event (Kaplan-Meier).

    NaN where the curve never reaches ``q`` (too much censoring to say).

    Examples
    --------
    >>> km_quantiles([2, 4, 6, 8], [True, True, True, True], qs=(0.5,))
    [4.0]
    >>> km_quantiles([1, 2, 3, 4, 5], [True, True, False, True, True], qs=(0.5,))
    [4.0]
    >>> km_quantiles([2, 4, 6, 8], [True, False, False, False], qs=(0.5,))
    [nan]
    """
    fit = kaplan_meier(durations, observed)
    if fit is None:
        return [float("nan")] * len(qs)
    times = fit.cdf.quantiles
    cdf = fit.cdf.probabilities
    out = []
    for q in qs:
        reached = np.flatnonzero(cdf >= q - 1e-12)
        out.append(float(times[reached[0]]) if len(reached) else float("nan"))
    return out


def km_curve(durations, observed) -> pd.DataFrame:
    """Survival curve as a tidy frame: ``days``, ``survival`` (share not yet had the event)."""
    fit = kaplan_meier(durations, observed)
    if fit is None:
        return pd.DataFrame({"days": [0.0], "survival": [1.0]})
    days = np.concatenate([[0.0], fit.sf.quantiles])
    survival = np.concatenate([[1.0], fit.sf.probabilities])
    return pd.DataFrame({"days": days, "survival": survival})


def km_probability(durations, observed, horizon: float) -> float:
    """Kaplan-Meier estimate of the share that has had the event by ``horizon``.

    The product-limit estimate in plain numpy (it runs once per cohort and
    group, on millions of rows); tests check it against :func:`scipy.stats.ecdf`.
    """
    d = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    keep = ~np.isnan(d)
    d, e = np.maximum(d[keep], 0.0), e[keep]
    if not e.any():
        return 0.0
    order = np.argsort(d, kind="stable")
    d, e = d[order], e[order]
    times, first = np.unique(d, return_index=True)
    at_risk = len(d) - first
    events = np.add.reduceat(e.astype(np.int64), first)
    survival = np.cumprod(1.0 - events / at_risk)
    last = np.searchsorted(times, horizon, side="right") - 1
    return 0.0 if last < 0 else float(1.0 - survival[last])


def add_rate(frame: pd.DataFrame, successes: str, trials: str, *, prefix: str = "") -> pd.DataFrame:
    """Add ``rate``, ``ci_low``, ``ci_high`` and ``small_sample`` to ``frame`` (in place)."""
    x = frame[successes].to_numpy(dtype=float)
    n = frame[trials].to_numpy(dtype=float)
    low, high = wilson(x, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame[f"{prefix}rate"] = np.where(n > 0, x / n, np.nan)
    frame[f"{prefix}ci_low"] = low
    frame[f"{prefix}ci_high"] = high
    if not prefix:
        frame["small_sample"] = n < SMALL_N
    return frame


def warn_small(n: int, what: str, *, stacklevel: int = 3) -> None:
    """Warn when a single headline number rests on fewer than :data:`SMALL_N` observations.

    ``stacklevel`` 3 points the warning at the caller of the public function calling this.
    """
    if n < SMALL_N:
        warnings.warn(
            f"{what} rests on {n} observation(s); treat it as a count, not a rate",
            SmallSampleWarning,
            stacklevel=stacklevel,
        )
