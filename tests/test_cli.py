"""The funnelkit command: exit codes and what it prints."""

from __future__ import annotations

import shutil

from funnelkit.cli import main


def test_validate_prints_accounting_and_exits_zero(data_dir, capsys):
    assert main(["validate", str(data_dir / "salesforce_report")]) == 0
    out = capsys.readouterr().out
    assert "leads.csv" in out and "salesforce_report" in out
    assert "6 leads, 3 opportunities" in out


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
