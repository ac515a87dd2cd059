"""Many groups: the top N by volume plus "Other" recomputed from counts, distinct colours, bounded figures."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from funnelkit import plots
from funnelkit.errors import ParameterError
from funnelkit.groups import top_groups


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def owners_win_rate(periods=("2025 Q1",)) -> pd.DataFrame:
    """30 owners: owner i won i of 10 + i closed deals in each period (rates as fk.win_rate gives them)."""
    rows = []
    for period in periods:
        for i in range(30):
            won, closed = i, 10 + i
            rows.append({"owner": f"owner {i:02d}", "period": period, "won": won, "closed": closed,
                         "rate": won / closed, "ci_low": 0.0, "ci_high": 1.0, "small_sample": closed < 20})  # fmt: skip
    return pd.DataFrame(rows)


def wilson_by_hand(x: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_thirty_owners_become_the_top_eight_and_other_with_its_rate_from_counts():
    folded = top_groups(owners_win_rate(), "owner", top=8)
    assert len(folded) == 9
    # most closed deals: owners 29 down to 22
    assert folded["owner"].tolist()[:8] == [f"owner {i:02d}" for i in range(22, 30)]
    other = folded.iloc[-1]
    assert other["owner"] == "Other (22 groups)" == folded.attrs["other"]
    # owners 0..21: won 0+1+...+21 = 231 of 22*10 + 231 = 451 closed; never the mean of their 22 rates
    assert (other["won"], other["closed"]) == (231, 451)
    assert other["rate"] == pytest.approx(231 / 451)
    assert other["rate"] != pytest.approx(sum(i / (10 + i) for i in range(22)) / 22)
    low, high = wilson_by_hand(231, 451)
    assert (other["ci_low"], other["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert not other["small_sample"]
    assert other["note"] == "22 smaller groups together"


def test_other_is_folded_per_period():
    folded = top_groups(owners_win_rate(periods=("2025 Q1", "2025 Q2")), "owner", top=5)
    others = folded[folded["owner"] == "Other (25 groups)"]
    assert others["period"].tolist() == ["2025 Q1", "2025 Q2"]
    # owners 0..24 per period: won 300 of 250 + 300 = 550
    assert others["won"].tolist() == [300, 300] and others["closed"].tolist() == [550, 550]
    assert len(folded) == 2 * 6


def test_a_median_is_left_blank_for_other_and_its_note_says_why():
    table = pd.DataFrame({"source": list("abcde"), "period": ["2025 Q1"] * 5, "n": [50, 40, 3, 2, 1],
                          "value": [30.0, 20.0, 5.0, 6.0, 7.0], "p_value": [0.5] * 5,
                          "significant": [False, True, False, False, True]})  # fmt: skip
    folded = top_groups(table, "source", top=2)
    other = folded.iloc[-1]
    assert other["n"] == 6 and math.isnan(other["value"]) and math.isnan(other["p_value"])
    assert not other["significant"]
    assert other["note"] == (
        "3 smaller groups together; value, p value, significant cannot be combined from their counts"
    )


def test_few_groups_are_not_folded_and_a_table_without_volume_is_refused():
    table = owners_win_rate().head(9)
    assert top_groups(table, "owner", top=8)["owner"].tolist() == table["owner"].tolist()  # 9 <= top + 1
    with pytest.raises(ParameterError, match="cannot rank the owner groups by volume"):
        top_groups(pd.DataFrame({"owner": list("abcdefghijk"), "median": range(11)}), "owner", top=3)


def test_lead_value_other_is_revenue_over_leads_per_currency():
    table = pd.DataFrame({"source": ["a", "b", "c", "d"], "currency": ["EUR"] * 4, "leads": [100, 50, 10, 30],
                          "won": [5, 2, 1, 1], "won_revenue": [5000.0, 1000.0, 300.0, 900.0],
                          "revenue_per_lead": [50.0, 20.0, 30.0, 30.0]})  # fmt: skip
    other = top_groups(table, "source", top=1).iloc[-1]
    # b, c, d: 2,200 EUR over 90 leads
    assert (other["currency"], other["leads"], other["won_revenue"]) == ("EUR", 90, 2200.0)
    assert other["revenue_per_lead"] == pytest.approx(2200 / 90)


def test_colours_never_repeat_within_a_chart_even_after_many_names():
    plots.palette([f"seen before {i}" for i in range(25)])  # a session that met more names than colours
    table = owners_win_rate(periods=("2025 Q1", "2025 Q2"))
    ax = plots.plot_conversion_trend(table, by="owner")
    colours = [to_hex(line.get_color()) for line in ax.lines]
    assert len(colours) == 9 and len(set(colours)) == 9
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-1] == "Other (22 groups)" and colours[legend.index("Other (22 groups)")] == plots.OTHER_COLOUR


def test_legend_stays_inside_its_figure():
    ax = plots.plot_conversion_trend(owners_win_rate(periods=("2025 Q1", "2025 Q2")), by="owner")
    figure = ax.figure
    figure.canvas.draw()
    box = ax.get_legend().get_window_extent()
    assert box.x0 >= 0 and box.y0 >= 0
    assert box.x1 <= figure.bbox.x1 + 1 and box.y1 <= figure.bbox.y1 + 1


def test_rate_panels_for_thirty_owners_stay_one_page():
    figure = plots.plot_rate_panels(owners_win_rate(periods=("2025 Q1", "2025 Q2")), by="owner")
    shown = [ax for ax in figure.axes if ax.get_visible()]
    assert len(shown) == 9  # 8 owners and Other
    assert figure.get_size_inches()[1] <= plots.MAX_FIGURE_HEIGHT
    assert shown[-1].get_title() == "Other (22 groups) (n=902)"  # 451 closed in each of two quarters
    many = plots.plot_rate_panels(owners_win_rate(), by="owner", top=None)
    assert len([a for a in many.axes if a.get_visible()]) == 30
    assert many.get_size_inches()[1] <= plots.MAX_FIGURE_HEIGHT  # panels shrink: 10 rows, still 12 inches


def test_the_km_chart_draws_the_largest_groups_and_says_how_many_are_left_out():
    curve = pd.DataFrame({"source": [f"s{i:02d}" for i in range(12) for _ in range(2)],
                          "days": [0.0, 10.0] * 12, "survival": [1.0, 0.5] * 12,
                          "n": [n for i in range(12) for n in (i + 1, i + 1)]})  # fmt: skip
    ax = plots.plot_km(curve, by="source", top=3)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["s09 (n=10)", "s10 (n=11)", "s11 (n=12)", "9 smaller groups not drawn"]


def test_plot_funnel_draws_one_bar_per_group_or_refuses_a_table_without_by():
    dropoff = pd.DataFrame({"source": ["Web", "Web", "Events", "Events"], "stage": ["lead", "mql"] * 2,
                            "reached": [100, 40, 20, 10], "stopped": [60, 40, 10, 10]})  # fmt: skip
    ax = plots.plot_funnel(dropoff, by="source")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Events", "Web"]
    assert sorted(t.get_text().strip() for t in ax.texts) == ["10 (50%)", "100", "20", "40 (40%)"]
    with pytest.raises(ParameterError, match=r"fk.dropoff\(data, by='owner'\)"):
        plots.plot_funnel(dropoff, by="owner")
    total = plots.plot_funnel(dropoff)  # without by: all groups together
    assert [t.get_text() for t in total.texts] == ["120   (58% stop here)", "50   42% of Lead"]  # 70 of 120 stop


def test_the_drift_heatmap_folds_many_groups_and_keeps_other_last():
    rows = [{"owner": f"o{i:02d}", "period": p, "n": 30 + i, "successes": 10, "value": 10 / (30 + i),
             "p_value": 0.5, "significant": False} for i in range(12) for p in ("2025 Q1", "2025 Q2")]  # fmt: skip
    ax = plots.plot_drift(pd.DataFrame(rows), by="owner", metric="win_rate", top=4)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["o08", "o09", "o10", "o11", "Other (8 groups)"]
    # Other per quarter: 80 won of 8*30 + (0+...+7) = 268
    assert "30%" in [t.get_text() for t in ax.texts]  # 80/268 = 29.9%
