"""The funnelkit command: exit codes and what it prints."""

from __future__ import annotations

import shutil

import pytest

import funnelkit as fk
from conftest import ROOT
from funnelkit.cli import main
from funnelkit.report import check_values


def test_validate_prints_accounting_and_exits_zero(data_dir, capsys):
    assert main(["validate", str(data_dir / "salesforce_report")]) == 0
    out = capsys.readouterr().out
    assert "leads.csv" in out and "salesforce_report" in out
    assert "6 leads, 3 opportunities" in out


def test_validate_reads_canonical_tables_in_place_as_the_report_does(data_dir, tmp_path, capsys):
    from funnelkit.engine.parquet import write_tables

    tables = write_tables(fk.load(data_dir / "salesforce_report", cache=False), tmp_path / "crm_tables")
    assert main(["validate", str(tables)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Read in place: <funnelkit.EngineDataset on duckdb")
    rows = [line.split() for line in out.splitlines()[2:5]]
    assert rows == [["table", "rows"], ["leads", "6"], ["opportunities", "3"]]  # the export's 6 and 3 data rows
    assert "No export file was parsed, so nothing was quarantined" in out
    assert main(["validate", str(tables), "--date-order", "dmy"]) == 1  # no export text to read dates from
    assert "date_order: crm_tables is read in place as canonical tables" in capsys.readouterr().err


def test_validate_shows_quarantined_rows(data_dir, tmp_path, capsys):
    export = tmp_path / "export"
    shutil.copytree(data_dir / "salesforce_report", export)
    opps = export / "opportunities.csv"
    opps.write_text(opps.read_text().replace('"USD 4,000.50"', '"abc"'))
    assert main(["validate", str(export)]) == 0
    out = capsys.readouterr().out
    assert "1 values quarantined" in out and "bad_amount" in out and "Amount" in out


def test_validate_bad_file_exits_one_with_a_message(tmp_path, capsys):
    path = tmp_path / "broken.csv"
    path.write_bytes(b"")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "broken.csv: the file is empty" in err
    assert "Traceback" not in err


def test_validate_ambiguous_dates_name_the_fix(tmp_path, capsys):
    path = tmp_path / "deals.csv"
    path.write_text("id,status,add_time\n1,open,03/04/2025\n")
    assert main(["validate", str(path), "--source", "pipedrive"]) == 1
    assert "date_order" in capsys.readouterr().err
    assert main(["validate", str(path), "--source", "pipedrive", "--date-order", "dmy"]) == 0


# ---------------------------------------------------------------- report values, before any kernel --

REVIEW = ROOT / "notebooks" / "funnel_review.ipynb"
#: text columns the hand-written Salesforce export fills (leads.csv + opportunities.csv, by hand)
FILLED = (
    "['account', 'company', 'currency', 'entity', 'first_name', 'furthest_stage', 'industry', 'last_name', "
    "'lost_reason', 'opportunity_name', 'owner', 'source', 'source_basis', 'status']"
)


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ("by=ownr", f"parameter by: 'ownr' is not a column of this data; choose from {FILLED}; did you mean 'owner'?"),
        ("by=disqualify_reason", f"parameter by: 'disqualify_reason' is empty in this data; choose from {FILLED}"),
        ("by=amount", f"parameter by: 'amount' is not a text column to group by; choose from {FILLED}"),
        (
            "period=quater",
            "parameter period: 'quater' is not a period (W week, M month, Q quarter, Y year); "
            "choose from ['W', 'M', 'Q', 'Y']",
        ),
        (
            "fiscal_year_start=13",
            "parameter fiscal_year_start: 13 is not a month number; choose from 1 to 12 (7 for July)",
        ),
        ("quota=-5", "parameter quota: -5.0 is negative; give 0 or more"),
        ("quota=inf", "parameter quota: inf is not a number; give a finite number"),
        ("stall_days=abc", "parameter stall_days must be float (like its default 90.0); got 'abc'"),
        (
            "date_order=dmyy",
            "parameter date_order: 'dmyy' is not a date order; choose from ['auto', 'mdy', 'dmy', 'ymd']; "
            "did you mean 'dmy'?",
        ),
        ("as_of=yesterday", "parameter as_of: 'yesterday' is not a date; give one like 2025-12-31"),
    ],
)
def test_report_values_are_checked_before_any_kernel_starts(data_dir, tmp_path, capsys, parameter, message):
    out = tmp_path / "reports"
    argv = ["report", str(REVIEW), "--data", str(data_dir / "salesforce_report"), "--out", str(out), "-p", parameter]
    assert main(argv) == 1
    assert capsys.readouterr().err == f"funnelkit report: {message}\n"
    assert not out.exists()  # nothing ran, nothing was written


def test_report_values_of_the_lead_plan_and_the_report_name(data_dir, tmp_path, capsys):
    data = str(data_dir / "salesforce_report")
    plan = str(ROOT / "notebooks" / "lead_plan.ipynb")
    assert main(["report", plan, "--data", data, "--out", str(tmp_path / "r"), "-p", "win_rate=23"]) == 1
    assert capsys.readouterr().err == (
        "funnelkit report: parameter win_rate: 23.0 is not a share; give a number from 0 to 1; did you mean 0.23?\n"
    )
    assert main(["report", plan, "--data", data, "--out", str(tmp_path / "r"), "--name", "../elsewhere"]) == 1
    assert capsys.readouterr().err == (
        "funnelkit report: report name '../elsewhere' cannot name a folder; use letters, digits, '.', '_' and '-' "
        "(e.g. funnel_review-maven)\n"
    )
    assert not (tmp_path / "r").exists() and not (tmp_path / "elsewhere").exists()


def test_report_values_in_canonical_form(data_dir):
    values = {"data_path": str(data_dir / "salesforce_report"), "source": "auto", "mapping": "", "tz": None}
    given = {"period": "q", "by": "Owner", "stage": "Closed Won", "from_stage": "MQL", "date_order": "MDY"}
    checked = check_values(given, {**values, **given})
    assert {name: checked[name] for name in given} == {
        "period": "Q", "by": "owner", "stage": "won", "from_stage": "mql", "date_order": "mdy"
    }  # fmt: skip
    with pytest.raises(fk.ParameterError) as err:
        check_values({"stage": "wonn"}, {**values, "stage": "wonn"})
    assert str(err.value) == (
        "parameter stage: 'wonn' is not a stage of this funnel; choose from ['lead', 'mql', 'sql', 'opportunity', "
        "'won']; did you mean 'won'?"
    )
    assert check_values({"by": ""}, {**values, "by": ""})["by"] == ""  # empty: no breakdown, nothing to check
