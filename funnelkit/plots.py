"""One function per chart. Each takes a computed metrics table, draws on ``ax``
(or a new figure) and returns the Axes; none computes anything itself.

Colours are fixed per group name (:func:`palette`), so a source has the same
colour in every chart of a report.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")  # fmt: skip
FIGSIZE = (10, 5)


def palette(names) -> dict[str, str]:
    """A stable colour per group name (the same name gets the same colour in every chart)."""
    ordered = sorted({str(n) for n in names})
    return {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(ordered)}


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    return ax


def plot_funnel(dropoff: pd.DataFrame, *, ax=None, title: str = "Funnel: how many reach each stage"):
    """Horizontal funnel from :func:`funnelkit.dropoff`: bars of ``reached`` with the share kept."""
    ax = _axes(ax)
    table = dropoff.groupby("stage", sort=False)[["reached", "stopped"]].sum().reset_index()
    y = np.arange(len(table))[::-1]
    ax.barh(y, table["reached"], color="#1f77b4", alpha=0.85)
    top = max(table["reached"].max(), 1)
    for yi, (_, row) in zip(y, table.iterrows(), strict=True):
        kept = row["reached"] / table["reached"].iloc[0] if table["reached"].iloc[0] else np.nan
        ax.text(
            row["reached"] + top * 0.01,
            yi,
            f"{int(row['reached']):,}  ({kept:.0%} of entries)",
            va="center",
        )
    ax.set_yticks(y, [str(s) for s in table["stage"]])
    ax.set_xlabel("entities reaching the stage (count)")
    ax.set_xlim(0, top * 1.35)
    ax.set_title(title)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return ax


def plot_conversion_trend(table: pd.DataFrame, *, by: str | None = "source", ax=None, title: str | None = None):
    """Rate per period with its Wilson band, one line per group (from a rate table with
    ``period``, ``rate``, ``ci_low``, ``ci_high``: :func:`funnelkit.conversion` for one
    step, or :func:`funnelkit.win_rate`). Immature cohorts are drawn hollow."""
    ax = _axes(ax)
    groups = [(None, table)] if by is None or by not in table else list(table.groupby(by, sort=True))
    colours = palette([g for g, _ in groups if g is not None]) if by in table else {}
    periods = sorted(table["period"].dropna().unique())
    position = {p: i for i, p in enumerate(periods)}
    for name, group in groups:
        group = group.dropna(subset=["period"]).sort_values("period")
        x = group["period"].map(position).to_numpy()
        colour = colours.get(str(name), "#1f77b4")
        label = f"{name}" if name is not None else "all"
        ax.plot(x, group["rate"], marker="o", color=colour, label=label)
        ax.fill_between(x, group["ci_low"], group["ci_high"], color=colour, alpha=0.12)
        if "mature" in group:
            young = ~group["mature"].astype(bool).to_numpy()
            ax.scatter(
                x[young],
                group["rate"].to_numpy()[young],
                facecolor="white",
                edgecolor=colour,
                zorder=3,
                s=50,
            )
    ax.set_xticks(range(len(periods)), periods, rotation=45, ha="right")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("rate (95% Wilson band)")
    ax.set_xlabel("period")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Rate by period")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return ax


def plot_km(
    curve: pd.DataFrame,
    *,
    by: str | None = "source",
    ax=None,
    title: str = "Time to close (Kaplan-Meier)",
):
    """Share of deals still open against days since creation (from :func:`funnelkit.km_curve`)."""
    ax = _axes(ax)
    groups = [(None, curve)] if by is None or by not in curve else list(curve.groupby(by, sort=True))
    colours = palette([g for g, _ in groups if g is not None]) if by in curve else {}
    for name, group in groups:
        label = (
            f"{name} (n={int(group['n'].iloc[0]):,})" if name is not None else f"all (n={int(group['n'].iloc[0]):,})"
        )
        ax.step(
            group["days"],
            group["survival"],
            where="post",
            color=colours.get(str(name), "#1f77b4"),
            label=label,
        )
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("days since the opportunity was created")
    ax.set_ylabel("share of deals still open")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return ax


def plot_lead_value(table: pd.DataFrame, *, by: str = "source", ax=None, title: str = "Won revenue per lead"):
    """Bars of ``revenue_per_lead`` per group (:func:`funnelkit.lead_value`), with lead counts."""
    ax = _axes(ax)
    table = table.sort_values("revenue_per_lead")
    colours = palette(table[by])
    y = np.arange(len(table))
    ax.barh(y, table["revenue_per_lead"], color=[colours[str(g)] for g in table[by]])
    currency = table["currency"].dropna().iloc[0] if "currency" in table and table["currency"].notna().any() else ""
    for yi, (_, row) in zip(y, table.iterrows(), strict=True):
        ax.text(
            row["revenue_per_lead"],
            yi,
            f"  {row['revenue_per_lead']:,.0f} ({int(row['leads']):,} leads)",
            va="center",
        )
    ax.set_yticks(y, [str(g) for g in table[by]])
    ax.set_xlabel(f"won revenue per lead ({currency})".replace(" ()", ""))
    ax.set_xlim(0, max(table["revenue_per_lead"].max(), 1) * 1.35)
    ax.set_title(title)
    return ax


def plot_drift(table: pd.DataFrame, *, by: str = "source", value: str = "value", ax=None,
               title: str = "Rate by period (* = change beyond noise)"):  # fmt: skip
    """Heatmap of a :func:`funnelkit.drift` table: groups by periods, significant cells starred."""
    ax = _axes(ax)
    grid = table.pivot_table(index=by, columns="period", values=value, aggfunc="first")
    marks = table.pivot_table(index=by, columns="period", values="significant", aggfunc="first").reindex_like(grid)
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        if not np.isnan(v):
            star = "*" if bool(marks.iloc[i, j]) else ""
            ax.text(
                j,
                i,
                f"{v:.0%}{star}",
                ha="center",
                va="center",
                color="white" if v < np.nanmean(grid) else "black",
            )
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index])
    ax.figure.colorbar(image, ax=ax, format=PercentFormatter(1.0), label="rate")
    ax.set_title(title)
    return ax


def plot_sla_delivery(delivery: pd.DataFrame, *, ax=None, title: str = "MQLs delivered against the commitment"):
    """MQLs per period as bars against the target's tolerance band (``SLAResult.delivery``)."""
    ax = _axes(ax)
    colours = delivery["status"].map({"under": "#d62728", "within": "#2ca02c", "over": "#1f77b4"})
    x = np.arange(len(delivery))
    ax.bar(x, delivery["mqls"], color=colours)
    band = (delivery["low"].iloc[0], delivery["high"].iloc[0])
    ax.fill_between([-0.5, len(delivery) - 0.5], *band, color="grey", alpha=0.2, label="target +/- tolerance")
    ax.axhline(delivery["target"].iloc[0], color="black", linewidth=1, label="target")
    ax.set_xticks(x, delivery["period"], rotation=45, ha="right")
    ax.set_ylabel("MQLs delivered (count)")
    ax.set_xlabel("period")
    ax.set_title(title)
    ax.legend(frameon=False)
    return ax


def plot_conversion_steps(table: pd.DataFrame, *, by: str | None = "source", columns: int = 2):
    """Small multiples of :func:`plot_conversion_trend`, one panel per funnel step
    (from :func:`funnelkit.conversion` with ``period``). Returns the Figure."""
    steps = list(dict.fromkeys(zip(table["from_stage"], table["to_stage"], strict=True)))
    rows = -(-len(steps) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(8 * columns, 4.2 * rows), squeeze=False)
    for ax, (a, b) in zip(axes.flat, steps, strict=False):
        part = table[(table["from_stage"] == a) & (table["to_stage"] == b)]
        plot_conversion_trend(part, by=by, ax=ax, title=f"{a} → {b}")
        if ax is not axes.flat[columns - 1]:
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
    for ax in list(axes.flat)[len(steps) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
