"""How funnelkit's results show in JupyterLab: formatted by unit, like the report's tables.

A metric table is a plain :class:`pandas.DataFrame` (so that it compares,
concatenates and exports like any other); what makes it a funnelkit result is
the units it declares in ``attrs["units"]`` (:func:`funnelkit.units.declare`).
:func:`register` teaches IPython to show such frames, and :class:`funnelkit.Review`
and :class:`funnelkit.SLAResult`, through :mod:`funnelkit.present`; every other
frame keeps pandas' own display. ``import funnelkit`` inside IPython registers
them; nothing else changes (no DataFrame subclass, no patched pandas method).
"""

from __future__ import annotations

import sys

import pandas as pd


def is_result(frame) -> bool:
    """A DataFrame that declares its units (a funnelkit metric's table)."""
    return isinstance(frame, pd.DataFrame) and bool(frame.attrs.get("units") or frame.attrs.get("metric"))


def frame_html(frame: pd.DataFrame) -> str:
    """A metric table as in the report (:func:`funnelkit.present.table_html`); other frames as pandas shows them."""
    from .present import table_html

    if not is_result(frame) or not isinstance(frame.index, pd.RangeIndex):
        return frame._repr_html_()
    return "<div class='fk-result'>" + table_html(frame) + "</div>"


def register(shell=None) -> bool:
    """Show funnelkit results formatted by unit in this IPython session.

    Parameters
    ----------
    shell : IPython shell, optional
        Default: the running one.

    Returns
    -------
    bool
        Whether a shell was found and the formatters registered.
    """
    if shell is None:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    from .metrics import SLAResult
    from .present import review_html, sla_html
    from .review import Review

    html = shell.display_formatter.formatters["text/html"]
    html.for_type(pd.DataFrame, frame_html)
    html.for_type(Review, review_html)
    html.for_type(SLAResult, sla_html)
    return True
