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
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .errors import ParameterError
from .groups import TOP_GROUPS, top_groups
from .i18n import N_, _, ngettext
from .safety import display_label, display_note
from .schema import stage_label
from .stats import SMALL_N
from .units import Unit, flag_small, format_number, format_percent, units_of

#: one colour per group shown by name; grey is kept for "Other" (:func:`funnelkit.groups.top_groups`)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#393b79")  # fmt: skip
OTHER_COLOUR = "#9e9e9e"
#: no figure is taller than this (inches): small multiples shrink their panels instead
MAX_FIGURE_HEIGHT = 12.0
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


def palette(names, *, other: str | None = None) -> dict[str, str]:
    """A colour per group name: the same in every chart of the session, never repeated within one chart.

    Names seen for the first time take the next colour of :data:`COLOURS`
    (new names in sorted order), so charts showing different subsets of
    sources agree. When two names of one chart would share a colour (a
    session that has met more names than there are colours), the name met
    later takes a colour free in this chart. "Other" is grey.

    Parameters
    ----------
    names : iterable
        The groups of one chart.
    other : str, keyword-only, optional
        The folded group's name (``attrs["other"]`` of
        :func:`funnelkit.groups.top_groups`); names such as
        ``"Other (22 groups)"`` are recognised without it.

    Returns
    -------
    dict of str to str
        Hex colour per name.

    Examples
    --------
    >>> first = palette(["Web", "Events"])
    >>> palette(["Web"])["Web"] == first["Web"]
    True
    >>> palette(["Web", "Other (3 groups)"])["Other (3 groups)"]
    '#9e9e9e'
    """
    unique = [str(n) for n in dict.fromkeys(names)]
    folded = {n for n in unique if n == other or _OTHER_NAME.match(n)}
    for name in sorted(set(unique) - set(_ASSIGNED) - folded):
        _ASSIGNED[name] = COLOURS[len(_ASSIGNED) % len(COLOURS)]
    out = dict.fromkeys(folded, OTHER_COLOUR)
    seniority = {name: i for i, name in enumerate(_ASSIGNED)}
    named = sorted(set(unique) - folded, key=seniority.__getitem__)
    spare = [c for c in COLOURS if c not in {_ASSIGNED[n] for n in named}]
    spare += _extra_colours(len(named))
    used: set[str] = set()
    for name in named:
        colour = _ASSIGNED[name]
        if colour in used:
            colour = next(c for c in spare if c not in used)
        used.add(colour)
        out[name] = colour
    return {name: out[name] for name in unique}


_OTHER_NAME = re.compile(r"^Other \([\d,]+ groups?\)$")


def _extra_colours(count: int) -> list[str]:
    """Distinct colours beyond :data:`COLOURS`, for a chart of more groups than it has (none is grey)."""
    cmap = mpl.colormaps["turbo"]
    return [mpl.colors.to_hex(cmap(x)) for x in np.linspace(0.05, 0.95, max(count, 1))]


def _fold(table: pd.DataFrame, by: str | None, top: int | None) -> pd.DataFrame:
    """``table`` with at most ``top`` groups of ``by`` by name and the rest as "Other"."""
    if by is None or by not in table or top is None:
        return table
    return top_groups(table, by, top=top)


def _axes(ax, figsize=FIGSIZE):
    _fonts_for_charts()
    if ax is None:
        _figure, ax = plt.subplots(figsize=figsize)
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
    other = table.attrs.get("other")
    groups = list(table.groupby(by, sort=True))
    # "Other" last: it is the rest, not a group of its own
    groups.sort(key=lambda item: str(item[0]) == other or bool(_OTHER_NAME.match(str(item[0]))))
    return groups, palette([name for name, _ in groups], other=other)


#: what :func:`funnelkit.drift`'s ``value`` holds, per ``metric=``
METRIC_UNITS = {"win_rate": Unit.RATE, "conversion": Unit.RATE, "time_to_close": Unit.DAYS}
#: chart titles naming the measure, per ``metric=``
METRIC_TITLES = {"win_rate": N_("Win rate"), "conversion": N_("Conversion rate"),
                 "time_to_close": N_("Median days to close")}  # fmt: skip
#: default chart titles (translated when drawn)
FUNNEL_TITLE = N_("How many reach each stage, and where they stop")
KM_TITLE = N_("Time to close (Kaplan-Meier)")
LEAD_VALUE_TITLE = N_("Won revenue per lead")
SLA_TITLE = N_("MQLs delivered against the commitment")
PIPELINE_TITLE = N_("Open pipeline by stage")
LOST_REASONS_TITLE = N_("Why deals are lost")
TREND_YLABEL = N_("rate (line) and its 95% interval (band)")


def unit_formatter(unit: Unit | str | None, *, currency: str | None = None):
    """A tick formatter that writes an axis's numbers by their declared unit.

    Rates as percentages, differences of rates in points, money with its
    currency, durations as "N days", counts as whole numbers.

    Parameters
    ----------
    unit : Unit or str or None
        ``None``: plain numbers with thousands separators.
    currency : str, keyword-only, optional
        Written after money amounts ("25,000 USD").

    Returns
    -------
    matplotlib.ticker.Formatter

    Examples
    --------
    >>> unit_formatter("days")(36, 0), unit_formatter("points")(-0.04, 0), unit_formatter("rate")(0.25, 0)
    ('36 days', '-4 pts', '25%')
    >>> unit_formatter("money", currency="EUR")(25000, 0), unit_formatter("count")(1200, 0)
    ('25,000 EUR', '1,200')
    """
    unit = Unit(unit) if unit is not None else None
    if unit is Unit.RATE:
        return FuncFormatter(_percent)
    if unit is Unit.RATIO:
        return FuncFormatter(lambda v, _: f"{v:+.0%}" if round(v, 2) else "0%")
    if unit is Unit.POINTS:
        return FuncFormatter(lambda v, _: f"{v * 100:+.0f} pts" if round(v * 100) else "0 pts")
    if unit is Unit.DAYS:
        return FuncFormatter(lambda v, _: f"{v:,.0f} days")
    if unit is Unit.MINUTES:
        return FuncFormatter(lambda v, _: f"{v:,.0f} min")
    if unit is Unit.MONEY:
        code = chart_text(currency) if isinstance(currency, str) and currency else ""
        return FuncFormatter(lambda v, _: f"{v:,.0f} {code}".rstrip())
    return FuncFormatter(lambda v, _: f"{v:,.0f}")


def _percent(value: float, _position=None) -> str:
    """A rate tick: whole percentages, one decimal where the ticks are finer ("0.5%")."""
    percent = value * 100
    return f"{percent:.0f}%" if abs(percent - round(percent)) < 1e-9 else f"{percent:.1f}%"


#: at most this many steps between ticks on a count or money axis: "30,000,000" is wide, and
#: matplotlib's default nine ticks ran into each other on a 30M-lead funnel
WIDE_TICK_STEPS = 5
#: tick steps people count in (1, 2, 5 times a power of ten: 10,000,000, not 8,000,000)
ROUND_STEPS = (1, 2, 5, 10)


def _format_axis(axis, unit: Unit | str | None, *, currency: str | None = None) -> None:
    """Ticks of ``axis`` written by ``unit``; counts tick at whole numbers only, counts and money at few ticks."""
    axis.set_major_formatter(unit_formatter(unit, currency=currency))
    unit = Unit(unit) if unit is not None else None
    if unit is Unit.COUNT:
        axis.set_major_locator(MaxNLocator(nbins=WIDE_TICK_STEPS, steps=ROUND_STEPS, integer=True))
    elif unit is Unit.MONEY:
        axis.set_major_locator(MaxNLocator(nbins=WIDE_TICK_STEPS, steps=ROUND_STEPS))


def _cell_text(value: float, unit: Unit) -> str:
    """A number short enough for a heatmap cell, in its unit."""
    if unit is Unit.RATE:
        return f"{value:.0%}"
    if unit is Unit.DAYS:
        return f"{value:,.0f} days"
    if unit is Unit.POINTS:
        return f"{value * 100:+.1f} pts"
    return f"{value:,.0f}"


def _drift_unit(table: pd.DataFrame, value: str, metric: str | None) -> Unit:
    """What a drift table's ``value`` holds: its declared unit, else the unit of ``metric``.

    A table from :func:`funnelkit.drift` that declares neither is told apart by
    its documented columns: a drift of rates carries ``successes`` of ``n``, a
    drift of time to close does not.
    """
    declared = table.attrs.get("units", {}).get(value)
    if declared is not None:
        return Unit(declared)
    if metric is not None:
        if metric not in METRIC_UNITS:
            raise ParameterError(f"plot_drift: metric must be one of {sorted(METRIC_UNITS)}; got {metric!r}")
        return METRIC_UNITS[metric]
    if value in units_of(table):
        return units_of(table)[value]
    if value == "value" and "p_value" in table:
        return Unit.RATE if "successes" in table else Unit.DAYS
    raise ParameterError(
        f"plot_drift cannot tell what {value!r} holds (a rate, days...): pass metric= as given to fk.drift, "
        f"one of {sorted(METRIC_UNITS)}"
    )


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def plot_funnel(dropoff: pd.DataFrame, *, by: str | None = None, ax=None,
                title: str = FUNNEL_TITLE, top: int | None = 5):  # fmt: skip
    """Horizontal funnel with drop-off, from :func:`funnelkit.dropoff`.

    Each bar is the number that reached the stage; its light part is the
    share that went no further (lost, disqualified or still open there).
    Labels give the count and the conversion from the stage before. With
    ``by``, one bar per group at each stage, labelled with the group's
    count and its conversion from the stage before.

    Parameters
    ----------
    dropoff : DataFrame
        ``stage``, ``reached``, ``stopped`` (funnel order); a table of
        ``fk.dropoff(data, by=...)`` without ``by`` here is drawn as one
        funnel of all groups together.
    by : str, keyword-only, optional
        The group column of ``fk.dropoff(data, by=...)``.
    ax : matplotlib Axes, optional
    title : str
    top : int or None
        With ``by``: groups drawn by name (the largest by volume), the rest
        as one grey "Other"; ``None``: every group.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ParameterError
        When ``by`` names a column the table does not have.
    """
    if by is not None:
        if by not in dropoff:
            raise ParameterError(
                f"plot_funnel(by={by!r}) draws the table of fk.dropoff(data, by={by!r}); this table has no {by!r} "
                f"column (its columns: {', '.join(map(str, dropoff.columns))})"
            )
        return _plot_funnel_by(dropoff, by, ax=ax, title=title, top=top)
    ax = _axes(ax)
    table = dropoff.groupby("stage", sort=False)[["reached", "stopped"]].sum().reset_index()
    reached = table["reached"].to_numpy(dtype=float)
    stopped = table["stopped"].to_numpy(dtype=float)
    y = np.arange(len(table))[::-1]
    last = len(table) - 1
    went_on = np.where(np.arange(len(table)) == last, reached, reached - stopped)
    ax.barh(y, went_on, color="#1f77b4", label=_("went on to the next stage"))
    stop_part = np.where(np.arange(len(table)) == last, 0, stopped)
    ax.barh(y, stop_part, left=went_on, color="#c6dbef", label=_("stopped at this stage"))
    top = max(reached.max(), 1)
    for i, yi in enumerate(y):
        text = format_number(reached[i])
        if i > 0 and reached[i - 1]:
            text += "   " + _("{share} of {stage}").format(
                share=format_percent(reached[i] / reached[i - 1]),
                stage=chart_text(stage_label(table["stage"].iloc[i - 1])),
            )
        if i < last and reached[i]:
            text += "   " + _("({share} stop here)").format(share=format_percent(stopped[i] / reached[i]))
        ax.text(reached[i] + top * 0.01, yi, text, va="center", fontsize=10)
    ax.set_yticks(y, [chart_text(stage_label(s)) for s in table["stage"]])
    ax.set_xlabel(_("leads / deals reaching the stage (count)"))
    ax.set_xlim(0, top * 1.6)
    ax.set_title(_(title))
    _format_axis(ax.xaxis, Unit.COUNT)
    ax.legend(loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def _plot_funnel_by(dropoff: pd.DataFrame, by: str, *, ax, title: str, top: int | None):
    """One bar per group at each stage, labelled with its count and conversion from the stage before."""
    table = _fold(dropoff, by, top)
    stages = list(dict.fromkeys(table["stage"]))
    groups, colours = _groups(table, by)
    height = min(0.35 * len(stages) * len(groups) + 1.5, MAX_FIGURE_HEIGHT)
    ax = _axes(ax, figsize=(10, max(height, 3.0)))
    width = 0.8 / len(groups)
    base = np.arange(len(stages))[::-1].astype(float)
    largest = max(float(table["reached"].max()), 1.0)
    for j, (name, group) in enumerate(groups):
        reached = group.groupby("stage", sort=False)["reached"].sum().reindex(stages).to_numpy(dtype=float)
        y = base + 0.4 - width * (j + 0.5)
        ax.barh(y, np.nan_to_num(reached), height=width * 0.9, color=colours[str(name)],
                label=chart_text(name, legend=True))  # fmt: skip
        for i, yi in enumerate(y):
            if np.isnan(reached[i]):
                continue
            text = f" {format_number(reached[i])}"
            if i > 0 and reached[i - 1] > 0:
                text += f" ({format_percent(reached[i] / reached[i - 1])})"
            ax.text(reached[i], yi, text, va="center", fontsize=8)
    ax.set_yticks(base, [chart_text(stage_label(s)) for s in stages])
    ax.set_xlabel(_("reaching the stage (count); in brackets: share of the group's previous stage"))
    ax.set_xlim(0, largest * 1.3)
    _format_axis(ax.xaxis, Unit.COUNT)
    ax.set_title(_(title))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    _tight_layout(ax.figure)
    return ax


def plot_conversion_trend(table: pd.DataFrame, *, by: str | None = "source", ax=None, title: str | None = None,
                          ylabel: str = TREND_YLABEL,
                          top: int | None = TOP_GROUPS):  # fmt: skip
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
    top : int or None
        Groups drawn by name, the largest by volume; the others are one grey
        "Other" line whose rate is their summed successes over summed trials
        (:func:`funnelkit.groups.top_groups`). ``None``: every group.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    table = _fold(table, by, top)
    groups, colours = _groups(table, by)
    periods = sorted(table["period"].dropna().unique())
    position = {p: i for i, p in enumerate(periods)}
    for name, group in groups:
        group = group.dropna(subset=["period"]).sort_values("period")
        if group.empty:  # a step counted over all time only (see its note): nothing to draw per period
            continue
        x = group["period"].map(position).to_numpy()
        colour = colours.get(str(name), "#1f77b4")
        label = _("all") if name is None else chart_text(name, legend=True)
        ax.plot(x, group["rate"], marker="o", color=colour, label=label)
        ax.fill_between(x, group["ci_low"], group["ci_high"], color=colour, alpha=0.12, linewidth=0)
        if "mature" in group:
            young = ~group["mature"].astype(bool).to_numpy()
            ax.scatter(x[young], group["rate"].to_numpy()[young], facecolor="white", edgecolor=colour, zorder=3, s=50)
    if not periods and {"entered", "converted"} <= set(table.columns) and table["entered"].sum() > 0:
        entered, converted = int(table["entered"].sum()), int(table["converted"].sum())
        said = _("not measurable per period of entry (see the note)\nover all time: {converted} of {entered} ({share})")
        said = said.format(converted=format_number(converted), entered=format_number(entered),
                           share=format_percent(converted / entered))  # fmt: skip
        ax.text(0.5, 0.5, said, transform=ax.transAxes, ha="center", va="center", color="#555555")
    ax.set_xticks(range(len(periods)), [chart_text(p) for p in periods], rotation=45, ha="right")
    _format_axis(ax.yaxis, units_of(table).get("rate", Unit.RATE))
    ax.set_ylabel(_(ylabel))
    ax.set_xlabel(_("period"))
    ax.set_ylim(0, 1.0 if table["ci_high"].max() > 0.6 else max(table["ci_high"].max() * 1.15, 0.05))
    ax.set_title(_(title) if title else _("Rate by period"))
    if by is not None and by in table and ax.get_legend_handles_labels()[0]:  # steps counted over all time draw none
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    _tidy(ax)
    _tight_layout(ax.figure)  # room for the legend beside the axes, inside the figure
    return ax


def plot_rate_panels(table: pd.DataFrame, *, by: str = "source", columns: int = 3, title: str | None = None,
                     total: pd.DataFrame | None = None, top: int | None = TOP_GROUPS):  # fmt: skip
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
    top : int or None
        Panels for the largest groups by volume, then one for "Other" (the
        rest, its rate recomputed from their counts); ``None``: every group.
        The figure is never taller than :data:`MAX_FIGURE_HEIGHT` inches.

    Returns
    -------
    matplotlib Figure
    """
    table = _fold(table, by, top)
    groups, colours = _groups(table, by)
    periods = sorted(table["period"].dropna().unique())
    position = {p: i for i, p in enumerate(periods)}
    rows = -(-len(groups) // columns)
    _fonts_for_charts()
    height = min(3.3 * rows, MAX_FIGURE_HEIGHT)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, height), squeeze=False, sharey=True)
    top = 1.0 if table["ci_high"].max() > 0.6 else max(table["ci_high"].max() * 1.15, 0.05)
    for ax, (name, group) in zip(axes.flat, groups, strict=False):
        group = group.dropna(subset=["period"]).sort_values("period")
        x = group["period"].map(position).to_numpy()
        colour = colours.get(str(name), "#1f77b4")
        if total is not None:
            t = total.dropna(subset=["period"]).sort_values("period")
            ax.plot(t["period"].map(position), t["rate"], color="#999999", linewidth=1.2, label=_("all"))
        ax.fill_between(x, group["ci_low"], group["ci_high"], color=colour, alpha=0.18, linewidth=0)
        ax.plot(x, group["rate"], color=colour, marker="o", label=chart_text(name, legend=True))
        if "small_sample" in group:
            small = group["small_sample"].astype(bool).to_numpy()
            ax.scatter(x[small], group["rate"].to_numpy()[small], facecolor="white", edgecolor=colour, zorder=3, s=40)
        counted = next((c for c in ("closed", "entered", "n") if c in group), None)
        label = chart_text(name)
        ax.set_title(f"{label} (n={int(group[counted].sum()):,})" if counted else label, fontsize=11)
        ax.set_xticks(range(len(periods)), [chart_text(p) for p in periods], rotation=45, ha="right", fontsize=8)
        _format_axis(ax.yaxis, units_of(table).get("rate", Unit.RATE))
        ax.set_ylim(0, top)
        _tidy(ax)
    for ax in axes[:, 0]:
        ax.set_ylabel(_("rate (95% band)"))
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(_(title), fontsize=13)
    _tight_layout(fig)
    return fig


def plot_km(curve: pd.DataFrame, *, by: str | None = "source", ax=None, title: str = KM_TITLE,
            top: int | None = TOP_GROUPS):  # fmt: skip
    """Share of deals still open against days since creation, one step curve per group.

    Draws the whole curve from :func:`funnelkit.km_curve`, or, from
    :func:`funnelkit.time_to_close`, the three points of each group's curve
    that table holds: a quarter of the deals closed by ``q25`` days, half by
    the ``median``, three quarters by ``q75`` (open deals censored in both).

    Parameters
    ----------
    curve : DataFrame
        :func:`funnelkit.km_curve`: ``days``, ``survival``, ``n`` and the ``by``
        column; or :func:`funnelkit.time_to_close` without ``period``: ``q25``,
        ``median``, ``q75``, ``n`` and the ``by`` column.
    by : str or None
    ax : matplotlib Axes, optional
    title : str
    top : int or None
        Curves for the largest groups (most deals); the others are not drawn,
        and the legend says how many (curves cannot be added up into an
        "Other" curve). ``None``: every group.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ParameterError
        For a table that is neither, or a time-to-close table with several
        rows per group (``period=``).
    """
    quartiles = {"q25", "median", "q75"} <= set(curve.columns) and "survival" not in curve
    if not quartiles and not {"days", "survival"} <= set(curve.columns):
        raise ParameterError(
            "plot_km draws the table of fk.km_curve(data) (days, survival) or of fk.time_to_close(data) "
            f"(q25, median, q75); this table has {', '.join(map(str, curve.columns))}"
        )
    keys = [by] if by is not None and by in curve else []
    if quartiles and (curve.duplicated(keys).any() if keys else len(curve) > 1):
        raise ParameterError(
            f"plot_km draws one curve per {by or 'table'}: give it fk.time_to_close(data) without period= "
            "(or with by= the same by), or fk.km_curve(data)"
        )
    ax = _axes(ax)
    curve, left_out = _largest_curves(curve, keys[0] if keys else None, top)
    groups, colours = _groups(curve, by)
    for name, group in groups:
        n = int(group["n"].iloc[0]) if "n" in group else len(group)
        shown = _("all") if name is None else chart_text(name, legend=True)
        label = f"{shown} (n={format_number(n)})"
        colour = colours.get(str(name), COLOURS[0])
        if quartiles:
            row = group.iloc[0]
            points = [
                (row[q], share) for q, share in (("q25", 0.75), ("median", 0.5), ("q75", 0.25)) if pd.notna(row[q])
            ]
            label += "" if points else _(": too few closed to say")
            x, y = zip(*points, strict=True) if points else ((), ())
            ax.plot(x, y, marker="o", linestyle="--", color=colour, label=label)
        else:
            ax.step(group["days"], group["survival"], where="post", color=colour, label=label)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlim(left=0)
    ax.text(ax.get_xlim()[1], 0.51, _("median") + " ", ha="right", va="bottom", color="grey", fontsize=9)
    ax.set_xlabel(_("days since the opportunity was created"))
    ax.set_ylabel(_("share of deals still open"))
    if quartiles:
        ax.set_ylabel(_("share of deals still open (quartiles of the curve)"))
    _format_axis(ax.xaxis, Unit.DAYS)
    _format_axis(ax.yaxis, Unit.RATE)
    ax.set_ylim(0, 1.02)
    ax.set_title(_(title))
    if left_out:
        ax.plot([], [], " ", label=_("{count} smaller groups not drawn").format(count=format_number(left_out)))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    _tidy(ax)
    _tight_layout(ax.figure)
    return ax


def _largest_curves(curve: pd.DataFrame, by: str | None, top: int | None) -> tuple[pd.DataFrame, int]:
    """The rows of the ``top`` groups with most deals (``n``), and how many groups were left out."""
    if by is None or top is None or "n" not in curve:
        return curve, 0
    sizes = curve.groupby(by, dropna=False, sort=False)["n"].first()
    if len(sizes) <= top + 1:
        return curve, 0
    kept = sorted(sizes.index, key=lambda g: (-float(sizes[g]), str(g)))[:top]
    return curve[curve[by].isin(kept).to_numpy()], len(sizes) - top


def plot_lead_value(table: pd.DataFrame, *, by: str = "source", ax=None, title: str = LEAD_VALUE_TITLE,
                    top: int | None = TOP_GROUPS):  # fmt: skip
    """Bars of won revenue per lead per group, labelled with the lead count.

    Parameters
    ----------
    table : DataFrame
        :func:`funnelkit.lead_value`: ``by``, ``revenue_per_lead``, ``leads``,
        optionally ``currency``.
    by : str
    ax : matplotlib Axes, optional
    title : str
    top : int or None
        Bars for the groups with most leads; the rest is one grey "Other" bar
        (its won revenue over its leads). ``None``: every group.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    table = _fold(table, by, top)
    other = table.attrs.get("other")
    # "Other" at the bottom, the named groups by value above it
    table = table.assign(_other=table[by].astype(str).eq(str(other))).sort_values(
        ["_other", "revenue_per_lead"], ascending=[False, True], kind="stable"
    )
    colours = palette(table[by], other=other)
    y = np.arange(len(table))
    ax.barh(y, table["revenue_per_lead"], color=[colours[str(g)] for g in table[by]])
    codes = (table["currency"] if "currency" in table else pd.Series(None, index=table.index, dtype=object)).fillna("")
    several = codes.nunique() > 1  # amounts of several currencies: each bar says its own, none is added
    won = table["won"] if "won" in table else pd.Series(np.nan, index=table.index)
    for yi, value, leads, code, deals in zip(y, table["revenue_per_lead"], table["leads"], codes, won, strict=True):
        money = f"{format_number(value)} {chart_text(code)}".rstrip() if pd.notna(value) else _("no amount")
        text = _("{amount} per lead ({leads} leads)").format(amount=money, leads=format_number(int(leads)))
        if pd.notna(deals) and deals < SMALL_N:  # flagged as in the tables
            text = flag_small(text, deals, _("won deals"))
        ax.text(value if pd.notna(value) else 0, yi, "  " + text, va="center", fontsize=10)
    names = [chart_text(g) + (f" ({chart_text(c)})" if several and c else "") for g, c in zip(table[by], codes,
                                                                                              strict=True)]  # fmt: skip
    ax.set_yticks(y, names)
    single = None if several or not len(codes) or not codes.iloc[0] else codes.iloc[0]
    ax.set_xlabel(_("won revenue per lead ({currency})").format(currency=chart_text(single)) if single
                  else _("won revenue per lead")
                  + (_(", each bar in its currency") if several else ""))  # fmt: skip
    ax.set_xlim(0, max(table["revenue_per_lead"].max(), 1) * 1.5)
    _format_axis(ax.xaxis, Unit.MONEY, currency=single)
    ax.set_title(_(title))
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_drift(table: pd.DataFrame, *, by: str = "source", value: str = "value", metric: str | None = None,
               ax=None, title: str | None = None, top: int | None = TOP_GROUPS):  # fmt: skip
    """Heatmap of a :func:`funnelkit.drift` table: groups by periods, in the measure's own unit.

    Cells with a change beyond noise are starred and outlined; cells resting
    on fewer than 20 observations are grey and show the counts instead
    (``3/5`` for a rate, ``n=4`` for a median).

    Parameters
    ----------
    table : DataFrame
        ``by``, ``period``, ``value``, ``significant`` and optionally ``n``,
        ``successes``.
    by : str
    value : str
        Column holding the measure.
    metric : {"win_rate", "conversion", "time_to_close"}, keyword-only, optional
        The ``metric=`` given to :func:`funnelkit.drift`: names the chart and
        the unit of its cells and colour scale (a time to close reads in days,
        a win rate in percent). Not needed when the table declares the unit
        of ``value`` (``attrs["units"]``, :func:`funnelkit.units.declare`) or
        its metric (``attrs["metric"]``).
    ax : matplotlib Axes, optional
    title : str, optional
        Default: the measure by period.
    top : int or None
        Rows for the groups with most observations; the rest is one "Other"
        row (a rate recomputed from their counts; a median cannot be, and is
        left blank). ``None``: every group.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"source": ["Web", "Web"], "period": ["2025 Q1", "2025 Q2"], "n": [30, 40],
    ...                       "value": [36.0, 41.5], "p_value": [float("nan"), 0.2], "significant": [False, False]})
    >>> plot_drift(table, metric="time_to_close").get_title()
    'Median days to close by period (* = change beyond noise)'
    """
    metric = metric or table.attrs.get("metric")
    unit = _drift_unit(table, value, metric)
    table = _fold(table, by, top)
    ax = _axes(ax, figsize=(10, 0.6 * table[by].nunique() + 2) if by in table else FIGSIZE)
    other = table.attrs.get("other")
    named = sorted({g for g in table[by].dropna() if g != other}, key=str)
    order = named + ([other] if other is not None and (table[by] == other).any() else [])
    # dropna=False keeps "Other" when its median could not be combined (a blank row, said in its note)
    grid = table.pivot_table(index=by, columns="period", values=value, aggfunc="first", dropna=False).reindex(order)
    marks = table.pivot_table(index=by, columns="period", values="significant", aggfunc="first").reindex_like(grid)
    has_n = "n" in table
    counts = {"successes"} <= set(table.columns) and unit is Unit.RATE
    n = table.pivot_table(index=by, columns="period", values="n", aggfunc="first").reindex_like(grid) if has_n else None
    hits = (
        table.pivot_table(index=by, columns="period", values="successes", aggfunc="first").reindex_like(grid)
        if counts
        else None
    )
    values = grid.to_numpy(dtype=float)
    small = (n.to_numpy(dtype=float) < SMALL_N) if has_n else np.zeros_like(values, dtype=bool)
    shown = np.where(small, np.nan, values)
    floor = 0.05 if unit is Unit.RATE else 1.0
    top = max(np.nanmax(values) if np.isfinite(values).any() else 1, floor)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=top, aspect="auto")
    cutoff = np.nanmax(shown) * 0.6 if np.isfinite(shown).any() else 1
    for (i, j), v in np.ndenumerate(values):
        if np.isnan(v):
            continue
        if small[i, j]:
            text = f"{int(hits.iloc[i, j])}/{int(n.iloc[i, j])}" if counts else f"n={int(n.iloc[i, j])}"
            ax.text(j, i, text, ha="center", va="center", color="#888888", fontsize=9)
            continue
        star = bool(marks.iloc[i, j]) if pd.notna(marks.iloc[i, j]) else False
        ax.text(j, i, f"{_cell_text(v, unit)}{'*' if star else ''}", ha="center", va="center",
                color="white" if v > cutoff else "black", fontweight="bold" if star else "normal")  # fmt: skip
        if star:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=2))
    ax.set_xticks(range(grid.shape[1]), [chart_text(c) for c in grid.columns], rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), [chart_text(i) for i in grid.index])
    measure = (
        _(METRIC_TITLES[metric])
        if metric in METRIC_TITLES
        else (_("Rate") if unit is Unit.RATE else _("Value ({unit})").format(unit=unit))
    )
    colour_label = _("median days") if unit is Unit.DAYS else _("rate") if unit is Unit.RATE else str(unit)
    ax.figure.colorbar(image, ax=ax, format=unit_formatter(unit), label=colour_label, fraction=0.04)
    ax.set_xlabel(_("period"))
    grey = ""
    if small.any():
        grey = (
            _("; grey: fewer than 20, shown as won/closed")
            if counts
            else _("; grey: fewer than 20, shown as the count")
        )
    ax.set_title(
        (_(title) if title else _("{measure} by period (* = change beyond noise)").format(measure=measure)) + grey
    )
    return ax


def plot_sla_delivery(delivery: pd.DataFrame, *, ax=None, title: str = SLA_TITLE):
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
                    label=_("target +/- tolerance"))  # fmt: skip
    ax.step(x, delivery["target"], where="mid", color="black", linewidth=1.2, label=_("target"))
    ax.set_xticks(x, [chart_text(p) for p in delivery["period"]], rotation=45, ha="right")
    ax.set_ylabel(_("MQLs delivered (count)"))
    _format_axis(ax.yaxis, Unit.COUNT)
    ax.set_xlabel(_("period"))
    ax.set_title(_(title))
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ("#d62728", "#2ca02c", "#1f77b4")]
    extra = ax.get_legend_handles_labels()
    ax.legend(handles + extra[0], [_("under target"), _("on target"), _("over target"), *extra[1]], frameon=False,
              loc="upper left", bbox_to_anchor=(1.01, 1))  # fmt: skip
    _tidy(ax)
    return ax


def plot_conversion_steps(table: pd.DataFrame, *, by: str | None = "source", columns: int = 2,
                          top: int | None = TOP_GROUPS):  # fmt: skip
    """Small multiples of :func:`plot_conversion_trend`, one panel per funnel step.

    Parameters
    ----------
    table : DataFrame
        :func:`funnelkit.conversion` with ``period``: ``from_stage``, ``to_stage``,
        ``period``, ``rate``, ``ci_low``, ``ci_high``, ``mature`` and the ``by`` column.
    by : str or None
    columns : int
    top : int or None
        Groups drawn by name in each panel (:func:`plot_conversion_trend`).

    Returns
    -------
    matplotlib Figure
    """
    steps = list(dict.fromkeys(zip(table["from_stage"], table["to_stage"], strict=True)))
    rows = -(-len(steps) // columns)
    _fonts_for_charts()
    fig, axes = plt.subplots(rows, columns, figsize=(7.5 * columns, min(4.2 * rows, MAX_FIGURE_HEIGHT)),
                             squeeze=False)  # fmt: skip
    for ax, (a, b) in zip(axes.flat, steps, strict=False):
        part = table[(table["from_stage"] == a) & (table["to_stage"] == b)]
        plot_conversion_trend(part, by=by, ax=ax, title=f"{chart_text(stage_label(a))} → {chart_text(stage_label(b))}",
                              ylabel=_("converted (95% band)"), top=top)  # fmt: skip
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


def plot_pipeline(table: pd.DataFrame, *, ax=None, title: str = PIPELINE_TITLE):
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
                   label=_("stalled (past the stage's stall line)") if j == 0 else None)  # fmt: skip
        for xi, height, n, value in zip(left, heights, part["open"], part["open_value"], strict=True):
            if pd.isna(n):
                continue
            text = ngettext("{count} deal", "{count} deals", int(n)).format(count=format_number(int(n)))
            if priced:
                text += f"\n{format_number(value)} {chart_text(currency)}" if pd.notna(value) else "\n" + _("no amount")
            ax.text(xi, height, text, ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, [chart_text(stage_label(s)) for s in stages])
    if priced:
        unit = chart_text(currencies[0]) if len(currencies) == 1 else _("each bar in its currency")
        ax.set_ylabel(_("open amount ({unit})").format(unit=unit))
    else:
        ax.set_ylabel(_("open deals (count; the deals have no amount)"))
    _format_axis(
        ax.yaxis,
        Unit.MONEY if priced else Unit.COUNT,
        currency=currencies[0] if priced and len(currencies) == 1 else None,
    )
    ax.set_ylim(0, max(ax.get_ylim()[1], 1) * 1.15)
    ax.set_title(_(title))
    if priced:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    _tidy(ax)
    return ax


def plot_lost_reasons(table: pd.DataFrame, *, ax=None, title: str = LOST_REASONS_TITLE):
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
        text = (
            _("{successes} of {trials}").format(successes=format_number(int(lost)), trials=format_number(int(total)))
            if total < SMALL_N
            else f"{format_number(int(lost))} ({format_percent(share)})"
        )
        ax.text(lost + top * 0.01, yi, text, va="center", fontsize=10)
    ax.set_yticks(y, [chart_text(r) for r in reasons["lost_reason"]])
    ax.set_xlim(0, top * 1.25)
    ax.set_xlabel(_("lost deals (count)"))
    _format_axis(ax.xaxis, Unit.COUNT)
    ax.set_title(_(title))
    ax.spines[["top", "right"]].set_visible(False)
    return ax
