"""Money in metrics: every figure in one currency, won deals without an amount counted apart.

Two rules hold for every revenue figure funnelkit gives:

- amounts of different currencies are never added: a table gives one row per
  currency, and a figure that must be one number (velocity, the plan's deal
  size, the quota line) takes the data's one currency or the one ``currency=``
  names, and otherwise refuses with the currencies found;
- a won deal without an amount is counted as won (win rates do not move) but
  left out of every revenue sum and average, and the number of such deals is
  given beside the figure (``won_without_amount`` or a note).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ParameterError

#: How amounts without a currency are named beside amounts that have one.
NO_CURRENCY = "no currency"


def currencies(frame: pd.DataFrame) -> list[str | None]:
    """The distinct currencies of the rows that carry an amount (``None``: amounts without one), sorted."""
    with_amount = frame.loc[frame["amount"].notna(), "currency"]
    found: list[str | None] = sorted(with_amount.dropna().unique().tolist())
    if with_amount.isna().any():
        found.append(None)
    return found


def currency_names(found: list[str | None]) -> str:
    """``"EUR, USD"``: the currencies for a message."""
    return ", ".join(NO_CURRENCY if c is None else str(c) for c in found)


def choose_currency(frame: pd.DataFrame, currency: str | None, *, what: str) -> tuple[str | None, np.ndarray | None]:
    """The currency a one-number money figure is in, and the rows of ``frame`` in it.

    Parameters
    ----------
    frame : DataFrame
        Rows with ``amount`` and ``currency``.
    currency : str or None
        The currency asked for (``None``: the data's one currency).
    what : str
        The figure, for the message ("velocity needs amounts in one currency").

    Returns
    -------
    (str or None, numpy.ndarray or None)
        The currency code (``None`` when the amounts name none) and a boolean mask
        of the rows in it, or ``None`` when every row counts (one currency or none).

    Raises
    ------
    ParameterError
        When the amounts are in several currencies and ``currency`` is not given,
        or ``currency`` is none of them.

    Examples
    --------
    >>> deals = pd.DataFrame({"amount": [1.0, 2.0, None], "currency": ["EUR", "USD", None]})
    >>> choose_currency(deals, "EUR", what="velocity")[1].tolist()
    [True, False, False]
    >>> try:
    ...     choose_currency(deals, None, what="velocity")
    ... except ParameterError as exc:
    ...     print(exc)
    velocity needs amounts in one currency, and this data's are in 2 (EUR, USD): pass currency= one of them
    """
    found = currencies(frame)
    if currency is None:
        if len(found) > 1:
            raise ParameterError(
                f"{what} needs amounts in one currency, and this data's are in {len(found)} "
                f"({currency_names(found)}): pass currency= one of them"
            )
        return (found[0] if found else None), None
    named = [c for c in found if c is not None]
    if not named:  # amounts that name no currency are in the one the caller says
        return currency, None
    if currency not in named:
        raise ParameterError(f"{what}: currency={currency!r}, but this data's amounts are in {currency_names(found)}")
    if len(found) == 1:
        return currency, None
    return currency, frame["currency"].eq(currency).fillna(False).to_numpy(dtype=bool)


def won_without_amount(frame: pd.DataFrame) -> pd.Series:
    """Won deals whose amount is blank: won, but in no revenue figure."""
    return frame["is_won"].astype(bool) & frame["amount"].isna()


def without_amount_note(count: int) -> str:
    """The sentence that goes beside a revenue figure that leaves won deals out."""
    deals = "deal has" if count == 1 else "deals have"
    return f"{count:,} won {deals} no amount: counted as won, left out of revenue sums and averages"
