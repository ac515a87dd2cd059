"""The bundled reports rendered for real on data/sample in Turkish and Chinese: no funnelkit English is left.

The visible text of each page (html.parser, style and script skipped) is
cleared of the data's own values (sources, owners, reasons, stage labels of
the CRM, file names), of numbers, dates, currency codes and ids; what remains
must hold none of funnelkit's English vocabulary. What is still English on
purpose is listed in ``STILL_ENGLISH`` with the reason.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import funnelkit as fk
from conftest import ARTIFACTS, ROOT, browse
from funnelkit.report import render_report

pytestmark = pytest.mark.slow

SAMPLE = ROOT / "data" / "sample"
#: funnelkit's words that a translated report must not show in English ("not" is left out: it is Turkish for "note")
VOCABULARY = (
    "won", "lost", "pipeline", "leads", "lead", "deals", "deal", "rate", "period", "quarter", "left out", "days",
    "source", "owner", "open", "stalled", "revenue", "median", "share", "target", "stage", "closed", "quota",
    "measure", "change", "reached", "stopped", "opportunity", "opportunities", "small sample", "within", "rows",
    "the", "and", "of", "to", "per", "no",
)  # fmt: skip
#: still English in a translated report, and why
STILL_ENGLISH = (
    "(total)",  # the mix table's total row: a label fk.mix_decomposition writes into the group column
    "¶",  # nbconvert's heading anchors
)


class _Visible(HTMLParser):
    def __init__(self):
        super().__init__()
        self.skip, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self.skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.parts.append(data.strip())


def visible_text(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return "\n".join(parser.parts)


@pytest.fixture(scope="module")
def data_values() -> list[str]:
    """Every text value the sample's CRM export holds (and what the loader says about it), longest first."""
    data = fk.load(SAMPLE, cache=False)
    values: set[str] = set(data.notes)  # the loader's notes: stored with the cached load, so written in English
    for column in ("source", "owner", "lost_reason", "disqualify_reason", "industry", "region"):
        values |= {str(v) for v in data.funnel[column].dropna().unique()}
    values |= {str(v) for v in data.summary.table["adapter"]} | {p.name for p in SAMPLE.iterdir()}
    return sorted((v for v in values if v.strip()), key=len, reverse=True)


def english_left(text: str, data_values: list[str]) -> list[str]:
    for value in [*data_values, *STILL_ENGLISH]:
        text = text.replace(value, " ")
    text = re.sub(r"\b[0-9A-Z]{15,18}\b", " ", text)  # CRM ids
    text = re.sub(r"\b(USD|EUR|GBP|TRY|CNY|TWD|UTC)\b", " ", text)
    text = re.sub(r"\b\d{4} Q\d\b|\b\d{4}-\d{2}(-\d{2})?\b|[\d.,:%$+\-–]+", " ", text)
    text = re.sub(r"\b(MQL|SQL|SLA|CI|p|n|Kaplan-Meier|Wilson|Holm|sample|funnelkit)\b", " ", text)
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z']*(?: out)?", text)}
    return sorted(words & set(VOCABULARY))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    pages = {}
    for notebook, lang in [("funnel_review", "tr"), ("funnel_review", "zh-CN"), ("sla_scorecard", "tr"),
                           ("lead_plan", "tr")]:  # fmt: skip
        result = render_report(ROOT / "notebooks" / f"{notebook}.ipynb", data=SAMPLE, out=out / lang,
                               parameters={"lang": lang}, progress=False)  # fmt: skip
        pages[notebook, lang] = result.html_path
    return pages


@pytest.mark.parametrize(
    ("notebook", "lang"),
    [("funnel_review", "tr"), ("funnel_review", "zh-CN"), ("sla_scorecard", "tr"), ("lead_plan", "tr")],
)
def test_no_funnelkit_english_is_left(rendered, data_values, notebook, lang):
    page = rendered[notebook, lang].read_text()
    assert f'<html lang="{lang}">' in page
    text = visible_text(page)
    assert english_left(text, data_values) == []
    # the check itself sees English: an English sentence of the report, with a source in it, is caught
    english = "The funnel loses most at opportunity: 407 of 531 (77%) from Paid Search went no further."
    assert english_left(english, data_values) == ["no", "of", "opportunity", "the"]


def test_reports_carry_their_translated_headings_and_sentences(rendered):
    turkish = visible_text(rendered["funnel_review", "tr"].read_text())
    assert "Hedefte miyiz?" in turkish and "Huni en çok" in turkish and "Kazanma oranı" in turkish
    assert "Aşama" in turkish and "Ulaşan" in turkish  # table headers
    chinese = visible_text(rendered["funnel_review", "zh-CN"].read_text())
    assert "我们是否按计划推进？" in chinese and "漏斗在" in chinese and "赢单率" in chinese
    sla = visible_text(rendered["sla_scorecard", "tr"].read_text())
    assert "Taahhüt" in sla and "Hedefte demek" in sla
    plan = visible_text(rendered["lead_plan", "tr"].read_text())
    assert "kazanmak için" in plan and "Kotadaki pay" in plan


@pytest.mark.parametrize("lang", ["tr", "zh-CN"])
def test_screenshots_of_the_translated_funnel_review(chromium, rendered, tmp_path, lang):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"funnel_review-{lang}.png"
    shot.unlink(missing_ok=True)
    page = rendered["funnel_review", lang].as_uri()
    done = browse(chromium, tmp_path, "--window-size=1300,2400", f"--screenshot={shot}", page)
    assert shot.exists() and shot.stat().st_size > 20_000, done.stderr[-2000:]
