"""One function per chart. Each takes a computed metrics table, draws on ``ax``
(or a new figure) and returns the Axes; none computes anything itself.

Colours are fixed per group name for the whole session (:func:`palette`), so a
source keeps its colour in every chart of a report even when a chart shows
only some of the sources. Charts are sized for a report page or a slide
(:data:`FIGSIZE`, 10 x 5 inches).

Text drawn from data (sources, owners, stages, periods, currencies) goes
through :func:`funnelkit.safety.display_label` (one line, at most 60
characters) and has its ``$`` escaped, so a label is never read as mathtext.
Any script renders as itself: the first chart sets matplotlib's font family to
DejaVu Sans followed by the CJK fonts installed (:func:`use_report_fonts`;
matplotlib falls back per glyph), unless the session already chose its own
fonts. Characters that no installed font can draw are named once in
:func:`funnelkit.safety.display_notes`, which the report's data-quality
section lists.

Examples
--------
>>> import pandas as pd
>>> from funnelkit import plots
>>> table = pd.DataFrame({"period": ["2025 Q1", "2025 Q2"], "rate": [0.2, 0.25],
...                       "ci_low": [0.15, 0.2], "ci_high": [0.26, 0.31]})
>>> ax = plots.plot_conversion_trend(table, by=None, title="Win rate")
>>> ax.get_title()
'Win rate'
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from functools import cache
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.ticker import FuncFormatter, PercentFormatter

from .safety import display_label, display_note
from .schema import stage_label
from .stats import SMALL_N

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")  # fmt: skip
FIGSIZE = (10, 5)
_ASSIGNED: dict[str, str] = {}

#: the font for Latin, Greek, Cyrillic, Turkish and Arabic text; charts look the same on every machine
BASE_FONT = "DejaVu Sans"
#: fonts with Chinese (simplified, traditional), Japanese and Korean glyphs, used in this order where installed:
#: Debian's fonts-noto-cjk, Adobe's Source Han Sans, then what Windows and macOS ship
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK TC", "Source Han Sans SC", "Source Han Sans TC", "Microsoft YaHei",
             "Microsoft JhengHei", "PingFang SC", "PingFang TC", "Hiragino Sans GB", "Noto Sans CJK JP",
             "WenQuanYi Zen Hei", "SimHei")  # fmt: skip
_CJK_FILE = re.compile(r"CJK|SourceHanSans|msyh|msjh|PingFang|Hiragino|wqy-zenhei|simhei", re.IGNORECASE)
_DEFAULT_FAMILY = ["sans-serif"]
_MISSING_GLYPHS: set[str] = set()


@cache
def installed_cjk_fonts() -> tuple[str, ...]:
    """The fonts of :data:`CJK_FONTS` that matplotlib finds on this machine, in that order.

    matplotlib caches its font list the first time it runs; a font installed
    since (``make browser`` installs fonts-noto-cjk) is added from the system's
    font folders.
    """
    known = {entry.name for entry in font_manager.fontManager.ttflist}
    if not known & set(CJK_FONTS):
        for path in font_manager.findSystemFonts():
            if _CJK_FILE.search(Path(path).name):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue  # an unreadable font file: the next one may do
        known = {entry.name for entry in font_manager.fontManager.ttflist}
    return tuple(name for name in CJK_FONTS if name in known)


def use_report_fonts() -> list[str]:
    """Set matplotlib's font family to :data:`BASE_FONT` followed by the installed CJK fonts.

    matplotlib (3.6 and later) takes each glyph from the first font of the
    list that has it, so Chinese, Turkish and Cyrillic labels all render as
    themselves. The charts call this on first use unless the session chose
    its own ``font.family``.

    Returns
    -------
    list of str
        The font family list now in ``matplotlib.rcParams``.
    """
    families = [BASE_FONT, *installed_cjk_fonts()]
    mpl.rcParams["font.family"] = families
    return families


def _fonts_for_charts() -> None:
    current = list(mpl.rcParams["font.family"])
    if current == _DEFAULT_FAMILY or current[:1] == [BASE_FONT]:
        use_report_fonts()


@cache
def _covered(families: tuple[str, ...]) -> frozenset[int]:
    """Code points that some font of ``families`` can draw (matplotlib's Last Resort boxes not counted)."""
    covered: set[int] = set()
    for family in families:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
            covered.update(font_manager.get_font(path).get_charmap())
        except (OSError, RuntimeError, ValueError):
            continue  # not installed
    return frozenset(covered)


def _note_missing_glyphs(text: str) -> None:
    covered = _covered(tuple(mpl.rcParams["font.family"]))
    # spaces, format characters (joiners) and combining marks are drawn with their neighbours
    missing = {ch for ch in text if ord(ch) not in covered and unicodedata.category(ch) not in ("Zs", "Cf", "Mn")}
    if not missing - _MISSING_GLYPHS:
        return
    _MISSING_GLYPHS.update(missing)
    examples = ", ".join(repr(ch) for ch in sorted(_MISSING_GLYPHS)[:10])
    display_note(
        "chart-glyphs",
        f"Some chart labels hold characters that no installed font can draw ({examples}); the charts show them "
        "as empty boxes. Installing a font that covers them fixes it (Debian and Ubuntu: fonts-noto-cjk for "
        "Chinese, Japanese and Korean).",
    )


def chart_text(value, *, legend: bool = False) -> str:
    r"""A data value as text to draw: a short one-line label whose ``$`` is not read as mathtext.

    Parameters
    ----------
    value : object
        A source, owner, stage, period, currency...
    legend : bool, keyword-only
        A legend label: one starting with ``_`` gets a leading space, as
        matplotlib leaves such labels out of legends.

    Returns
    -------
    str

    Examples
    --------
    >>> print(chart_text("Promo $$"))
    Promo \$\$
    >>> len(chart_text("x" * 100_000))
    60
    """
    text = display_label(value)
    _note_missing_glyphs(text)
    text = text.replace("$", r"\$")
    return " " + text if legend and text.startswith("_") else text


def _tight_layout(fig) -> None:
    # a figure too crowded to tighten is still readable; matplotlib's warning about it is noise in a report
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()


def palette(names) -> dict[str, str]:
    """A colour per group name that stays the same in every chart of the session.

    Names seen for the first time take the next free colour (new names in
    sorted order), so charts showing different subsets of sources agree.

    Examples
    --------
    >>> first = palette(["Web", "Events"])
    >>> palette(["Web"])["Web"] == first["Web"]
    True
    """
    for name in sorted({str(n) for n in names} - set(_ASSIGNED)):
        _ASSIGNED[name] = COLOURS[len(_ASSIGNED) % len(COLOURS)]
    return {str(n): _ASSIGNED[str(n)] for n in names}


def _axes(ax, figsize=FIGSIZE):
    _fonts_for_charts()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    else:
        # texts of an Axes made before the fonts were set keep the fonts of their day (boxes for Chinese)
        family = mpl.rcParams["font.family"]
        ticks = [*ax.xaxis.get_major_ticks(), *ax.yaxis.get_major_ticks()]
        for text in (ax.title, ax.xaxis.label, ax.yaxis.label, *(t.label1 for t in ticks), *(t.label2 for t in ticks)):
            text.set_fontfamily(family)
    return ax


def _groups(table: pd.DataFrame, by: str | None):
    if by is None or by not in table:
        return [(None, table)], {}
    groups = list(table.groupby(by, sort=True))
    return groups, palette([name for name, _ in groups])


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def plot_funnel(dropoff: pd.DataFrame, *, ax=None, title: str = "How many reach each stage, and where they stop"):
    """Horizontal funnel with drop-off, from :func:`funnelkit.dropoff`.

    Each bar is the number that reached the stage; its light part is the
    share that went no further (lost, disqualified or still open there).
    Labels give the count and the conversion from the stage before.

    Parameters
    ----------
    dropoff : DataFrame
        ``stage``, ``reached``, ``stopped`` (one row per stage, funnel order).
    ax : matplotlib Axes, optional
    title : str

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    table = dropoff.groupby("stage", sort=False)[["reached", "stopped"]].sum().reset_index()
    reached = table["reached"].to_numpy(dtype=float)
    stopped = table["stopped"].to_numpy(dtype=float)
    y = np.arange(len(table))[::-1]
    last = len(table) - 1
    went_on = np.where(np.arange(len(table)) == last, reached, reached - stopped)
    ax.barh(y, went_on, color="#1f77b4", label="went on to the next stage")
    stop_part = np.where(np.arange(len(table)) == last, 0, stopped)
    ax.barh(y, stop_part, left=went_on, color="#c6dbef", label="stopped at this stage")
    top = max(reached.max(), 1)
    for i, yi in enumerate(y):
        text = f"{reached[i]:,.0f}"
        if i > 0 and reached[i - 1]:
            text += f"   {reached[i] / reached[i - 1]:.0%} of {chart_text(stage_label(table['stage'].iloc[i - 1]))}"
        if i < last and reached[i]:
            text += f"   ({stopped[i] / reached[i]:.0%} stop here)"
        ax.text(reached[i] + top * 0.01, yi, text, va="center", fontsize=10)
    ax.set_yticks(y, [chart_text(stage_label(s)) for s in table["stage"]])
    ax.set_xlabel("leads / deals reaching the stage (count)")
    ax.set_xlim(0, top * 1.6)
    ax.set_title(title)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_conversion_trend(table: pd.DataFrame, *, by: str | None = "source", ax=None, title: str | None = None,
                          ylabel: str = "rate (line) and its 95% interval (band)"):  # fmt: skip
    """Rate per period with its 95% band, one line per group.

    From a rate table with ``period``, ``rate``, ``ci_low``, ``ci_high``
    (:func:`funnelkit.conversion` for one step, or :func:`funnelkit.win_rate`).
    Cohorts marked ``mature == False`` are drawn hollow (still converting).

    Parameters
    ----------
    table : DataFrame
    by : str or None
        Group column (one line per group); ``None`` or absent: one line.
    ax : matplotlib Axes, optional
    title, ylabel : str

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    groups, colours = _groups(table, by)
    periods = sorted(table["period"].dropna().unique())
    position = {p: i for i, p in enumerate(periods)}
    for name, group in groups:
        group = group.dropna(subset=["period"]).sort_values("period")
        if group.empty:  # a step counted over all time only (see its note): nothing to draw per period
            continue
        x = group["period"].map(position).to_numpy()
        colour = colours.get(str(name), "#1f77b4")
        label = "all" if name is None else chart_text(name, legend=True)
        ax.plot(x, group["rate"], marker="o", color=colour, label=label)
        ax.fill_between(x, group["ci_low"], group["ci_high"], color=colour, alpha=0.12, linewidth=0)
        if "mature" in group:
            young = ~group["mature"].astype(bool).to_numpy()
            ax.scatter(x[young], group["rate"].to_numpy()[young], facecolor="white", edgecolor=colour, zorder=3, s=50)
    if not periods and {"entered", "converted"} <= set(table.columns) and table["entered"].sum() > 0:
        entered, converted = int(table["entered"].sum()), int(table["converted"].sum())
        ax.text(0.5, 0.5, f"not measurable per period of entry (see the note)\nover all time: {converted:,} of "
                f"{entered:,} ({converted / entered:.0%})", transform=ax.transAxes, ha="center", va="center",
                color="#555555")  # fmt: skip
    ax.set_xticks(range(len(periods)), [chart_text(p) for p in periods], rotation=45, ha="right")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(ylabel)
    ax.set_xlabel("period")
    ax.set_ylim(0, 1.0 if table["ci_high"].max() > 0.6 else max(table["ci_high"].max() * 1.15, 0.05))
    ax.set_title(title or "Rate by period")
    if by is not None and by in table:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    _tidy(ax)
    return ax


def plot_rate_panels(table: pd.DataFrame, *, by: str = "source", columns: int = 3, title: str | None = None,
                     total: pd.DataFrame | None = None):  # fmt: skip
    """Small multiples: one panel per group, its rate per period with the 95% band.

    Easier to read than one chart with every group's band on top of each
    other. Periods where the group has fewer than 20 observations are drawn
    hollow. ``total`` (the same table without ``by``) is drawn in grey in
    every panel for comparison.

    Parameters
    ----------
    table : DataFrame
        ``by``, ``period``, ``rate``, ``ci_low``, ``ci_high`` and optionally
        ``small_sample`` (:func:`funnelkit.win_rate` or one step of
        :func:`funnelkit.conversion`, with ``by`` and ``period``).
    by : str
    columns : int
        Panels per row.
    title : str, optional
        Figure title.
    total : DataFrame, optional
        ``period``, ``rate`` for all groups together.

    Returns
    -------
    matplotlib Figure
    """
    groups, colours = _groups(table, by)
    periods = sorted(table["period"].dropna().unique())
    position = {p: i for i, p in enumerate(periods)}
    rows = -(-len(groups) // columns)
    _fonts_for_charts()
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.3 * rows), squeeze=False, sharey=True)
    top = 1.0 if table["ci_high"].max() > 0.6 else max(table["ci_high"].max() * 1.15, 0.05)
    for ax, (name, group) in zip(axes.flat, groups, strict=False):
        group = group.dropna(subset=["period"]).sort_values("period")
        x = group["period"].map(position).to_numpy()
        colour = colours.get(str(name), "#1f77b4")
        if total is not None:
            t = total.dropna(subset=["period"]).sort_values("period")
            ax.plot(t["period"].map(position), t["rate"], color="#999999", linewidth=1.2, label="all")
        ax.fill_between(x, group["ci_low"], group["ci_high"], color=colour, alpha=0.18, linewidth=0)
        ax.plot(x, group["rate"], color=colour, marker="o", label=chart_text(name, legend=True))
        if "small_sample" in group:
            small = group["small_sample"].astype(bool).to_numpy()
            ax.scatter(x[small], group["rate"].to_numpy()[small], facecolor="white", edgecolor=colour, zorder=3, s=40)
        counted = next((c for c in ("closed", "entered", "n") if c in group), None)
        label = chart_text(name)
        ax.set_title(f"{label} (n={int(group[counted].sum()):,})" if counted else label, fontsize=11)
        ax.set_xticks(range(len(periods)), [chart_text(p) for p in periods], rotation=45, ha="right", fontsize=8)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(0, top)
        _tidy(ax)
    for ax in axes[:, 0]:
        ax.set_ylabel("rate (95% band)")
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=13)
    _tight_layout(fig)
    return fig


def plot_km(curve: pd.DataFrame, *, by: str | None = "source", ax=None, title: str = "Time to close (Kaplan-Meier)"):
    """Share of deals still open against days since creation, one step curve per group.

    Parameters
    ----------
    curve : DataFrame
        :func:`funnelkit.km_curve`: ``days``, ``survival``, ``n`` and the ``by`` column.
    by : str or None
    ax : matplotlib Axes, optional
    title : str

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    groups, colours = _groups(curve, by)
    for name, group in groups:
        n = int(group["n"].iloc[0]) if "n" in group else len(group)
        label = f"{'all' if name is None else chart_text(name, legend=True)} (n={n:,})"
        ax.step(group["days"], group["survival"], where="post", color=colours.get(str(name), "#1f77b4"), label=label)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.text(ax.get_xlim()[1], 0.51, "median ", ha="right", va="bottom", color="grey", fontsize=9)
    ax.set_xlabel("days since the opportunity was created")
    ax.set_ylabel("share of deals still open")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    _tidy(ax)
    return ax


def plot_lead_value(table: pd.DataFrame, *, by: str = "source", ax=None, title: str = "Won revenue per lead"):
    """Bars of won revenue per lead per group, labelled with the lead count.

    Parameters
    ----------
    table : DataFrame
        :func:`funnelkit.lead_value`: ``by``, ``revenue_per_lead``, ``leads``,
        optionally ``currency``.
    by : str
    ax : matplotlib Axes, optional
    title : str

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    table = table.sort_values("revenue_per_lead")
    colours = palette(table[by])
    y = np.arange(len(table))
    ax.barh(y, table["revenue_per_lead"], color=[colours[str(g)] for g in table[by]])
    currency = table["currency"].dropna().iloc[0] if "currency" in table and table["currency"].notna().any() else ""
    currency = chart_text(currency)
    for yi, value, leads in zip(y, table["revenue_per_lead"], table["leads"], strict=True):
        ax.text(value, yi, f"  {value:,.0f} {currency} per lead ({int(leads):,} leads)", va="center", fontsize=10)
    ax.set_yticks(y, [chart_text(g) for g in table[by]])
    ax.set_xlabel(f"won revenue per lead ({currency})".replace(" ()", ""))
    ax.set_xlim(0, max(table["revenue_per_lead"].max(), 1) * 1.5)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_drift(table: pd.DataFrame, *, by: str = "source", value: str = "value", ax=None,
               title: str = "Win rate by period (* = change beyond noise)"):  # fmt: skip
    """Heatmap of a :func:`funnelkit.drift` table: groups by periods.

    Cells with a change beyond noise are starred and outlined; cells resting
    on fewer than 20 observations show the counts (``3/5``) in grey instead
    of a percentage.

    Parameters
    ----------
    table : DataFrame
        ``by``, ``period``, ``value``, ``significant`` and optionally ``n``,
        ``successes``.
    by : str
    value : str
        Column holding the rate.
    ax : matplotlib Axes, optional
    title : str

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, figsize=(10, 0.6 * table[by].nunique() + 2) if by in table else FIGSIZE)
    grid = table.pivot_table(index=by, columns="period", values=value, aggfunc="first")
    marks = table.pivot_table(index=by, columns="period", values="significant", aggfunc="first").reindex_like(grid)
    has_n = {"n", "successes"} <= set(table.columns)
    n = table.pivot_table(index=by, columns="period", values="n", aggfunc="first").reindex_like(grid) if has_n else None
    hits = (
        table.pivot_table(index=by, columns="period", values="successes", aggfunc="first").reindex_like(grid)
        if has_n
        else None
    )
    values = grid.to_numpy(dtype=float)
    small = (n.to_numpy(dtype=float) < SMALL_N) if has_n else np.zeros_like(values, dtype=bool)
    shown = np.where(small, np.nan, values)
    top = max(np.nanmax(values) if np.isfinite(values).any() else 1, 0.05)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=top, aspect="auto")
    cutoff = np.nanmax(shown) * 0.6 if np.isfinite(shown).any() else 1
    for (i, j), v in np.ndenumerate(values):
        if np.isnan(v):
            continue
        if small[i, j]:
            ax.text(j, i, f"{int(hits.iloc[i, j])}/{int(n.iloc[i, j])}", ha="center", va="center", color="#888888",
                    fontsize=9)  # fmt: skip
            continue
        star = bool(marks.iloc[i, j]) if pd.notna(marks.iloc[i, j]) else False
        ax.text(j, i, f"{v:.0%}{'*' if star else ''}", ha="center", va="center",
                color="white" if v > cutoff else "black", fontweight="bold" if star else "normal")  # fmt: skip
        if star:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=2))
    ax.set_xticks(range(grid.shape[1]), [chart_text(c) for c in grid.columns], rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), [chart_text(i) for i in grid.index])
    ax.figure.colorbar(image, ax=ax, format=PercentFormatter(1.0), label="rate", fraction=0.04)
    ax.set_xlabel("period")
    ax.set_title(title + ("; grey: fewer than 20, shown as won/closed" if has_n and small.any() else ""))
    return ax


def plot_sla_delivery(delivery: pd.DataFrame, *, ax=None, title: str = "MQLs delivered against the commitment"):
    """MQLs per period as bars against the target's tolerance band (``SLAResult.delivery``).

    Bars are red under the band, green within it, blue over it.

    Parameters
    ----------
    delivery : DataFrame
        ``period``, ``mqls``, ``target``, ``low``, ``high``, ``status``.
    ax : matplotlib Axes, optional
    title : str

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    colours = delivery["status"].map({"under": "#d62728", "within": "#2ca02c", "over": "#1f77b4"})
    x = np.arange(len(delivery))
    ax.bar(x, delivery["mqls"], color=colours.fillna("#7f7f7f").tolist())
    ax.fill_between(x, delivery["low"], delivery["high"], step="mid", color="grey", alpha=0.25,
                    label="target +/- tolerance")  # fmt: skip
    ax.step(x, delivery["target"], where="mid", color="black", linewidth=1.2, label="target")
    ax.set_xticks(x, [chart_text(p) for p in delivery["period"]], rotation=45, ha="right")
    ax.set_ylabel("MQLs delivered (count)")
    ax.set_xlabel("period")
    ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ("#d62728", "#2ca02c", "#1f77b4")]
    extra = ax.get_legend_handles_labels()
    ax.legend(handles + extra[0], ["under target", "on target", "over target", *extra[1]], frameon=False,
              loc="upper left", bbox_to_anchor=(1.01, 1))  # fmt: skip
    _tidy(ax)
    return ax


def plot_conversion_steps(table: pd.DataFrame, *, by: str | None = "source", columns: int = 2):
    """Small multiples of :func:`plot_conversion_trend`, one panel per funnel step.

    Parameters
    ----------
    table : DataFrame
        :func:`funnelkit.conversion` with ``period``: ``from_stage``, ``to_stage``,
        ``period``, ``rate``, ``ci_low``, ``ci_high``, ``mature`` and the ``by`` column.
    by : str or None
    columns : int

    Returns
    -------
    matplotlib Figure
    """
    steps = list(dict.fromkeys(zip(table["from_stage"], table["to_stage"], strict=True)))
    rows = -(-len(steps) // columns)
    _fonts_for_charts()
    fig, axes = plt.subplots(rows, columns, figsize=(7.5 * columns, 4.2 * rows), squeeze=False)
    for ax, (a, b) in zip(axes.flat, steps, strict=False):
        part = table[(table["from_stage"] == a) & (table["to_stage"] == b)]
        plot_conversion_trend(part, by=by, ax=ax, title=f"{chart_text(stage_label(a))} → {chart_text(stage_label(b))}",
                              ylabel="converted (95% band)")  # fmt: skip
        if ax is not axes.flat[min(columns, len(steps)) - 1]:
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
    for ax in list(axes.flat)[len(steps) :]:
        ax.set_visible(False)
    _tight_layout(fig)
    return fig


def _one_row_per(table: pd.DataFrame, keys: list[str], what: str, drawn_from: str) -> None:
    """Refuse a table with several rows per ``keys`` (a ``by=`` or ``period=`` table): the chart adds nothing up."""
    from .errors import ParameterError  # at the call, like the plots themselves: errors stay importable alone

    if table.duplicated(keys).any():
        raise ParameterError(f"{what} draws one bar per {' and '.join(keys)}: give it {drawn_from}")


def plot_pipeline(table: pd.DataFrame, *, ax=None, title: str = "Open pipeline by stage"):
    """Bars of the open amount per stage, one bar per currency, with the stalled part darker.

    Each bar is labelled with its open deals and amount. When no open deal
    has an amount (Maven's open deals), the bars are the deal counts and the
    axis says so. Amounts of different currencies sit side by side, never
    stacked or added.

    Parameters
    ----------
    table : DataFrame
        :func:`funnelkit.pipeline` without ``by``: ``stage``, ``currency``,
        ``open``, ``open_value``, ``stalled_value``.
    ax : matplotlib Axes, optional
    title : str

    Returns
    -------
    matplotlib Axes
    """
    _one_row_per(table, ["stage", "currency"], "plot_pipeline", "the table of fk.pipeline(data) without by=")
    ax = _axes(ax)
    stages = list(dict.fromkeys(table["stage"]))
    currencies = list(dict.fromkeys(table["currency"].fillna("(no currency)")))
    colours = palette(currencies)
    priced = table["open_value"].notna().any()
    width = 0.8 / len(currencies)
    x = np.arange(len(stages))
    for j, currency in enumerate(currencies):
        part = table[table["currency"].fillna("(no currency)").eq(currency).to_numpy()].set_index("stage")
        part = part.reindex(stages)
        heights = (part["open_value"] if priced else part["open"]).fillna(0).to_numpy(dtype=float)
        left = x - 0.4 + width * (j + 0.5)
        label = chart_text(currency, legend=True) if priced else None  # counts of deals have no currency
        ax.bar(left, heights, width=width * 0.95, color=colours[currency], label=label)
        if priced and "stalled_value" in part:
            stalled = part["stalled_value"].fillna(0).to_numpy(dtype=float)
            ax.bar(left, stalled, width=width * 0.95, color="black", alpha=0.35,
                   label="stalled (past the stage's stall line)" if j == 0 else None)  # fmt: skip
        for xi, height, n, value in zip(left, heights, part["open"], part["open_value"], strict=True):
            if pd.isna(n):
                continue
            text = f"{int(n):,} deals" if int(n) != 1 else "1 deal"
            if priced:
                text += f"\n{value:,.0f} {chart_text(currency)}" if pd.notna(value) else "\nno amount"
            ax.text(xi, height, text, ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, [chart_text(stage_label(s)) for s in stages])
    if priced:
        unit = chart_text(currencies[0]) if len(currencies) == 1 else "each bar in its currency"
        ax.set_ylabel(f"open amount ({unit})")
    else:
        ax.set_ylabel("open deals (count; the deals have no amount)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylim(0, max(ax.get_ylim()[1], 1) * 1.15)
    ax.set_title(title)
    if priced:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    _tidy(ax)
    return ax


def plot_lost_reasons(table: pd.DataFrame, *, ax=None, title: str = "Why deals are lost"):
    """Horizontal bars of lost deals per reason, the most frequent on top, labelled with count and share.

    A share resting on fewer than 20 lost deals is shown as the count ("3 of 8").

    Parameters
    ----------
    table : DataFrame
        :func:`funnelkit.lost_reasons` without ``by`` or ``period`` (``top=``
        keeps the chart short): ``lost_reason``, ``lost``, ``lost_total``,
        ``share``. Rows repeated per currency are drawn once.
    ax : matplotlib Axes, optional
    title : str

    Returns
    -------
    matplotlib Axes
    """
    reasons = table.drop_duplicates(["lost_reason", "lost", "lost_total"])
    _one_row_per(
        reasons, ["lost_reason"], "plot_lost_reasons", "the table of fk.lost_reasons(data) without by= or period="
    )
    ax = _axes(ax, figsize=(10, 0.45 * len(reasons) + 1.5))
    y = np.arange(len(reasons))[::-1]
    ax.barh(y, reasons["lost"], color="#d62728")
    top = max(float(reasons["lost"].max()), 1.0)
    for yi, lost, total, share in zip(y, reasons["lost"], reasons["lost_total"], reasons["share"], strict=True):
        text = f"{int(lost):,} of {int(total):,}" if total < SMALL_N else f"{int(lost):,} ({share:.0%})"
        ax.text(lost + top * 0.01, yi, text, va="center", fontsize=10)
    ax.set_yticks(y, [chart_text(r) for r in reasons["lost_reason"]])
    ax.set_xlim(0, top * 1.25)
    ax.set_xlabel("lost deals (count)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return ax
