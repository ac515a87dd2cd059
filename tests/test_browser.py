"""The rendered report in a real headless browser (Debian's chromium): it renders, images load,
no script error. The screenshot is kept in tests/artifacts/ for people to look at."""

from __future__ import annotations

import pytest
from matplotlib import image

from conftest import ARTIFACTS, ROOT, browse
from funnelkit.report import render_report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return render_report(
        ROOT / "notebooks" / "funnel_review.ipynb", data=ROOT / "data" / "sample", out=out, progress=False
    )


def test_report_renders_in_chromium(chromium, report, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "funnel_review.png"
    done = browse(chromium, tmp_path, "--window-size=1300,3000", f"--screenshot={shot}", report.html_path.as_uri())
    assert shot.exists(), done.stderr[-2000:]
    pixels = image.imread(str(shot))
    assert pixels.shape[0] == 3000 and pixels.shape[1] == 1300
    assert pixels[..., :3].std() > 0.05  # not a blank page
    assert "Uncaught" not in done.stderr  # no script error in the page's console


def test_every_image_loads(chromium, report, tmp_path):
    # The page measures its own images once loaded and writes the result into the DOM.
    probe = tmp_path / "probe.html"
    page = report.html_path.read_text()
    check = (
        "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
        "document.body.setAttribute('data-images', imgs.length + ':' +"
        " imgs.filter(i => i.complete && i.naturalWidth > 0).length); });</script>"
    )
    probe.write_text(page.replace("</body>", check + "</body>"))
    done = browse(chromium, tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    found = [part for part in done.stdout.split() if part.startswith("data-images=")]
    assert found, done.stderr[-2000:]
    total, loaded = found[0].split("=")[1].strip("\"'>").split(":")
    assert int(total) >= 6 and int(loaded) == int(total)
