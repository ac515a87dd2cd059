"""Files that are not what they claim: wide headers, all-bad files, Excel numbers, zips, non-files, limits.

Each test writes a small export of the shape of the case in tmp_path and asserts
the exact rows kept and quarantined, or the error's class and the file, line
and column its message names.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

import funnelkit as fk
from funnelkit.cli import main
from funnelkit.load import _read
from funnelkit.report._runner import absolute_path_parameters

ROOT = Path(__file__).resolve().parent.parent

SF_OPPS = [
    "Opportunity ID",
    "Opportunity Name",
    "Account Name",
    "Opportunity Owner",
    "Lead Source",
    "Stage",
    "Amount",
    "Created Date",
    "Close Date",
    "Closed",
    "Won",
    "Loss Reason",
]
SF_ROWS = [
    ["006A01", "Globex - Deal", "Globex", "Ida Rep", "Web", "Closed Won", "USD 1,000.00", "02/14/2025", "03/20/2025"]
    + ["1", "1", ""],
    ["006A02", "Initech - Deal", "Initech", "Ida Rep", "Web", "Closed Lost", "USD 2,000.00", "02/15/2025"]
    + ["03/21/2025", "1", "0", "Price"],
    ["006A03", "Umbrella - Deal", "Umbrella", "Sam Rep", "Partner", "Closed Won", "USD 3,000.00", "02/16/2025"]
    + ["03/22/2025", "1", "1", ""],
    ["006A04", "Hooli - Deal", "Hooli", "Sam Rep", "Partner", "Closed Won", "USD 4,000.00", "02/17/2025"]
    + ["03/23/2025", "1", "1", ""],
    ["006A05", "Vandelay - Deal", "Vandelay", "Sam Rep", "Web", "Closed Lost", "USD 5,000.00", "02/18/2025"]
    + ["03/24/2025", "1", "0", "Timing"],
]
HS_DEALS = ["Record ID", "Deal Name", "Pipeline", "Deal Stage", "Amount", "Create Date", "Close Date"]


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def summary_row(data) -> tuple[int, int, int]:
    row = data.summary.table.iloc[0]
    return int(row["rows_read"]), int(row["rows_kept"]), int(row["rows_quarantined"])


def quarantined(data) -> list[tuple]:
    return [tuple(r) for r in data.quarantine[["line", "column", "value", "reason"]].itertuples(index=False)]


# ---------------------------------------------------------------- A: wide headers --


def test_a_header_longer_than_64_kb_loads_every_row(tmp_path):
    extra = [f"Custom Field {i:04d} - Quarterly Territory Planning Attribute (Long Label)" for i in range(1_509)]
    header = SF_OPPS + extra
    rows = [row + [f"x{i}-{n}" for i in range(len(extra))] for n, row in enumerate(SF_ROWS, start=1)]
    path = tmp_path / "opportunities.csv"
    path.write_text(csv_text(header, rows), encoding="utf-8")
    assert len(header) == 1_521 and path.read_bytes().index(b"\n") > 65_536  # the case: header past 64 KB

    data = fk.load(path, cache=False)

    assert summary_row(data) == (5, 5, 0)
    assert len(data.quarantine) == 0
    opps = data.opportunities.set_index("opportunity_id")
    assert opps["amount"].to_dict() == {
        "006A01": 1000.0,
        "006A02": 2000.0,
        "006A03": 3000.0,
        "006A04": 4000.0,
        "006A05": 5000.0,
    }
    last = "custom_field_1508_quarterly_territory_planning_attribute_long_label"
    assert opps.loc["006A03", last] == "x1508-3"  # the last column, read under its own name


def test_a_record_longer_than_arrows_block_loads(tmp_path):
    reason = "no budget " * 300_000  # 3 MB in one cell: straddles two of Arrow's 1 MiB blocks
    rows = [list(r) for r in SF_ROWS[:2]]
    rows[1][-1] = reason
    path = tmp_path / "opportunities.csv"
    path.write_text(csv_text(SF_OPPS, rows), encoding="utf-8")

    data = fk.load(path, cache=False)

    assert summary_row(data) == (2, 2, 0)
    assert data.opportunities.set_index("opportunity_id").loc["006A02", "lost_reason"] == reason.strip()


# ---------------------------------------------------------------- B: every row quarantined --


def test_b_a_file_whose_every_row_is_quarantined_is_an_error(tmp_path):
    rows = [list(r) for r in SF_ROWS[:3]]
    for row, amount in zip(rows, ["n/a", "tbd", "abc"], strict=True):
        row[6] = amount
    rows[1][7] = "31/31/2025"  # line 3 also has a bad created date
    path = tmp_path / "opportunities.csv"
    path.write_text(csv_text(SF_OPPS, rows), encoding="utf-8")

    with pytest.raises(fk.InputFileError) as err:
        fk.load(path, cache=False)

    message = str(err.value)
    assert message.startswith(f"{path}: all 3 rows were quarantined")
    assert "bad_amount in column 'Amount' (3 rows; e.g. line 2: 'n/a')" in message
    assert "bad_date in column 'Created Date' (1 row; e.g. line 3: '31/31/2025')" in message
    assert message.index("bad_amount") < message.index("bad_date")  # the most common first
    failures = err.value.failures
    assert sorted(zip(failures["line"], failures["column"], strict=True)) == [
        (2, "Amount"),
        (3, "Amount"),
        (3, "Created Date"),
        (4, "Amount"),
    ]


def test_b_rows_that_are_all_ragged_are_an_error(tmp_path):
    path = tmp_path / "opportunities.csv"
    rows = [r + ["spill"] for r in SF_ROWS[:2]]
    path.write_text(csv_text(SF_OPPS, rows), encoding="utf-8")

    with pytest.raises(fk.InputFileError) as err:
        fk.load(path, cache=False)

    message = str(err.value)
    assert f"{path}: all 2 rows were quarantined" in message
    assert "ragged_row in column '(whole row)' (2 rows; e.g. line 2: '\"006A01\"," in message


def test_b_one_bad_file_fails_the_load_and_the_command_exits_1(tmp_path, capsys):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(csv_text(SF_OPPS, SF_ROWS[:2]), encoding="utf-8")
    rows = [list(SF_ROWS[2])]
    rows[0][8] = "someday"
    bad.write_text(csv_text(SF_OPPS, rows), encoding="utf-8")

    assert main(["validate", str(good), str(bad)]) == 1

    err = capsys.readouterr().err
    assert f"{bad}: its only row was quarantined, so nothing of this file would be loaded" in err
    assert "bad_date in column 'Close Date' (1 row; e.g. line 2: 'someday')" in err


def test_b_a_file_of_deleted_records_loads_empty(tmp_path):
    path = tmp_path / "Opportunity.csv"
    path.write_text(
        "Id,IsDeleted,StageName,Amount,CurrencyIsoCode,CloseDate,IsClosed,IsWon,CreatedDate\n"
        "006000000000001AAA,true,Closed Won,100,USD,2025-03-20,true,true,2025-02-14T00:00:00.000Z\n"
        "006000000000002AAA,true,Prospecting,200,USD,2025-06-30,false,false,2025-03-01T10:00:00.000Z\n",
        encoding="utf-8",
    )
    data = fk.load(path, cache=False)
    assert summary_row(data) == (2, 0, 2)
    assert quarantined(data) == [(2, "IsDeleted", "true", "deleted_record"), (3, "IsDeleted", "true", "deleted_record")]


def test_b_a_header_only_file_still_loads_empty(tmp_path):
    path = tmp_path / "opportunities.csv"
    path.write_text(csv_text(SF_OPPS, []), encoding="utf-8")
    assert summary_row(fk.load(path, cache=False)) == (0, 0, 0)


# ---------------------------------------------------------------- C: Excel numbers --


def hubspot_workbook(path: Path, rows: list[list], formats: dict[str, str] | None = None) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append([*HS_DEALS, "Postal Code"])
    for row in rows:
        sheet.append(row)
    for cell, number_format in (formats or {}).items():
        sheet[cell].number_format = number_format
    book.save(path)
    return path


def test_c_zero_padded_number_formats_keep_their_leading_zeros(tmp_path):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(
        tmp_path / "deals.xlsx",
        [[9001, "Globex", *deal, 1234], [9002, "Initech", *deal, 98101], [9003, "Hooli", *deal, 501]],
        {"H2": "00000", "H3": "00000", "H4": "0.00"},
    )
    data = fk.load(path, cache=False)
    assert summary_row(data) == (3, 3, 0)
    opps = data.opportunities.set_index("opportunity_id")
    # "00000" shows 1234 as 01234 in Excel; "0.00" is no zero padding: 501 stays 501
    assert opps["postal_code"].to_dict() == {"9001": "01234", "9002": "98101", "9003": "501"}


def test_c_ids_stored_as_numbers_past_15_digits_are_quarantined_with_a_note(tmp_path):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(
        tmp_path / "deals.xlsx",
        [
            [9001, "Globex", *deal, ""],
            # 123456789012345678 typed into Excel: it keeps 15 significant digits
            [123456789012346000, "Initech", *deal, ""],
            ["123456789012345678", "Hooli", *deal, ""],  # the same id stored as text: exact
        ],
    )
    data = fk.load(path, cache=False)
    assert summary_row(data) == (3, 2, 1)
    assert quarantined(data) == [(3, "Record ID", "123456789012346000", "excel_lost_digits")]
    assert data.quarantine["file"].tolist() == [str(path)]
    assert sorted(data.opportunities["opportunity_id"]) == ["123456789012345678", "9001"]
    notes = [n for n in data.notes if "Record ID" in n]
    assert notes == [
        "deals.xlsx: column 'Record ID': 1 row quarantined for a number of 16 digits or more (first on row 3: "
        "123456789012346000); ids stored as numbers in Excel lose digits after the 15th; "
        "format the column as Text and export again"
    ]


# ---------------------------------------------------------------- D: zipped CSV --

HS_CSV = (
    "Record ID,Deal Name,Pipeline,Deal Stage,Amount,Create Date,Close Date\n"
    "9001,Globex,Sales Pipeline,Closed Won,1000,2025-02-14 00:00,2025-03-20 00:00\n"
    "9002,Initech,Sales Pipeline,Closed Won,lots,2025-02-15 00:00,2025-03-21 00:00\n"
    "9003,Hooli,Sales Pipeline,Closed Lost,300,2025-02-16 00:00,2025-03-22 00:00\n"
)


def zip_of(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_d_a_zip_holding_one_csv_is_read_with_the_members_lines(tmp_path):
    path = zip_of(tmp_path / "export.csv.zip", {"deals.csv": HS_CSV, "__MACOSX/._deals.csv": b"\x00\x05"})
    data = fk.load(path, cache=False)
    assert summary_row(data) == (3, 2, 1)
    assert quarantined(data) == [(3, "Amount", "lots", "bad_amount")]
    assert data.quarantine["file"].tolist() == [str(path)]
    assert data.summary.table.loc[0, "file"] == str(path)
    assert data.opportunities["amount"].tolist() == [1000.0, 300.0]
    assert "export.csv.zip: read the zipped file deals.csv" in data.notes


def test_d_a_folder_picks_up_zips_and_a_csv_named_zip_is_read(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    zip_of(folder / "deals.zip", {"deals.tsv": HS_CSV.replace(",", "\t")})
    data = fk.load(folder, cache=False)
    assert summary_row(data) == (3, 2, 1)
    assert data.summary.table.loc[0, "delimiter"] == "\t"  # from the member's .tsv name
    renamed = zip_of(tmp_path / "deals.csv", {"deals.csv": HS_CSV})  # a zip saved under a .csv name
    assert summary_row(fk.load(renamed, cache=False)) == (3, 2, 1)


def test_d_an_xlsx_saved_as_zip_is_read_as_a_workbook(tmp_path):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(tmp_path / "deals.xlsx", [[9001, "Globex", *deal, 1234]], {"H2": "00000"})
    path = path.rename(tmp_path / "deals.zip")
    data = fk.load(path, cache=False)
    assert data.opportunities["postal_code"].tolist() == ["01234"]


def test_d_zips_with_several_or_no_csv_name_their_members(tmp_path):
    several = zip_of(tmp_path / "two.zip", {"leads.csv": "a\n1\n", "deals.csv": HS_CSV, "logo.png": b"\x89PNG"})
    with pytest.raises(fk.InputFileError) as err:
        fk.load(several, cache=False)
    assert str(err.value) == (
        f"{several}: the zip holds 2 CSV/TSV/TXT files (leads.csv, deals.csv, logo.png); "
        "funnelkit reads a zip holding exactly one. Unzip it and pass the folder"
    )
    none = zip_of(tmp_path / "none.zip", {"report.pdf": b"%PDF-1.4"})
    with pytest.raises(
        fk.InputFileError, match=r"none\.zip: the zip holds no CSV/TSV/TXT file \(it holds: report\.pdf\)"
    ):
        fk.load(none, cache=False)
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(fk.InputFileError, match=r"damaged\.zip: the zip file is damaged or incomplete"):
        fk.load(damaged, cache=False)


def test_d_a_zip_bomb_is_refused_before_it_is_unzipped(tmp_path, monkeypatch):
    path = zip_of(tmp_path / "bomb.csv.zip", {"deals.csv": HS_CSV + "0" * 300_000})  # deflates ~1000:1
    member = zipfile.ZipFile(path).getinfo("deals.csv")
    assert member.file_size > 100 * member.compress_size  # the case: a compression ratio past 100
    monkeypatch.setattr(_read, "ZIP_RATIO_FLOOR", 100_000)  # the real floor is 1 GiB
    unzipped = f"{member.file_size / 1024:.1f} KiB"
    with pytest.raises(fk.InputFileError) as err:
        fk.load(path, cache=False)
    assert re.fullmatch(
        rf"{re.escape(str(path))}!deals\.csv: [\d.]+ (KiB|bytes) compressed would unzip to {unzipped} "
        r"\(more than 100 times larger\): this looks like a zip bomb, not an export",
        str(err.value),
    )
    monkeypatch.setattr(_read, "MAX_UNZIPPED_BYTES", 2**18)  # the real cap is 20 GiB
    monkeypatch.setattr(_read, "ZIP_RATIO_FLOOR", 2**30)
    with pytest.raises(fk.InputFileError) as err:
        fk.load(path, cache=False)
    assert str(err.value) == (
        f"{path}!deals.csv: unzipped it would take {unzipped}; funnelkit unzips at most 256 KiB. "
        "Unzip it yourself and pass the CSV"
    )


# ---------------------------------------------------------------- E: mapping path --


def test_e_a_relative_mapping_is_read_from_the_callers_folder(tmp_path, monkeypatch):
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "crm.yml").write_text("tables: {}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    values = absolute_path_parameters({"mapping": "maps/crm.yml", "title": "maps/crm.yml"})
    assert values == {"mapping": str(tmp_path.resolve() / "maps" / "crm.yml"), "title": "maps/crm.yml"}
    assert absolute_path_parameters({"mapping": ""}) == {"mapping": ""}
    with pytest.raises(fk.ParameterError) as err:
        absolute_path_parameters({"mapping": "maps/missing.yml"})
    assert str(err.value) == (
        f"parameter mapping: the file maps/missing.yml does not exist (relative paths are read from the "
        f"folder the command runs in, {tmp_path.resolve()})"
    )


def test_e_a_missing_mapping_stops_the_report_before_the_kernel_starts(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(
        ["report", str(ROOT / "notebooks" / "funnel_review.ipynb"), "--data", str(data_dir / "salesforce_report")]
        + ["--out", str(tmp_path / "reports"), "-p", "mapping=nope.yml"]
    )
    assert code == 1
    assert "parameter mapping: the file nope.yml does not exist" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


# ---------------------------------------------------------------- F: non-files and limits --


def test_f_a_fifo_or_a_device_is_refused_before_it_is_opened(tmp_path):
    fifo = tmp_path / "leads.csv"
    os.mkfifo(fifo)  # opening it would block until something writes
    with pytest.raises(fk.InputFileError) as err:
        fk.load(fifo)  # with the cache: its key must not open the file either
    assert str(err.value) == f"{fifo}: is not a regular file (a named pipe (FIFO)); pass the export file itself"
    with pytest.raises(fk.InputFileError, match=r"^/dev/zero: is not a regular file \(a device\)"):
        fk.load("/dev/zero", cache=False)
    with pytest.raises(fk.InputFileError, match="is not a regular file"):
        _read.read_table(fifo)
    (tmp_path / "deals.csv").write_text(HS_CSV, encoding="utf-8")
    assert summary_row(fk.load(tmp_path, cache=False)) == (3, 2, 1)  # a folder's FIFO is passed over


def test_f_a_csv_wider_than_the_limit_says_so(tmp_path):
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(50_000))
    path.write_text(header + ",\n" + "1," * 50_000 + "\n", encoding="utf-8")  # column 50,001 unnamed
    with pytest.raises(fk.InputFileError) as err:
        fk.load(path, cache=False)
    assert str(err.value) == (
        f"{path}: the file has 50,001 columns; funnelkit reads at most 5,000. "
        "Export only the columns the funnel needs (ids, dates, stage, amount, source, owner)"
    )


def test_f_a_header_row_past_its_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(_read, "MAX_HEADER_BYTES", 1024)  # the real limit is 8 MiB
    path = tmp_path / "deals.csv"
    path.write_text('"Record ID' + "x" * 2000 + '"\n1\n', encoding="utf-8")
    with pytest.raises(fk.InputFileError, match=r"deals\.csv: line 1: the header row is longer than 1 KiB"):
        fk.load(path, cache=False)


def rewrite_sheet(path: Path, edit) -> Path:
    """Rewrite the first sheet's XML of a workbook (a hostile file is a valid zip with a lying sheet)."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = edit(parts[sheet].decode()).encode()
    out = path.with_name("hostile_" + path.name)
    zip_of(out, parts)
    return out


def test_f_an_xlsx_declaring_too_many_columns_or_cells_fails_before_reading(tmp_path):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(tmp_path / "deals.xlsx", [[9001, "Globex", *deal, 1234]])
    wide = rewrite_sheet(path, lambda xml: re.sub(r'<dimension ref="[^"]+"', '<dimension ref="A1:XFD2"', xml))
    with pytest.raises(fk.InputFileError) as err:
        fk.load(wide, cache=False)
    assert str(err.value) == (
        f"{wide}: the first sheet declares 2 rows x 16,384 columns; funnelkit reads at most 5,000 columns. "
        "Delete the unused columns (or save the sheet as CSV with the columns the funnel needs)"
    )
    deep = rewrite_sheet(path, lambda xml: re.sub(r'<dimension ref="[^"]+"', '<dimension ref="A1:Z1000000"', xml))
    with pytest.raises(fk.InputFileError, match=r"declares 1,000,000 rows x 26 columns \(26,000,000 cells\); "):
        fk.load(deep, cache=False)


def test_f_an_xlsx_without_a_dimension_is_bounded_while_read(tmp_path):
    book = Workbook()
    book.active["A1"] = "Record ID"
    book.active.cell(row=2, column=16_384, value="x")  # one cell in column XFD
    path = tmp_path / "deals.xlsx"
    book.save(path)
    hostile = rewrite_sheet(path, lambda xml: re.sub(r"<dimension [^>]*/>", "", xml))
    with pytest.raises(fk.InputFileError) as err:
        fk.load(hostile, cache=False)
    assert str(err.value) == (
        f"{hostile}: row 2 of the first sheet reaches column 16,384; funnelkit reads at most 5,000 columns. "
        "Delete the unused columns"
    )


def test_f_an_xlsx_part_that_unzips_too_large_is_refused(tmp_path, monkeypatch):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(tmp_path / "deals.xlsx", [[9000 + n, "Globex", *deal, 1234] for n in range(300)])
    sizes = {info.filename: info.file_size for info in zipfile.ZipFile(path).infolist()}
    assert max(sizes, key=sizes.get) == "xl/worksheets/sheet1.xml"
    monkeypatch.setattr(_read, "MAX_XLSX_PART_BYTES", sizes["xl/worksheets/sheet1.xml"] - 1)  # really 1 GiB
    with pytest.raises(
        fk.InputFileError, match=r"deals\.xlsx: the workbook's part xl/worksheets/sheet1\.xml unzips to "
    ):
        fk.load(path, cache=False)


def test_f_an_xlsx_whose_cells_pass_the_limit_is_refused_on_a_count_of_its_raw_xml(tmp_path, monkeypatch):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(tmp_path / "deals.xlsx", [[9000 + n, "Globex", *deal, 1234] for n in range(3)])
    lying = rewrite_sheet(path, lambda xml: re.sub(r'<dimension ref="[^"]+"', '<dimension ref="A1:A1"', xml))
    monkeypatch.setattr(_read, "MAX_SHEET_CELLS", 31)  # the real limit is 2,000,000; the sheet has 4 x 8 = 32
    with pytest.raises(fk.InputFileError) as err:
        fk.load(lying, cache=False)
    assert str(err.value) == (
        f"{lying}: the first sheet holds more than 31 cells; funnelkit reads at most 31 cells from a workbook. "
        "Save it as CSV, which has no such limit and reads many times faster"
    )
    monkeypatch.setattr(_read, "MAX_SHEET_CELLS", 32)
    assert summary_row(fk.load(lying, cache=False)) == (3, 3, 0)  # exactly at the limit: read in full


@pytest.mark.parametrize("chunk", [5, 7, 64])
def test_f_the_cell_count_holds_when_tags_are_cut_between_chunks(tmp_path, monkeypatch, chunk):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(tmp_path / "deals.xlsx", [[9000 + n, "Globex", *deal, 1234] for n in range(3)])
    monkeypatch.setattr(_read, "SCAN_CHUNK_BYTES", chunk)
    monkeypatch.setattr(_read, "MAX_SHEET_CELLS", 31)  # 4 rows x 8 cells = 32
    with pytest.raises(fk.InputFileError, match="holds more than 31 cells"):
        fk.load(path, cache=False)
    monkeypatch.setattr(_read, "MAX_SHEET_CELLS", 32)
    assert summary_row(fk.load(path, cache=False)) == (3, 3, 0)


def test_f_an_xlsx_declaring_more_rows_than_excel_has_is_damaged(tmp_path):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(tmp_path / "deals.xlsx", [[9001, "Globex", *deal, 1234]])
    deep = rewrite_sheet(path, lambda xml: re.sub(r'<dimension ref="[^"]+"', '<dimension ref="A1:A2000000"', xml))
    with pytest.raises(fk.InputFileError) as err:
        fk.load(deep, cache=False)
    assert str(err.value) == (
        f"{deep}: the first sheet declares 2,000,000 rows x 1 columns, more than Excel's 1,048,576 rows; "
        "the file is damaged"
    )


def test_f_an_xlsx_without_a_dimension_has_its_rows_counted_while_read(tmp_path, monkeypatch):
    deal = ["Sales Pipeline", "Closed Won", 1000, "2025-02-14 00:00", "2025-03-20 00:00"]
    path = hubspot_workbook(tmp_path / "deals.xlsx", [[9000 + n, "Globex", *deal, 1234] for n in range(3)])
    undeclared = rewrite_sheet(path, lambda xml: re.sub(r"<dimension [^>]*/>", "", xml))
    monkeypatch.setattr(_read, "MAX_SHEET_ROWS", 3)  # really Excel's 1,048,576; the sheet has 4 rows
    with pytest.raises(fk.InputFileError) as err:
        fk.load(undeclared, cache=False)
    assert str(err.value) == f"{undeclared}: the first sheet has more than Excel's 3 rows"
    monkeypatch.setattr(_read, "MAX_SHEET_ROWS", 4)
    assert summary_row(fk.load(undeclared, cache=False)) == (3, 3, 0)


# ---- g: text cleaning, without a copy of a clean column ---------------------------------------------------


def test_g_a_clean_text_column_is_kept_as_it_is_and_a_padded_one_is_trimmed():
    from funnelkit.load import _parse

    clean = pd.Series(["Acme", None, "Initech"], dtype="str")
    assert _parse.clean_text(clean) is clean  # shared, not copied: the load would hold it twice
    ids, missing = _parse.clean_ids(clean)
    assert ids is clean and missing.tolist() == [False, False, False]
    # any Unicode space around a value is trimmed (a no-break and an ideographic space, a tab), an empty cell
    # and one of spaces only are missing
    padded = pd.Series([" Acme", "\u3000Initech\u00a0", "\tGlobex", "", "   ", None], dtype="str")
    text = _parse.clean_text(padded)
    assert text.iloc[:3].tolist() == ["Acme", "Initech", "Globex"] and text.iloc[3:].isna().all()
    ids, missing = _parse.clean_ids(padded)
    assert ids.iloc[:3].tolist() == ["Acme", "Initech", "Globex"]
    assert missing.tolist() == [False, False, False, True, True, False]  # a missing id is reported elsewhere
    blank = pd.Series(["a", ""], dtype="str")  # nothing to trim, but an empty cell: not the column as it is
    assert _parse.clean_text(blank).isna().tolist() == [False, True]
