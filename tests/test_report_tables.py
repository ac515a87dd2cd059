"""Reports on canonical tables read in place by the engine (Parquet, Delta Lake, a DuckDB file): the same numbers
as the report on the export they were written from, and what tables cannot honour refused before a kernel starts."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from engine_cases import write_delta
from test_report_screenshots import visible_text

import funnelkit as fk
from conftest import ROOT
from funnelkit.engine.parquet import write_tables
from funnelkit.report import check_values, open_data, render_report

pytestmark = pytest.mark.slow

SAMPLE = ROOT / "data" / "sample"
NOTEBOOK = ROOT / "notebooks" / "funnel_review.ipynb"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """The sample export's canonical tables as Parquet files in a folder of their own (6,000 leads, 531 deals)."""
    return write_tables(fk.load(SAMPLE, cache=False), tmp_path_factory.mktemp("warehouse") / "crm_tables")


def _data_quality(text: str) -> str:
    return text[text.index("Data quality") :]


def test_the_funnel_review_of_the_tables_reads_as_the_review_of_the_export(tables, tmp_path):
    on_export = render_report(NOTEBOOK, data=SAMPLE, out=tmp_path, progress=False)
    on_tables = render_report(NOTEBOOK, data=tables, out=tmp_path, progress=False)
    export_text = visible_text(on_export.html_path.read_text(encoding="utf-8"))
    tables_text = visible_text(on_tables.html_path.read_text(encoding="utf-8"))
    assert len(export_text) > 2000  # a whole report, not an error page
    # every section before the data-quality one says the same, word for word and number for number
    title = re.compile(r"Funnel review — (sample|crm_tables) — ")
    assert title.sub("", tables_text[: tables_text.index("Data quality")]) == title.sub(
        "", export_text[: export_text.index("Data quality")]
    )
    said = _data_quality(tables_text)
    assert "leads 6,000 opportunities 531" in said  # rows per table, as the export's 6,000 and 531 rows kept
    assert "Read in place by DuckDB from crm_tables: no export file was parsed, so no row or value" in said
    assert str(tables.parent) not in tables_text  # the folder's name only, never where it sits on the machine
    manifest = json.loads((on_tables.run_dir / "run.json").read_text())
    assert manifest["status"] == "succeeded"
    assert manifest["rows"] == {"read": 6531} and manifest["tables"] == {"leads": 6000, "opportunities": 531}
    assert manifest["read_in_place"] == "duckdb"


def test_auto_reads_tables_parquet_delta_or_duckdb_in_place_and_an_export_as_an_export(tables, tmp_path):
    database = tmp_path / "crm.duckdb"
    with duckdb.connect(str(database)) as con:
        for name in ("leads", "opportunities"):
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{tables / f'{name}.parquet'}')")
    export = open_data(SAMPLE)
    delta = write_delta(export, tmp_path / "lake")
    in_folder, in_file, in_lake = open_data(tables), open_data(database), open_data(delta)
    assert all(isinstance(data, fk.EngineDataset) for data in (in_folder, in_file, in_lake))
    assert isinstance(export, fk.Dataset)
    assert in_folder.table_rows.to_dict("list") == {"table": ["leads", "opportunities"], "rows": [6000, 531]}
    assert in_file.table_rows["rows"].tolist() == in_lake.table_rows["rows"].tolist()[:2] == [6000, 531]
    assert in_folder.as_of == in_file.as_of == in_lake.as_of == export.as_of
    for data in (in_folder, in_file, in_lake):
        assert data.win_rate(period="Q").equals(fk.win_rate(export, period="Q"))
    with pytest.raises(fk.InputFileError, match="crm_tables: the folder holds no CSV, Excel or zipped CSV exports"):
        open_data(tables, source="salesforce_report")  # an adapter named: read as an export, which it is not
    half = tmp_path / "half"
    half.mkdir()
    (half / "leads.parquet").write_bytes((tables / "leads.parquet").read_bytes())
    with pytest.raises(
        fk.ParameterError, match=r"half must hold leads.parquet and opportunities.parquet .* found \['leads.parquet'\]"
    ):
        open_data(half)  # tables, one missing: said as such, not as a folder without an export


@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ({"redact": True}, r"redact: crm_tables is read in place as tables, whose rows never come to Python"),
        ({"date_order": "dmy"}, r"date_order: crm_tables is read in place as canonical tables"),
        (
            {"tz": "Europe/Berlin", "mapping": str(ROOT / "data" / "mappings" / "maven_crm.yml")},
            r"mapping and tz: crm_tables is read in place",
        ),
    ],
)
def test_what_tables_cannot_honour_is_refused_before_any_kernel_starts(tables, tmp_path, given, refused):
    out = tmp_path / "reports"
    with pytest.raises(fk.ParameterError, match=refused):
        render_report(NOTEBOOK, data=tables, out=out, parameters=given, progress=False)
    assert not out.exists()  # nothing ran
    with pytest.raises(fk.ParameterError, match=refused):
        open_data(tables, **given)


def test_a_breakdown_is_checked_against_the_tables_columns_without_bringing_rows_to_python(tables):
    defaults = {"data_path": str(tables), "source": "auto", "mapping": "", "redact": False}
    assert check_values({"by": "Owner"}, {**defaults, "by": "Owner"})["by"] == "owner"
    with pytest.raises(fk.ParameterError, match=r"'ownr' is not a column of this data.*did you mean 'owner'"):
        check_values({"by": "ownr"}, {**defaults, "by": "ownr"})
    with pytest.raises(fk.ParameterError, match=r"'lead_id' is not a text column to group by"):
        check_values({"by": "lead_id"}, {**defaults, "by": "lead_id"})
    from funnelkit.report._checks import groupable_columns

    assert groupable_columns(open_data(tables)) == groupable_columns(fk.load(SAMPLE, cache=False))
