"""Every report on every kind of data our users bring, rendered and photographed in headless Chromium.

Datasets: the bundled Salesforce sample, a generated 50,000-lead HubSpot export,
and the real Maven CRM export (as a folder and as its one pipeline file, through
the bundled mapping). Each render must succeed without a warning in any cell;
its screenshot is kept in ``tests/artifacts/`` (CI keeps that folder) so people
can look at what leadership sees.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from matplotlib import image

import funnelkit as fk
from conftest import ARTIFACTS, ROOT, SHARED_DATA, browse, shared_path
from funnelkit.report import render_report

pytestmark = pytest.mark.slow

NOTEBOOKS = ("funnel_review", "sla_scorecard", "lead_plan")
MAVEN_MAPPING = str(ROOT / "data" / "mappings" / "maven_crm.yml")


def _datasets() -> dict[str, tuple]:
    maven = SHARED_DATA / "maven_crm"
    return {
        "sample": (lambda tmp: ROOT / "data" / "sample", {}),
        "hubspot50k": (_hubspot_50k, {}),
        "maven": (lambda tmp: shared_path("maven_crm"), {"mapping": MAVEN_MAPPING, "by": "owner"}),
        "maven_file": (lambda tmp: maven / "sales_pipeline.csv", {"mapping": MAVEN_MAPPING, "by": "owner"}),
    }


def _hubspot_50k(tmp):
    folder = tmp / "hubspot50k"
    fk.write_sample(50_000, folder, format="hubspot", seed=11)
    return folder


class _VisibleText(HTMLParser):
    """The text a reader sees: no style, script or tag attributes."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _VisibleText()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """(notebook, dataset) -> the run, rendered once per module; Maven runs skip where ../shared is absent."""
    tmp = tmp_path_factory.mktemp("screens")
    runs = {}

    def get(notebook: str, dataset: str):
        if (notebook, dataset) not in runs:
            make_path, parameters = _datasets()[dataset]
            data = make_path(tmp)
            if dataset == "maven_file":
                shared_path("maven_crm")
            runs[notebook, dataset] = render_report(
                ROOT / "notebooks" / f"{notebook}.ipynb", data=data, out=tmp / "reports",
                parameters=parameters, name=f"{notebook}--{dataset}", progress=False,
            )  # fmt: skip
        return runs[notebook, dataset]

    return get


@pytest.mark.parametrize("dataset", ["sample", "hubspot50k", "maven", "maven_file"])
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_report_renders_without_warnings_and_is_photographed(rendered, chromium, tmp_path, notebook, dataset):
    run = rendered(notebook, dataset)
    manifest = run.manifest
    assert manifest["status"] == "succeeded"
    warned = {cell["cell"]: cell["stderr"][:300] for cell in manifest["cells"] if cell.get("stderr")}
    assert warned == {}, f"cells wrote warnings or stderr: {warned}"
    page = run.html_path.read_text(encoding="utf-8")
    text = visible_text(page)
    # numbers for people: no raw floats such as 25675.099272 anywhere a reader looks
    assert not re.findall(r"\d+\.\d{4,}", text)
    assert "(not set)" not in text
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{notebook}--{dataset}.png"
    done = browse(chromium, tmp_path, "--window-size=1300,2400", f"--screenshot={shot}", run.html_path.as_uri())
    assert shot.exists(), done.stderr[-2000:]
    pixels = image.imread(str(shot))
    assert pixels.shape[:2] == (2400, 1300)
    assert pixels[..., :3].std() > 0.05  # not a blank page
    assert "Uncaught" not in done.stderr


ON_TRACK = re.compile(
    r"Are we on track\? .*?\d{4} Q\d \(\d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d\) "
    r"(is complete|is in progress as of \d{4}-\d\d-\d\d)[^.]*?(on track|at risk|behind|no verdict)"
)


@pytest.mark.parametrize("dataset", ["sample", "hubspot50k", "maven"])
def test_the_funnel_review_answers_leaderships_questions(rendered, dataset):
    text = visible_text(rendered("funnel_review", dataset).html_path.read_text(encoding="utf-8"))
    # are we on track: the period with its dates, complete or in progress, and a verdict (or why there is none)
    assert ON_TRACK.search(text), text[:1500]
    # what changed: won revenue split by factor, rates moving in points
    assert "What changed in won revenue, and why" in text and " pts" in text
    # where we lose deals: the lost-reason section, shown or left out with its reason, and stalled deals
    lost = text.index("Lost reasons")
    assert "Share" in text[lost : lost + 2000] or "no lost reason column" in text[lost : lost + 2000]
    assert "Open pipeline and stalled deals" in text
    # numbers for people: durations in days, rates as percentages
    assert re.search(r"\d days", text) and re.search(r"\d%", text)


def test_thirty_owners_show_the_largest_by_name_and_the_rest_as_other(rendered):
    text = visible_text(rendered("funnel_review", "maven").html_path.read_text(encoding="utf-8"))
    owners = set(fk.load(shared_path("maven_crm"), mapping=MAVEN_MAPPING, cache=False).opportunities["owner"])
    assert len(owners) == 30
    folded = {int(n) for n in re.findall(r"Other \((\d+) groups\)", text)}
    assert folded and all(n >= 30 - 10 for n in folded), folded  # at most ten owners by name, the rest folded


def test_the_lead_plan_opens_with_its_headline(rendered):
    text = visible_text(rendered("lead_plan", "sample").html_path.read_text(encoding="utf-8"))
    period = r"\d{4} Q\d \(\d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d\)"
    assert re.search(rf"To win [\d,]+ USD in {period}, you need about [\d,]+ new leads", text), text[:800]
