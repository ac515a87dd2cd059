"""The analyst's notebook: one-call charts, plot_km on time_to_close, and results that display by unit."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from IPython.core.formatters import HTMLFormatter

import funnelkit as fk
from funnelkit import display, plots
from funnelkit.metrics import SLAResult
from funnelkit.review import Review
from funnelkit.units import Unit, declare


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def data(data_dir):
    return fk.load(data_dir / "salesforce_report", cache=False)


def test_plot_km_on_time_to_close_draws_its_quartiles(data):
    # deals by hand: won after 34 days, lost after 23, one open 10 days (censored at as_of 2025-03-20):
    # Kaplan-Meier drops to 1/2 at 23 days and to 0 at 34, so q25 = median = 23, q75 = 34
    ax = plots.plot_km(fk.time_to_close(data), by=None)
    (line,) = ax.lines[:1]
    assert list(line.get_xdata()) == [23.0, 23.0, 34.0] and list(line.get_ydata()) == [0.75, 0.5, 0.25]
    assert line.get_label() == "all (n=3)"


def test_one_call_charts(data):
    ax = fk.plot.win_rate(data, by="source")
    assert ax.get_title() == "Win rate by period of close"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Trade Show"]  # the only source with closed deals
    funnel = fk.plot.funnel(data, by="source")
    # leads per source in leads.csv: Web 3, Trade Show 2, Partner 1
    labels = [t.get_text() for t in funnel.get_legend().get_texts()]
    assert labels == ["Partner", "Trade Show", "Web"]
    # bars without a conversion in brackets: the first stage, and stages after a stage nobody reached (0)
    first_stage = sorted(t.get_text().strip() for t in funnel.texts if "(" not in t.get_text())
    assert [n for n in first_stage if n != "0"] == ["1", "2", "3"]
    steps = fk.plot.conversion(data, by="source", period="Q")
    assert isinstance(steps, plt.Figure) and steps.axes[0].get_title() == "Lead → MQL"
    curve = fk.plot.time_to_close(data)
    assert curve.get_title() == "Time to close (Kaplan-Meier)"


def test_the_dataset_shows_what_was_loaded(data):
    page = data._repr_html_()
    assert "6 leads, 3 opportunities" in page
    assert "<th>Rows read</th>" in page and "<td>leads.csv</td>" in page


def formatter() -> HTMLFormatter:
    html = HTMLFormatter()
    shell = type("Shell", (), {"display_formatter": type("D", (), {"formatters": {"text/html": html}})()})()
    assert display.register(shell)
    return html


def test_results_display_by_unit_and_other_frames_as_pandas_shows_them():
    html = formatter()
    drift_days = declare(pd.DataFrame({"period": ["2025 Q1"], "value": [36.0]}), value=Unit.DAYS)
    assert "<td>36.0 days</td>" in html(drift_days)
    plain = pd.DataFrame({"value": [36.0]})
    assert html(plain) == plain._repr_html_()
    # still a plain DataFrame: equal to one without the declaration
    pd.testing.assert_frame_equal(drift_days, pd.DataFrame({"period": ["2025 Q1"], "value": [36.0]}))


def test_a_review_and_an_sla_result_display_in_the_notebook():
    html = formatter()
    headline = pd.DataFrame({"measure": ["Win rate"], "this_period": [0.19], "previous_period": [0.231],
                             "change": [-0.041], "note": [""], "currency": ["nan"]})  # fmt: skip
    review = Review(headline=headline, period="2025 Q2", previous="2025 Q1", skipped={"drift": "no dated close"})
    page = html(review)
    assert "Funnel review: 2025 Q2 against 2025 Q1" in page and "-4.1 pts" in page
    assert "drift is left out: no dated close." in page
    delivery = pd.DataFrame({"period": ["2025 Q1"], "mqls": [120], "target": [100], "ratio": [1.2],
                             "status": ["over"], "low": [90.0], "high": [110.0]})  # fmt: skip
    response = pd.DataFrame({"mqls": [120], "within_target": [60], "never_touched": [6]})
    page = html(SLAResult(delivery, response, pd.DataFrame({"reason": [], "mqls": []})))
    assert "<td>50%</td>" in page and "<td>5%</td>" in page  # 60 and 6 of 120 MQLs
    assert "<td>120</td>" in page
