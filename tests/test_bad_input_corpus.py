"""The bad-input corpus (tests/data/bad): one file per trap, one exact expectation per file.

Files that load must balance (rows read == kept + quarantined) and quarantine
exactly the listed (line, column, reason); files that cannot load must raise
the listed funnelkit error whose message names the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import funnelkit as fk

BAD = Path(__file__).resolve().parent / "data" / "bad"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# file -> (rows read, rows kept, [(line, column, reason), ...])
LOADS = {
    "header_only.csv": (0, 0, []),
    "bom.csv": (1, 1, []),
    "windows1252.csv": (2, 2, []),
    "utf16.csv": (1, 1, []),
    "semicolon.csv": (2, 2, []),
    "quoted_newlines.csv": (3, 2, [(4, "value", "bad_amount")]),
    "duplicate_header_rows.csv": (3, 2, [(3, "(whole row)", "repeated_header_row")]),
    "duplicate_records.csv": (3, 2, [(4, "id", "duplicate_row")]),  # an exact repeat: harmless, counted once
    "ids_case_whitespace.csv": (3, 2, [(3, "id", "duplicate_row")]),
    "mixed_date_formats.csv": (4, 3, [(4, "add_time", "bad_date")]),
    "dates_out_of_range.csv": (
        3,
        1,
        [(3, "add_time", "date_out_of_range"), (4, "add_time", "date_out_of_range")],
    ),
    "close_before_created.csv": (2, 2, []),
    "amounts.csv": (4, 3, [(4, "value", "bad_amount")]),
    "mixed_currencies.csv": (3, 3, []),
    "title_row.xlsx": (2, 2, []),
    "zipped.csv.zip": (3, 2, [(3, "value", "bad_amount")]),  # line 3 of the zipped deals.csv
    "excel_numbers.xlsx": (3, 2, [(3, "id", "excel_lost_digits")]),
}

# file -> (error class, words the message must hold)
FAILS = {
    "empty.csv": (fk.InputFileError, "the file is empty"),
    "binary.csv": (fk.InputFileError, "not a text export"),
    "html_error_page.csv": (fk.InputFileError, "web page"),
    "truncated.csv": (fk.InputFileError, "line 3: the file ends inside a quoted field"),
    "ambiguous_day_month.csv": (fk.AmbiguousDateError, "date_order='mdy'"),
    "unknown_stage.csv": (fk.StageError, "'Hot Lead' (2 rows)"),
    "missing_columns.csv": (fk.SchemaError, "no column for the opportunity id (a column named 'Opportunity ID'"),
    "all_rows_bad.csv": (fk.InputFileError, "all 2 rows were quarantined"),
    "two_csvs.zip": (fk.InputFileError, "the zip holds 2 CSV/TSV/TXT files (deals.csv, persons.csv)"),
    "xlsx_declares_16384_columns.xlsx": (
        fk.InputFileError,
        "declares 2 rows x 16,384 columns; funnelkit reads at most 5,000 columns",
    ),
}


def test_corpus_is_fully_covered():
    on_disk = {p.name for p in BAD.iterdir()}
    assert on_disk == set(LOADS) | set(FAILS) | {"renamed_stages.csv", "README.md"}
    listed = set(re.findall(r"^\| `([^`]+)` \|", (BAD / "README.md").read_text(encoding="utf-8"), re.MULTILINE))
    assert listed == on_disk - {"README.md"}


@pytest.mark.parametrize("name", sorted(LOADS))
def test_file_loads_with_exact_quarantine(name):
    read, kept, expected = LOADS[name]
    data = fk.load(BAD / name, cache=False)
    row = data.summary.table.iloc[0]
    assert (row["rows_read"], row["rows_kept"], row["rows_quarantined"]) == (
        read,
        kept,
        read - kept,
    )
    assert data.summary.balanced
    got = [tuple(r) for r in data.quarantine[["line", "column", "reason"]].itertuples(index=False)]
    assert got == expected
    assert (data.quarantine["file"] == str(BAD / name)).all()


@pytest.mark.parametrize("name", sorted(FAILS))
def test_file_fails_with_a_clear_error(name):
    error, words = FAILS[name]
    with pytest.raises(error) as err:
        fk.load(BAD / name, cache=False)
    assert name in str(err.value)
    assert words in str(err.value)


def test_text_survives_encodings():
    accounts = {
        name: fk.load(BAD / name, cache=False).opportunities["account"].tolist()
        for name in ("windows1252.csv", "utf16.csv", "semicolon.csv")
    }
    assert accounts == {
        "windows1252.csv": ["Caf\u00e9 \u201cBleu\u201d", "M\u00fcller GmbH"],
        "utf16.csv": ["Zo\u00eb Ltd"],
        "semicolon.csv": ["A; B & Co", "C"],
    }
    bom = fk.load(BAD / "bom.csv", cache=False)
    assert bom.opportunities["opportunity_id"].tolist() == ["1"]  # BOM not glued to the header


def test_values_of_tricky_files():
    semicolon = fk.load(BAD / "semicolon.csv", cache=False).opportunities
    assert semicolon["amount"].tolist() == [1234.5, 99.0]  # decimal comma in a ; file
    quoted = fk.load(BAD / "quoted_newlines.csv", cache=False).opportunities
    assert quoted["lost_reason"].iloc[0] == "Price,\nand timing"
    mixed = fk.load(BAD / "mixed_date_formats.csv", cache=False).opportunities
    assert mixed["created_at"].tolist() == [
        ts("2025-01-03 10:00"),
        ts("2025-01-24 10:00"),
        ts("2025-01-06 08:00"),
    ]
    amounts = fk.load(BAD / "amounts.csv", cache=False)
    assert amounts.opportunities["amount"].tolist() == [-250.0, 0.0, 12500.0]
    assert any("negative amount" in n for n in amounts.notes)
    currencies = fk.load(BAD / "mixed_currencies.csv", cache=False)
    assert currencies.opportunities["currency"].tolist() == ["EUR", "USD", "USD"]
    assert any("several currencies" in n for n in currencies.notes)
    numbers = fk.load(BAD / "excel_numbers.xlsx", cache=False)
    assert numbers.opportunities["postal_code"].tolist() == ["01234", "00501"]  # number format "00000"
    assert numbers.opportunities["opportunity_id"].tolist() == ["1", "3"]
    case = fk.load(BAD / "ids_case_whitespace.csv", cache=False)
    assert case.opportunities["opportunity_id"].tolist() == ["Abc", "ABC"]
    assert any("only by upper/lower case" in n for n in case.notes)


def test_title_rows_above_an_excel_header():
    data = fk.load(BAD / "title_row.xlsx", cache=False)
    row = data.summary.table.iloc[0]
    assert row["adapter"] == "salesforce_report" and row["footer_lines"] == 1
    assert data.opportunities["stage"].tolist() == ["won", "opportunity"]
    assert data.opportunities["amount"].tolist() == [1000.0, 2500.0]


def test_missing_required_column_lists_what_was_found():
    with pytest.raises(fk.SchemaError) as err:
        fk.load(BAD / "missing_columns.csv", source="salesforce_report", cache=False)
    message = str(err.value)
    assert "salesforce_report opportunities export has no column for the opportunity id" in message
    assert "'Opportunity ID' or 'Opportunity Id'" in message
    assert "'Opportunity Name', 'Stage', 'Amount', 'Close Date'" in message


def test_renamed_stages_through_a_mapping():
    path = BAD / "renamed_stages.csv"
    with pytest.raises(fk.StageError, match="'Discovery Call' \\(1 rows\\)"):
        fk.load(path, source="pipedrive", cache=False)
    stages = fk.Stages(labels={"Discovery Call": "opportunity", "Signed": "won"})
    data = fk.load(path, source="pipedrive", stages=stages, cache=False)
    assert data.opportunities["stage"].tolist() == ["opportunity", "won"]
