"""``fk.set_locale`` in an analyst's notebook: tables, the review's sentences and chart text in that language."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from metrics_fixtures import tiny  # noqa: E402

import funnelkit as fk  # noqa: E402
from funnelkit import plots, present  # noqa: E402


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    fk.set_locale("en")
    plt.close("all")


def test_turkish_table_headers_stage_names_and_numbers():
    # tiny(): 6 leads, 5 reach MQL, 1 of the 6 leads goes no further -> 1/6 = 16.7% stopped at the lead stage
    fk.set_locale("tr")
    table = present.table_html(fk.dropoff(tiny()))
    for header in ("Aşama", "Ulaşan", "Kalan", "Kaybedilen", "Niteliksiz", "Hâlâ açık", "Burada kalan"):
        assert f"<th>{header}</th>" in table
    assert "<td>Potansiyel müşteri</td>" in table and "<td>Fırsat</td>" in table
    assert "<td>%16,7</td>" in table  # 1 of 6, as Turkish writes a percentage
    assert "Stage" not in table and "Reached" not in table and "Lead<" not in table
    fk.set_locale("en")
    table = present.table_html(fk.dropoff(tiny()))
    assert "<th>Stage</th>" in table and "<td>Lead</td>" in table and "<td>16.7%</td>" in table


def test_turkish_review_sentences():
    # opportunities: O1..O4 reach the stage; O1 and O4 are won, O2 lost, O3 open -> 2 of 4 (50%) go no further
    fk.set_locale("tr")
    rv = fk.review(tiny(), period="Q", by=None)
    assert "Huni en çok <b>fırsat</b> aşamasında kaybediyor: 4 kayıttan 2 kaydı (%50) ilerlemedi." in rv.findings
    assert rv.findings[0].startswith("Son dönem: <b>2025 Q2</b>, 2025 Q1 ile karşılaştırıldı.")
    # won in 2025 Q2: O4, 2,000 USD; in 2025 Q1: O1, 1,000 USD (the comparison target: the previous quarter)
    assert rv.on_track_text[0].startswith("<b>2025 Q2</b> (1 Nis 2025 – 30 Haz 2025) 30 Haz 2025 itibarıyla sürüyor")
    assert "$1.000,00 karşısında $2.000,00 kazanıldı (%200)" in rv.on_track_text[0]
    assert rv.on_track_text[0].endswith("<b>hedefte</b>.")
    summary = present.summary_html(rv)
    assert "<th>Ölçü</th>" in summary and "<td>Kazanma oranı</td>" in summary and "<td>Kazanılan gelir</td>" in summary
    # the same review in English, as it always read
    fk.set_locale("en")
    rv = fk.review(tiny(), period="Q", by=None)
    assert "The funnel loses most at <b>opportunity</b>: 2 of 4 (50%) went no further." in rv.findings
    assert "won 2,000 USD against 1,000 USD in the previous quarter" in rv.on_track_text[0]


def test_turkish_chart_title_labels_and_legend():
    fk.set_locale("tr")
    ax = plots.plot_funnel(fk.dropoff(tiny()))
    assert ax.get_title() == "Her aşamaya kaç kayıt ulaşıyor, nerede duruyor"
    assert ax.get_xlabel() == "aşamaya ulaşan potansiyel müşteri / anlaşma (sayı)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sonraki aşamaya geçti", "bu aşamada kaldı"]
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["Potansiyel müşteri", "MQL"]
    # a title the caller gives is drawn as given
    assert plots.plot_funnel(fk.dropoff(tiny()), title="Benim başlığım").get_title() == "Benim başlığım"
