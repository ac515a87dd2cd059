"""Charts write their axes by the declared unit of what they draw, never by guessing from a column name."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from funnelkit import plots
from funnelkit.errors import ParameterError
from funnelkit.units import Unit, declare


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def tick_labels(axis) -> list[str]:
    """The tick labels of an axis as drawn (the figure is drawn first so that formatters run)."""
    axis.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def colourbar_labels(ax) -> list[str]:
    bar = ax.figure.axes[-1]  # the colour bar's own Axes, added after the heatmap's
    ax.figure.canvas.draw()
    return [t.get_text() for t in bar.get_yticklabels() if t.get_text()]


def duration_drift() -> pd.DataFrame:
    # a time_to_close drift: medians of 36 and 41.5 days, 30 and 40 deals closed
    return pd.DataFrame({"source": ["Web", "Web"], "period": ["2025 Q1", "2025 Q2"], "n": [30, 40],
                         "value": [36.0, 41.5], "previous_value": [float("nan"), 36.0], "change": [float("nan"), 5.5],
                         "p_value": [float("nan"), 0.2], "significant": [False, False]})  # fmt: skip


def test_a_time_to_close_drift_reads_in_days_not_percent():
    ax = plots.plot_drift(duration_drift(), metric="time_to_close")
    assert ax.get_title() == "Median days to close by period (* = change beyond noise)"
    assert sorted(t.get_text() for t in ax.texts) == ["36 days", "42 days"]  # 41.5 rounds half to even
    bar = colourbar_labels(ax)
    assert bar and all(label.endswith(" days") for label in bar) and not any("%" in b for b in bar)


def test_a_drift_declaring_its_unit_needs_no_metric():
    table = declare(duration_drift(), value=Unit.DAYS)
    ax = plots.plot_drift(table)
    assert {t.get_text() for t in ax.texts} == {"36 days", "42 days"}
    assert ax.get_title().startswith("Value (days) by period")


def test_a_drift_of_durations_without_successes_is_days_even_when_undeclared():
    # fk.drift documents successes only for rates: a table without them is a time to close
    ax = plots.plot_drift(duration_drift())
    assert {t.get_text() for t in ax.texts} == {"36 days", "42 days"}


def test_a_win_rate_drift_is_titled_and_coloured_as_a_rate():
    table = pd.DataFrame({"source": ["Web", "Web"], "period": ["2025 Q1", "2025 Q2"], "n": [40, 50],
                          "successes": [10, 30], "value": [0.25, 0.6], "p_value": [float("nan"), 0.0004],
                          "significant": [False, True]})  # fmt: skip
    table.attrs["metric"] = "win_rate"
    ax = plots.plot_drift(table)
    assert ax.get_title() == "Win rate by period (* = change beyond noise)"
    assert sorted(t.get_text() for t in ax.texts) == ["25%", "60%*"]
    assert all(label.endswith("%") for label in colourbar_labels(ax))


def test_a_small_duration_cell_shows_its_count_in_grey():
    table = duration_drift().assign(n=[30, 4])
    ax = plots.plot_drift(table, metric="time_to_close")
    assert sorted(t.get_text() for t in ax.texts) == ["36 days", "n=4"]
    assert ax.get_title().endswith("grey: fewer than 20, shown as the count")


def test_an_unknown_metric_is_refused_with_the_choices():
    with pytest.raises(ParameterError, match="metric must be one of"):
        plots.plot_drift(duration_drift(), metric="velocity")


def test_rates_in_percent_days_in_days_on_the_km_curve():
    curve = pd.DataFrame({"days": [0.0, 30.0, 60.0], "survival": [1.0, 0.5, 0.2], "n": [10, 10, 10]})
    ax = plots.plot_km(curve, by=None)
    assert all(label.endswith("%") for label in tick_labels(ax.yaxis))
    assert all(label.endswith(" days") for label in tick_labels(ax.xaxis))


def test_plot_km_draws_the_quartiles_of_time_to_close():
    # fk.time_to_close(data, by="source"): Web closes a quarter by 10 days, half by 20, three quarters by 45
    table = pd.DataFrame({"source": ["Web", "Events"], "n": [30, 12], "n_closed": [25, 3], "n_censored": [5, 9],
                          "median": [20.0, float("nan")], "q25": [10.0, 50.0], "q75": [45.0, float("nan")],
                          "closed_median": [18.0, 40.0]})  # fmt: skip
    ax = plots.plot_km(table, by="source")
    web = next(line for line in ax.lines if line.get_label().startswith("Web"))
    assert list(web.get_xdata()) == [10.0, 20.0, 45.0] and list(web.get_ydata()) == [0.75, 0.5, 0.25]
    events = next(line for line in ax.lines if line.get_label().startswith("Events"))
    assert list(events.get_xdata()) == [50.0]
    assert web.get_label() == "Web (n=30)"


def test_plot_km_refuses_a_table_per_period_and_an_unrelated_table():
    per_period = pd.DataFrame({"period": ["2025 Q1", "2025 Q2"], "n": [3, 4], "median": [1.0, 2.0],
                               "q25": [1.0, 1.0], "q75": [3.0, 3.0]})  # fmt: skip
    with pytest.raises(ParameterError, match="without period="):
        plots.plot_km(per_period, by=None)
    with pytest.raises(ParameterError, match="fk.km_curve"):
        plots.plot_km(pd.DataFrame({"rate": [0.2]}))


def test_money_axes_carry_the_currency_and_counts_are_whole_numbers():
    table = pd.DataFrame({"source": ["Web", "Events"], "revenue_per_lead": [1200.0, 2500.0], "leads": [40, 30],
                          "currency": ["EUR", "EUR"]})  # fmt: skip
    ax = plots.plot_lead_value(table)
    labels = tick_labels(ax.xaxis)
    assert labels[0] == "0 EUR" and all(label.endswith(" EUR") for label in labels)
    assert ax.get_xlabel() == "won revenue per lead (EUR)"
    dropoff = pd.DataFrame({"stage": ["lead", "mql"], "reached": [3, 1], "stopped": [2, 1]})
    counts = tick_labels(plots.plot_funnel(dropoff).xaxis)
    assert all(label.replace(",", "").isdigit() for label in counts)  # never "0.5" of a lead


def test_lead_value_in_two_currencies_labels_each_bar_with_its_own():
    table = pd.DataFrame({"source": ["Web", "Web"], "revenue_per_lead": [1200.0, 900.0], "leads": [40, 40],
                          "currency": ["EUR", "USD"]})  # fmt: skip
    ax = plots.plot_lead_value(table)
    assert sorted(t.get_text().strip() for t in ax.texts) == ["1,200 EUR per lead (40 leads)",
                                                              "900 USD per lead (40 leads)"]  # fmt: skip
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Web (USD)", "Web (EUR)"]
    assert "each bar in its currency" in ax.get_xlabel()


def test_points_and_ratios_format_as_people_say_them():
    assert plots.unit_formatter(Unit.POINTS)(0.041, 0) == "+4 pts"
    assert plots.unit_formatter(Unit.POINTS)(0.0, 0) == "0 pts"
    assert plots.unit_formatter(Unit.RATIO)(0.25, 0) == "+25%"
    assert plots.unit_formatter(Unit.MONEY, currency="USD")(73804.2, 0) == "73,804 USD"


def test_lead_value_from_few_won_deals_is_flagged_as_in_the_tables():
    table = pd.DataFrame({"source": ["Web"], "revenue_per_lead": [125.0], "leads": [200], "won": [4],
                          "currency": ["USD"]})  # fmt: skip
    ax = plots.plot_lead_value(table)
    assert [t.get_text().strip() for t in ax.texts] == ["125 USD per lead (200 leads) (small sample: 4 won deals)"]


@pytest.mark.parametrize("unit", ["count", "money"])
def test_wide_tick_labels_of_a_30m_lead_axis_do_not_run_into_each_other(unit):
    from funnelkit.plots import _format_axis

    fig, ax = plt.subplots(figsize=(6.4, 3))
    ax.set_xlim(0, 35_000_000)
    _format_axis(ax.xaxis, unit, currency="USD")
    fig.canvas.draw()
    labels = [label for label in ax.get_xticklabels() if label.get_text()]
    boxes = sorted((label.get_window_extent() for label in labels), key=lambda box: box.x0)
    assert [label.get_text() for label in labels][:2] == (
        ["0", "10,000,000"] if unit == "count" else ["0 USD", "10,000,000 USD"]
    )
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:], strict=False))
    plt.close(fig)
