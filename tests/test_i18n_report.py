"""Reports in another language, rendered for real: a tiny notebook through the runner with ``-p lang=...``."""

from __future__ import annotations

import re

import nbformat
import pytest
from babel.numbers import format_currency
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import funnelkit as fk
from conftest import ROOT
from funnelkit.report import render_report

pytestmark = pytest.mark.slow

DATA_QUALITY = (
    "## Data quality\n\nWhere the numbers come from: for an export, the rows read, kept and quarantined per file (they "
    "always add up) and what the loader noticed; for tables read in place, the rows of each table."
)


@pytest.fixture
def notebook(tmp_path):
    """A report notebook as the bundled ones are laid out: parameters with ``lang``, then ``fk.set_locale(lang)``."""
    parameters = new_code_cell('data_path = ""  # export file or folder\nlang = "en"  # report language')
    parameters.metadata["tags"] = ["parameters"]
    cells = [
        new_markdown_cell(DATA_QUALITY),
        parameters,
        new_code_cell(
            "import funnelkit as fk\n"
            "fk.set_locale(lang)\n"
            'print("money:", fk.units.format_value(1234.5, "money", currency="EUR"),'
            ' "rate:", fk.units.format_value(0.1234, "rate"))'
        ),
        new_markdown_cell("## A heading of my own"),
    ]
    path = tmp_path / "tiny.ipynb"
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=cells, metadata=kernel), path)
    return path


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("id,status,add_time\n1,won,2025-01-01\n")
    return path


def test_a_zh_cn_report_translates_its_markdown_and_carries_the_lang_attribute(notebook, data_file, tmp_path):
    out = tmp_path / "reports"
    result = render_report(notebook, data=data_file, out=out, parameters={"lang": "zh_cn"}, progress=False)
    page = result.html_path.read_text()
    assert re.search(r"<html lang=\"zh-CN\">", page)
    assert "数据质量" in page and "每个文件读取、保留和隔离的行数" in page  # the catalog's translation of the cell
    assert "Data quality" not in page and "Rows read, kept" not in page
    assert "A heading of my own" in page  # a cell the catalog lacks stays as written
    assert "money: €1,234.50 rate: 12.3%" in page  # the kernel formats with zh-CN's CLDR data
    assert format_currency(1234.5, "EUR", locale="zh_CN") == "€1,234.50"
    assert result.manifest["title"].startswith("数据质量 \u2014 export \u2014 ")  # the translated heading
    assert result.manifest["parameters"]["lang"] == "zh-CN"
    index = (out / "index.html").read_text()
    assert "<html lang='zh-CN'>" in index and "<h2>最新报告</h2>" in index and "成功" in index
    assert fk.get_locale() == "en"  # the runner's own process speaks English again


def test_a_turkish_report_writes_numbers_as_turkish_does(notebook, data_file, tmp_path):
    result = render_report(
        notebook, data=data_file, out=tmp_path / "reports", parameters={"lang": "tr"}, progress=False
    )
    page = result.html_path.read_text()
    assert '<html lang="tr">' in page
    assert "money: €1.234,50 rate: %12,3" in page
    assert "Veri kalitesi" in page and "toplamları her zaman tutar" in page


def test_an_unsupported_lang_stops_before_any_kernel_starts(notebook, data_file, tmp_path):
    out = tmp_path / "reports"
    with pytest.raises(fk.ParameterError, match=r"'fr' is not a supported language; choose from \['en', 'zh-CN'"):
        render_report(notebook, data=data_file, out=out, parameters={"lang": "fr"}, progress=False)
    assert not out.exists()  # no run folder, no index: nothing ran


@pytest.mark.parametrize("name", ["funnel_review", "sla_scorecard", "lead_plan"])
def test_each_report_notebook_takes_lang_and_sets_the_locale_first(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    position = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    assert re.search(r'^lang = "en"  # ', nb.cells[position].source, re.MULTILINE)
    first_code = next(c for c in nb.cells[position + 1 :] if c.cell_type == "code")
    calls = first_code.source.split("\n")
    assert "fk.set_locale(lang)" in first_code.source
    # before anything that formats: the load and what follows it
    assert next(i for i, line in enumerate(calls) if "fk.set_locale(lang)" in line) < next(
        i for i, line in enumerate(calls) if "open_data(data_path" in line
    )
