"""Reports rendered with ``-p engine=duckdb`` read the same as with pandas under the metrics."""

from __future__ import annotations

import re

import nbformat
import pytest
from test_report_screenshots import visible_text

import funnelkit as fk
from conftest import ROOT
from funnelkit.report import render_report

pytestmark = pytest.mark.slow

SAMPLE = ROOT / "data" / "sample"
NOTEBOOKS = ["funnel_review", "sla_scorecard", "lead_plan"]


def test_an_unknown_engine_stops_before_any_kernel_starts(tmp_path):
    out = tmp_path / "reports"
    with pytest.raises(fk.ParameterError, match=r"engine must be one of \['pandas', 'duckdb'\]; got 'spark'"):
        render_report(ROOT / "notebooks" / "funnel_review.ipynb", data=SAMPLE, out=out,
                      parameters={"engine": "spark"}, progress=False)  # fmt: skip
    assert not out.exists()  # nothing ran


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_report_notebook_takes_engine_and_sets_it_before_loading(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    position = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    assert re.search(r'^engine = "duckdb"  # ', nb.cells[position].source, re.MULTILINE)
    first_code = next(c for c in nb.cells[position + 1 :] if c.cell_type == "code").source
    assert 0 <= first_code.index("fk.set_engine(engine)") < first_code.index("open_data(data_path")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_report_on_duckdb_reads_as_the_report_on_pandas(name, tmp_path):
    pages = {}
    for engine in ("pandas", "duckdb"):
        run = render_report(ROOT / "notebooks" / f"{name}.ipynb", data=SAMPLE, out=tmp_path / engine,
                            parameters={"engine": engine}, progress=False)  # fmt: skip
        assert run.manifest["status"] == "succeeded" and run.manifest["parameters"]["engine"] == engine
        pages[engine] = visible_text(run.html_path.read_text(encoding="utf-8"))
    assert len(pages["pandas"]) > 2000  # a whole report, not an error page
    assert pages["duckdb"] == pages["pandas"]
