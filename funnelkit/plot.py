"""One-call charts for the notebook: compute a metric and draw it.

``fk.plot.conversion(data, by="source", period="Q")`` is
``plots.plot_conversion_steps(fk.conversion(data, by="source", period="Q"), by="source")``
in one call. Each function takes the loaded :class:`~funnelkit.Dataset`, the
metric's own keyword options (passed through unchanged, so they mean what they
mean in the metric) and the chart's ``ax`` and ``top``, and returns what the
chart returns (an Axes, or a Figure of small multiples). The report notebooks
keep calling :mod:`funnelkit.plots` on the tables they show.

Examples
--------
>>> import funnelkit as fk
>>> data = fk.load("tests/data/salesforce_report", cache=False)
>>> fk.plot.win_rate(data).get_title()
'Win rate by period of close'
"""

from __future__ import annotations

from . import metrics, plots
from .groups import TOP_GROUPS


def conversion(data, *, by=None, period: str = "Q", ax=None, top: int | None = TOP_GROUPS, **options):
    """Conversion per period with its 95% band: one panel per step, or one chart for one step.

    Parameters
    ----------
    data : Dataset
    by, period
        As :func:`funnelkit.conversion`.
    ax : matplotlib Axes, optional
        For one step only (``from_stage=`` and ``to_stage=`` given).
    top : int or None
        Groups drawn by name; the rest are "Other".
    **options
        Passed to :func:`funnelkit.conversion` (``from_stage``, ``to_stage``, ...).

    Returns
    -------
    matplotlib Axes (one step) or Figure (every step)
    """
    table = metrics.conversion(data, by=by, period=period, **options)
    group = by if isinstance(by, str) else None
    steps = table[["from_stage", "to_stage"]].drop_duplicates()
    if len(steps) == 1:
        a, b = steps.iloc[0]
        title = f"{plots.chart_text(a)} → {plots.chart_text(b)} by period of entry"
        return plots.plot_conversion_trend(table, by=group, ax=ax, title=title, top=top)
    return plots.plot_conversion_steps(table, by=group, top=top)


def win_rate(data, *, by=None, period: str = "Q", ax=None, top: int | None = TOP_GROUPS, **options):
    """Win rate per period of close with its 95% band, one line per group (:func:`funnelkit.win_rate`)."""
    table = metrics.win_rate(data, by=by, period=period, **options)
    group = by if isinstance(by, str) else None
    return plots.plot_conversion_trend(table, by=group, ax=ax, title="Win rate by period of close", top=top)


def funnel(data, *, by=None, ax=None, top: int | None = 5):
    """The funnel with drop-off (:func:`funnelkit.dropoff`), one bar per group with ``by``."""
    return plots.plot_funnel(metrics.dropoff(data, by=by), by=by, ax=ax, top=top)


def time_to_close(data, *, by=None, ax=None, top: int | None = TOP_GROUPS, **options):
    """Kaplan-Meier curves of time to close (:func:`funnelkit.km_curve`), open deals censored."""
    return plots.plot_km(metrics.km_curve(data, by=by, **options), by=by, ax=ax, top=top)


def drift(data, *, metric: str = "win_rate", by="source", period: str = "Q", ax=None,
          top: int | None = TOP_GROUPS, **options):  # fmt: skip
    """Heatmap of each group's value per period, changes beyond noise starred (:func:`funnelkit.drift`)."""
    table = metrics.drift(data, metric=metric, by=by, period=period, **options)
    return plots.plot_drift(table, by=by, metric=metric, ax=ax, top=top)


def lead_value(data, *, by="source", ax=None, top: int | None = TOP_GROUPS, **options):
    """Won revenue per lead per group (:func:`funnelkit.lead_value`)."""
    return plots.plot_lead_value(metrics.lead_value(data, by=by, **options), by=by, ax=ax, top=top)


def pipeline(data, *, ax=None, **options):
    """Open pipeline by stage, per currency (:func:`funnelkit.pipeline`)."""
    return plots.plot_pipeline(metrics.pipeline(data, **options), ax=ax)


def lost_reasons(data, *, top: int = 10, ax=None, **options):
    """Why deals are lost, the most frequent reasons first (:func:`funnelkit.lost_reasons`)."""
    return plots.plot_lost_reasons(metrics.lost_reasons(data, top=top, **options), ax=ax)
