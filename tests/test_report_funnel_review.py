"""The funnel review end to end on a real kernel: untrusted CRM text, redaction, partial exports."""

from __future__ import annotations

import re

import pytest

import funnelkit as fk
from conftest import ROOT, shared_path
from funnelkit.report import render_report

pytestmark = pytest.mark.slow
NOTEBOOK = ROOT / "notebooks" / "funnel_review.ipynb"
PAYLOADS = {
    "source": "<script>alert(1)</script>",
    "owner": "<img src=x onerror=alert(1)>",
    "company": "<iframe src=javascript:alert(1)></iframe>",
    "industry": "[click](javascript:alert(1))",
}


@pytest.fixture(scope="module")
def hostile_export(tmp_path_factory):
    truth = fk.generate_sample(1500, seed=4)
    leads, opps = truth.leads, truth.opportunities
    paid_social = leads["source"] == "Paid Social"
    leads.loc[paid_social, "source"] = PAYLOADS["source"]
    opps.loc[opps["source"] == "Paid Social", "source"] = PAYLOADS["source"]
    leads.loc[leads["owner"] == "Noah Kim", "owner"] = PAYLOADS["owner"]
    opps.loc[opps["owner"] == "Noah Kim", "owner"] = PAYLOADS["owner"]
    leads["company"] = PAYLOADS["company"]
    leads.loc[leads.index[:50], "industry"] = PAYLOADS["industry"]
    folder = tmp_path_factory.mktemp("hostile")
    fk.write_sample(truth, folder, format="salesforce")
    return folder


def live_markup(html: str) -> list[str]:
    """Active content in a rendered page: script tags, event handlers, javascript: URLs, iframes."""
    found = re.findall(r"<script\b[^>]*>(?!\s*</script>)", html, flags=re.I)
    found += re.findall(r"<[^>]+\son\w+\s*=", html, flags=re.I)
    found += re.findall(r"<[^>]+(?:href|src)\s*=\s*['\"]?\s*javascript:", html, flags=re.I)
    found += re.findall(r"<iframe\b", html, flags=re.I)
    return found


def test_untrusted_text_is_shown_as_text_never_markup(hostile_export, tmp_path):
    for by in ("source", "owner"):
        result = render_report(NOTEBOOK, data=hostile_export, out=tmp_path, parameters={"by": by}, progress=False)
        html = result.html_path.read_text()
        assert live_markup(html) == []
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or by == "owner"
        if by == "owner":
            assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_report_carries_every_section_on_the_sample(tmp_path):
    result = render_report(NOTEBOOK, data=ROOT / "data" / "sample", out=tmp_path, progress=False)
    html = result.html_path.read_text()
    for heading in ("Are we on track?", "The funnel and where deals are lost", "Win rate", "Time to close",
                    "Lead value",
                    "What changed", "Data quality"):  # fmt: skip
        assert f">{heading}" in html
    assert "section is left out" not in html and "left out:" not in html
    assert html.count("data:image/png;base64,") >= 6
    assert result.manifest["rows"] == {"read": 6531, "kept": 6531, "quarantined": 0, "footer_lines": 10}


def test_redact_keeps_people_out_of_the_report(tmp_path):
    data = fk.load(ROOT / "data" / "sample", cache=False)
    owners = set(data.leads["owner"].dropna())
    result = render_report(
        NOTEBOOK, data=ROOT / "data" / "sample", out=tmp_path, parameters={"by": "owner", "redact": "true"},
        progress=False,
    )  # fmt: skip
    html = result.html_path.read_text()
    assert not [name for name in owners if name in html]
    assert "Person-" in html


def test_opportunity_only_export_gets_the_sections_it_supports(tmp_path):
    pipeline = shared_path("maven_crm", "sales_pipeline.csv")
    result = render_report(
        NOTEBOOK, data=pipeline, out=tmp_path, progress=False,
        parameters={"mapping": str(ROOT / "data" / "mappings" / "maven_crm.yml"), "by": "owner"},
    )  # fmt: skip
    html = result.html_path.read_text()
    assert "This section is left out: lead value needs leads linked to closed deals" in html
    assert ">Time to close" in html and "Traceback" not in html
    assert result.manifest["rows"]["read"] == 8800


@pytest.mark.parametrize(
    ("notebook", "parameters", "expected"),
    [
        ("sla_scorecard", {"mql_target": "100"}, ["MQLs delivered against the commitment", "with MQLs on target"]),
        ("lead_plan", {"quota": "500000"}, ["What the quota needs", "measured"]),
    ],
)
def test_the_other_notebooks_render_on_the_sample(tmp_path, notebook, parameters, expected):
    result = render_report(
        ROOT / "notebooks" / f"{notebook}.ipynb", data=ROOT / "data" / "sample", out=tmp_path,
        parameters=parameters, progress=False,
    )  # fmt: skip
    html = result.html_path.read_text()
    for words in expected:
        assert words in html
    assert live_markup(html) == []
