"""Statistics in Python on the small aggregates the engine returns.

Durations come back as counts per distinct value (per day when the CRM
exports dates, per second when it exports times), never as one row per deal;
the functions here give exactly what :mod:`funnelkit.stats` gives on the rows.
"""

from __future__ import annotations

import numpy as np


def km_quantiles_from_counts(times, events, censored, qs=(0.25, 0.5, 0.75)) -> list[float]:
    """Kaplan-Meier quantiles from per-time counts of events and censored observations.

    The product-limit estimate as :func:`scipy.stats.ecdf` computes it on the
    rows (``sf = cumprod((n - d) / n)`` over the distinct times) and read as
    :func:`funnelkit.stats.km_quantiles` reads it: the first time by which a
    share ``q`` has had the event; NaN where the curve never gets there.

    Examples
    --------
    >>> km_quantiles_from_counts([1, 2, 3, 4, 5], [1, 1, 0, 1, 1], [0, 0, 1, 0, 0], qs=(0.5,))
    [4.0]
    >>> km_quantiles_from_counts([2, 4], [1, 0], [0, 3], qs=(0.5,))
    [nan]
    """
    times, survival = _km_survival(times, events, censored)
    if times is None:
        return [float("nan")] * len(qs)
    cdf = 1 - survival
    out = []
    for q in qs:
        reached = np.flatnonzero(cdf >= q - 1e-12)
        out.append(float(times[reached[0]]) if len(reached) else float("nan"))
    return out


def km_curve_from_counts(times, events, censored) -> tuple[np.ndarray, np.ndarray]:
    """Survival curve (``days``, ``survival``) from per-time counts, starting at (0, 1)."""
    times, survival = _km_survival(times, events, censored)
    if times is None:
        return np.array([0.0]), np.array([1.0])
    return np.concatenate([[0.0], times]), np.concatenate([[1.0], survival])


def _km_survival(times, events, censored):
    times = np.asarray(times, dtype=float)
    events = np.asarray(events, dtype=np.int64)
    censored = np.asarray(censored, dtype=np.int64)
    if events.sum() == 0:
        return None, None
    order = np.argsort(times, kind="stable")
    times, events, censored = times[order], events[order], censored[order]
    total = events + censored
    at_risk = total.sum() - np.concatenate([[0], np.cumsum(total)[:-1]])
    return times, np.cumprod((at_risk - events) / at_risk)


def median_from_counts(values, counts) -> float:
    """The median of a sample given as distinct values and how often each occurs (NaN if empty).

    Examples
    --------
    >>> median_from_counts([1.0, 3.0, 10.0], [2, 1, 1])
    2.0
    """
    values, ends, n = _sorted_counts(values, counts)
    if n == 0:
        return float("nan")
    middle = _nth(values, ends, (n - 1) // 2)
    # as numpy's median: the mean of the two middle values of an even sample
    return float(middle) if n % 2 else float(np.mean([middle, _nth(values, ends, n // 2)]))


def quantile_from_counts(values, counts, q: float) -> float:
    """``numpy.quantile(sample, q)`` (linear interpolation) of a sample given as value counts.

    Examples
    --------
    >>> quantile_from_counts([0.0, 10.0], [3, 1], 0.75)
    2.5
    """
    values, ends, n = _sorted_counts(values, counts)
    if n == 0:
        return float("nan")
    position = (n - 1) * q
    low = int(np.floor(position))
    a, b = _nth(values, ends, low), _nth(values, ends, min(low + 1, n - 1))
    # interpolated by numpy itself, so that equal samples give equal numbers to the last bit
    return float(np.quantile(np.array([a, b]), position - low))


def _sorted_counts(values, counts):
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    keep = counts > 0
    order = np.argsort(values[keep], kind="stable")
    return values[keep][order], np.cumsum(counts[keep][order]), int(counts[keep].sum())


def _nth(values: np.ndarray, ends: np.ndarray, k: int) -> float:
    """The k-th smallest (0-based) of the sample whose sorted distinct values end at ``ends``."""
    return values[np.searchsorted(ends, k, side="right")]
