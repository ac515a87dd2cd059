"""Many groups in one chart or table: the largest by volume, the rest together as "Other".

With 30 owners or 12 sources a chart becomes spaghetti and a table a page
long. :func:`top_groups` keeps the ``top`` groups with the most volume (leads
entered, deals closed...) and folds the others into one "Other" row per
remaining key (period, stage, currency). "Other" is recomputed from counts:
its rate is the summed successes over the summed trials, its interval the
Wilson interval of those sums; a rate is never averaged. Numbers that cannot
be recomputed from counts (a median, a p-value) are left blank for "Other",
and its ``note`` says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ParameterError
from .stats import SMALL_N, wilson
from .units import Unit, units_of

#: groups shown by name in one chart or table; the rest are "Other" (the palette has a colour for each)
TOP_GROUPS = 8
#: columns measuring a group's volume, the first one present ranks the groups
VOLUME_COLUMNS = ("entered", "closed", "n", "leads", "mqls", "reached", "open", "deals", "lost", "won")
#: rate column -> (successes, trials): the rate of "Other" is recomputed from these sums
RATE_PAIRS = {
    "rate": (("won", "closed"), ("converted", "entered"), ("successes", "n")),
    "value": (("successes", "n"),),
    "win_rate": (("won", "closed"),),
    "stopped_share": (("stopped", "reached"),),
    "within_target_rate": (("within_target", "mqls"),),
    "within_max_rate": (("within_max", "mqls"),),
    "never_touched_rate": (("never_touched", "mqls"),),
    "followed_up_rate": (("followed_up", "mqls"),),
}
#: ratio column -> (numerator, denominator) of sums: money per lead, per deal
RATIO_PAIRS = {
    "revenue_per_lead": ("won_revenue", "leads"),
    "revenue_per_mql": ("won_revenue", "mqls"),
    "cost_per_lead": ("spend", "leads"),
    "cost_per_won": ("spend", "won"),
}
#: interval columns -> the rate column they belong to
INTERVALS = {"ci_low": "rate", "ci_high": "rate"}
#: sums of money that may be added within one currency (each currency is its own key)
_MONEY_TOTALS = ("won_revenue", "lost_value", "open_value", "stalled_value", "pipeline", "spend", "amount")
_SENTENCES = ("note", "notes", "reason", "finding", "message", "description")


def other_label(count: int) -> str:
    """The name of the folded row: ``"Other (22 groups)"``."""
    return f"Other ({count:,} group{'s' * (count != 1)})"


def top_groups(table: pd.DataFrame, by: str, *, top: int = TOP_GROUPS, volume: str | None = None) -> pd.DataFrame:
    """The ``top`` groups of ``by`` with the most volume, the others folded into one "Other" group.

    Parameters
    ----------
    table : DataFrame
        A metric table with one row per group (and per period, stage or
        currency: the other text columns are kept as keys).
    by : str
        The group column. A table without it is returned as it is.
    top : int, keyword-only
        Groups kept by name. With at most ``top + 1`` groups nothing is folded
        (an "Other" of one group would only hide its name).
    volume : str, keyword-only, optional
        The count column ranking the groups (summed over the table). Default:
        the first of :data:`VOLUME_COLUMNS` present.

    Returns
    -------
    DataFrame
        The kept groups' rows as they were, then the "Other" rows (named by
        :func:`other_label`). Counts and money totals are summed; rates are
        successes / trials of the sums (:data:`RATE_PAIRS`) with their Wilson
        interval, money per lead or deal a ratio of sums; ``small_sample`` is
        recomputed; anything else numeric is blank for "Other", and its
        ``note`` says how many groups it holds and what could not be combined.
        ``attrs["other"]`` names the folded row (``None`` when nothing was
        folded); declared units are kept.

    Raises
    ------
    ParameterError
        When no volume column ranks the groups.

    Examples
    --------
    >>> table = pd.DataFrame({"owner": list("abcd"), "won": [5, 4, 1, 1], "closed": [10, 8, 4, 6],
    ...                       "rate": [0.5, 0.5, 0.25, 1 / 6]})
    >>> folded = top_groups(table, "owner", top=1)
    >>> folded["owner"].tolist(), folded["won"].tolist(), folded["closed"].tolist(), folded["rate"].round(3).tolist()
    (['a', 'Other (3 groups)'], [5, 6], [10, 18], [0.5, 0.333])
    """
    if by not in table:
        return table
    if top < 1:
        raise ParameterError(f"top must be a whole number of groups, at least 1; got {top!r}")
    rank_by = volume or next((c for c in VOLUME_COLUMNS if c in table), None)
    if rank_by is None or rank_by not in table:
        raise ParameterError(
            f"top_groups cannot rank the {by} groups by volume: the table has none of {list(VOLUME_COLUMNS)}"
            f"{'' if volume is None else f' (volume={volume!r} is not a column)'}; pass volume= a count column"
        )
    sizes = table.groupby(by, dropna=False, sort=False)[rank_by].sum()
    # largest first; ties by name so that the same table always keeps the same groups
    order = sorted(sizes.index, key=lambda g: (-float(sizes[g]), str(g)))
    if len(order) <= top + 1:
        out = table.copy()
        out.attrs = {**table.attrs, "other": None}
        return out
    kept, folded = order[:top], order[top:]
    is_kept = table[by].isin(kept).to_numpy()
    other = _fold(table[~is_kept], by, other_label(len(folded)), len(folded))
    out = pd.concat([table[is_kept], other], ignore_index=True)
    out.attrs = {**table.attrs, "other": other_label(len(folded))}
    return out


def _keys(table: pd.DataFrame, by: str) -> list[str]:
    """The text columns besides ``by`` that a row is per (period, stage, currency)."""
    return [
        c
        for c in table.columns
        if c != by
        and c not in _SENTENCES
        and not pd.api.types.is_numeric_dtype(table[c])
        and not pd.api.types.is_bool_dtype(table[c])
        and not pd.api.types.is_datetime64_any_dtype(table[c])
    ]


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _fold(rest: pd.DataFrame, by: str, label: str, count: int) -> pd.DataFrame:
    """One "Other" row per key of ``rest``, recomputed from summed counts."""
    units = units_of(rest)
    keys = _keys(rest, by)
    additive = [c for c in rest.columns if units.get(c) is Unit.COUNT or c in _MONEY_TOTALS]
    additive = [c for c in additive if _is_number(rest[c])]
    grouped = rest.groupby(keys, dropna=False, sort=False) if keys else rest.groupby(lambda _: 0)
    sums = grouped[additive].sum(min_count=1) if additive else grouped.size().to_frame("_rows")[[]]
    out = sums.reset_index() if keys else sums.reset_index(drop=True)
    out.insert(0, by, label)
    blank = []
    for column in rest.columns:
        if column in out or column == by:
            continue
        values = rest[column]
        if column in RATE_PAIRS:
            pair = next(((x, n) for x, n in RATE_PAIRS[column] if x in out and n in out), None)
            if pair is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[column] = (out[pair[0]] / out[pair[1]]).where(out[pair[1]] > 0)
                continue
        if column in RATIO_PAIRS and all(c in out for c in RATIO_PAIRS[column]):
            numerator, denominator = RATIO_PAIRS[column]
            out[column] = (out[numerator] / out[denominator]).where(out[denominator] > 0)
            continue
        if column in _SENTENCES:
            continue
        if pd.api.types.is_bool_dtype(values):
            if column == "mature":  # "Other" is final only when every group in it is
                out[column] = grouped[column].all().to_numpy()
            elif column != "small_sample":
                out[column] = False  # e.g. significant: no test was run for "Other", said in its note
                blank.append(column)
            continue
        if pd.api.types.is_datetime64_any_dtype(values):
            out[column] = values.iloc[0] if values.nunique(dropna=False) == 1 else pd.NaT
            continue
        out[column] = np.nan
        if pd.api.types.is_numeric_dtype(values) or column not in keys:
            blank.append(column)
    _recompute_intervals(out, rest)
    _recompute_small_sample(out, rest)
    blank = [c for c in blank if not (c in INTERVALS and out[c].notna().any())]
    note = f"{count:,} smaller groups together"
    if blank:
        note += f"; {', '.join(c.replace('_', ' ') for c in blank)} cannot be combined from their counts"
    out["note"] = note
    return out[[c for c in rest.columns if c in out] + [c for c in out.columns if c not in rest.columns]]


def _recompute_intervals(out: pd.DataFrame, rest: pd.DataFrame) -> None:
    if not {"ci_low", "ci_high", "rate"} <= set(rest.columns):
        return
    pair = next(((x, n) for x, n in RATE_PAIRS["rate"] if x in out and n in out), None)
    if pair is None:
        return
    low, high = wilson(out[pair[0]].to_numpy(dtype=float), out[pair[1]].to_numpy(dtype=float))
    out["ci_low"], out["ci_high"] = low, high


def _recompute_small_sample(out: pd.DataFrame, rest: pd.DataFrame) -> None:
    if "small_sample" not in rest:
        return
    trials = next((n for _, n in (*RATE_PAIRS["rate"], ("", "leads")) if n in out), None)
    out["small_sample"] = (out[trials] < SMALL_N).to_numpy() if trials else False
