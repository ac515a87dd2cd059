"""Bad rows are quarantined with file, line, column and reason; bad files fail clearly.

Every test checks the accounting: rows read == rows kept + rows quarantined.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import funnelkit as fk


def write(path, text: str, encoding: str = "utf-8") -> None:
    path.write_bytes(text.encode(encoding))


def copy_fixture(data_dir, tmp_path):
    target = tmp_path / "export"
    shutil.copytree(data_dir / "salesforce_report", target)
    return target


def replace_in(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_three_corrupted_rows_are_quarantined_and_nothing_else_changes(data_dir, tmp_path):
    clean = fk.load(data_dir / "salesforce_report", cache=False)
    export = copy_fixture(data_dir, tmp_path)
    leads, opps = export / "leads.csv", export / "opportunities.csv"
    replace_in(leads, '"01/20/2025 02:05 PM"', '"01/2O/2025 02:05 PM"')  # letter O, line 3
    replace_in(leads, '"00Q000000000006AAA"', '""')  # missing id, line 7
    replace_in(opps, '"USD 4,000.50"', '"abc"')  # line 3

    data = fk.load(export, cache=False)

    q = data.quarantine.sort_values(["file", "line"])
    assert q[["line", "column", "value", "reason"]].values.tolist() == [
        [3, "Create Date", "01/2O/2025 02:05 PM", "bad_date"],
        [7, "Lead ID", "", "missing_id"],
        [3, "Amount", "abc", "bad_amount"],
    ]
    assert [p.split("/")[-1] for p in q["file"]] == ["leads.csv", "leads.csv", "opportunities.csv"]
    summary = data.summary.table.set_index("table")
    assert summary.loc["leads", ["rows_read", "rows_kept", "rows_quarantined"]].tolist() == [
        6,
        4,
        2,
    ]
    assert summary.loc["opportunities", ["rows_read", "rows_kept", "rows_quarantined"]].tolist() == [3, 2, 1]
    assert data.summary.balanced
    # the other rows are exactly as in the clean load
    kept = clean.leads[clean.leads["lead_id"].isin(data.leads["lead_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(data.leads.reset_index(drop=True), kept)
    kept_opps = clean.opportunities[clean.opportunities["opportunity_id"] != "006000000000002AAA"]
    pd.testing.assert_frame_equal(data.opportunities.reset_index(drop=True), kept_opps.reset_index(drop=True))


def test_ragged_rows_are_quarantined_with_their_line(tmp_path):
    path = tmp_path / "deals.csv"
    write(
        path,
        "id,status,add_time,value\n"
        "1,won,2025-01-01 10:00:00,100\n"
        '2,"lost\nreally",2025-01-02 10:00:00\n'  # too few fields, spans lines 3-4
        "3,open,2025-01-03 10:00:00,300,extra\n"  # too many, line 5
        "4,open,2025-01-04 10:00:00,400\n",
    )
    data = fk.load(path, source="pipedrive", cache=False)
    assert data.quarantine[["line", "reason"]].values.tolist() == [
        [3, "ragged_row"],
        [5, "ragged_row"],
    ]
    assert "3 fields where the header has 4" in data.quarantine["detail"].iloc[0]
    assert data.opportunities["opportunity_id"].tolist() == ["1", "4"]
    assert data.summary.table.loc[0, ["rows_read", "rows_kept", "rows_quarantined"]].tolist() == [
        4,
        2,
        2,
    ]


def test_duplicate_ids_keep_the_first_row(tmp_path):
    path = tmp_path / "deals.csv"
    write(
        path,
        "id,status,add_time,value\n"
        "7,won,2025-01-01 10:00:00,100\n"
        "8,lost,2025-01-02 10:00:00,200\n"
        " 7 ,open,2025-01-03 10:00:00,300\n",  # same id once spaces are trimmed
    )
    data = fk.load(path, source="pipedrive", cache=False)
    assert data.opportunities["amount"].tolist() == [100.0, 200.0]
    q = data.quarantine
    assert q[["line", "value", "reason"]].values.tolist() == [[4, "7", "duplicate_id"]]
    assert "deals.csv line 2" in q["detail"].iloc[0]
    assert "differs in amount" in q["detail"].iloc[0]
    assert any("1 opportunity_id values repeat with different contents" in n for n in data.notes)
    assert data.summary.table.loc[0, ["rows_kept", "rows_quarantined"]].tolist() == [2, 1]
    assert data.summary.balanced


def test_footer_count_must_match_rows(data_dir, tmp_path):
    export = copy_fixture(data_dir, tmp_path)
    replace_in(export / "leads.csv", "Grand Totals (6 records)", "Grand Totals (7 records)")
    with pytest.raises(fk.InputFileError, match=r"leads.csv: the report footer says 7 records but the file holds 6"):
        fk.load(export, cache=False)


def test_dates_that_fit_both_orders_need_a_decision(tmp_path):
    path = tmp_path / "deals.csv"
    write(path, "id,status,add_time\n1,open,03/04/2025\n2,open,05/06/2025\n")
    with pytest.raises(fk.AmbiguousDateError, match="add_time"):
        fk.load(path, source="pipedrive", cache=False)
    us = fk.load(path, source="pipedrive", date_order="mdy", cache=False)
    eu = fk.load(path, source="pipedrive", date_order="dmy", cache=False)
    assert us.opportunities["created_at"].iloc[0] == pd.Timestamp("2025-03-04", tz="UTC")
    assert eu.opportunities["created_at"].iloc[0] == pd.Timestamp("2025-04-03", tz="UTC")


def test_day_first_is_detected_from_the_data(tmp_path):
    path = tmp_path / "deals.csv"
    write(path, "id,status,add_time\n1,open,03/04/2025\n2,open,25/06/2025\n")
    data = fk.load(path, source="pipedrive", cache=False)
    assert data.summary.table.loc[0, "date_order"] == "dmy"
    assert data.opportunities["created_at"].tolist() == [
        pd.Timestamp("2025-04-03", tz="UTC"),
        pd.Timestamp("2025-06-25", tz="UTC"),
    ]


def test_a_column_mixing_day_first_and_month_first_fails(tmp_path):
    path = tmp_path / "deals.csv"
    write(path, "id,status,add_time\n1,open,13/04/2025\n2,open,04/13/2025\n")
    with pytest.raises(fk.AmbiguousDateError, match="day-first in .* but month-first"):
        fk.load(path, source="pipedrive", cache=False)


def test_windows_1252_and_utf16_exports(tmp_path):
    text = "id,status,add_time,org_name\n1,open,2025-01-01 10:00:00,Caf\u00e9 \u201cBleu\u201d\n"
    cp = tmp_path / "cp1252.csv"
    write(cp, text, "cp1252")
    u16 = tmp_path / "utf16.csv"
    u16.write_bytes(text.encode("utf-16"))  # with BOM, as Excel's "Unicode text"
    for path, encoding in ((cp, "cp1252"), (u16, "utf-16")):
        data = fk.load(path, source="pipedrive", cache=False)
        assert data.opportunities["account"].iloc[0] == "Caf\u00e9 \u201cBleu\u201d"
        assert data.summary.table.loc[0, "encoding"] == encoding


def test_windows_1252_text_far_below_the_header_is_still_recognised(tmp_path):
    """The first 64 KB are plain ASCII; the one accented name sits on line 3,002."""
    rows = "".join(f"{i},open,2025-01-01 10:00:00,Acme {i}\n" for i in range(1, 3001))
    path = tmp_path / "deals.csv"
    write(
        path,
        "id,status,add_time,org_name\n" + rows + "3001,won,2025-02-01 09:00:00,Soci\u00e9t\u00e9 G\u00e9n\u00e9rale\n",
        "cp1252",
    )
    assert path.stat().st_size > 65536
    data = fk.load(path, source="pipedrive", cache=False)
    assert data.summary.table.loc[0, "encoding"] == "cp1252"
    assert len(data.opportunities) == 3001
    assert data.opportunities["account"].iloc[-1] == "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale"


def test_bytes_that_are_neither_utf8_nor_windows_1252_name_their_line(tmp_path):
    rows = "".join(f"{i},open,2025-01-01 10:00:00,Acme {i}\n" for i in range(1, 3001)).encode()
    path = tmp_path / "deals.csv"
    # 0x81 is undefined in Windows-1252 and invalid as a UTF-8 start byte
    path.write_bytes(b"id,status,add_time,org_name\n" + rows + b"3001,won,2025-02-01 09:00:00,Bad \x81 name\n")
    with pytest.raises(fk.InputFileError, match=r"deals.csv: line 3002: byte b'\\x81'"):
        fk.load(path, source="pipedrive", cache=False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"<!DOCTYPE html><html><body>Session expired</body></html>", "web page"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00binary", "not a text export"),
        (b"id,id,status\n1,1,open\n", "appears twice"),
    ],
)
def test_unreadable_files_fail_with_the_file_name(tmp_path, content, message):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(fk.FunnelkitError, match=message) as err:
        fk.load(path, source="pipedrive", cache=False)
    assert "export.csv" in str(err.value)


def test_header_only_file_loads_empty(tmp_path):
    path = tmp_path / "deals.csv"
    write(path, "id,status,add_time\n")
    data = fk.load(path, source="pipedrive", cache=False)
    assert len(data.opportunities) == 0
    assert data.summary.table.loc[0, "rows_read"] == 0


def test_dates_out_of_range_are_quarantined(tmp_path):
    path = tmp_path / "deals.csv"
    write(path, "id,status,add_time\n1,open,2025-01-01\n2,open,2999-01-01\n3,open,1899-12-31\n")
    data = fk.load(path, source="pipedrive", cache=False)
    assert data.quarantine[["line", "reason"]].values.tolist() == [
        [3, "date_out_of_range"],
        [4, "date_out_of_range"],
    ]
    assert data.opportunities["opportunity_id"].tolist() == ["1"]


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("USD 1,234.00", 1234.0, "USD"),
        ("$1.234,50", 1234.5, "USD"),
        ("(1,234.00)", -1234.0, None),
        ("EUR 12,5", 12.5, "EUR"),
        ("-12.5", -12.5, None),
        ("0", 0.0, None),
    ],
)
def test_amount_formats(tmp_path, text, amount, currency):
    path = tmp_path / "deals.csv"
    write(path, f'id,status,add_time,value\n1,won,2025-01-01,"{text}"\n')
    data = fk.load(path, source="pipedrive", cache=False)
    opp = data.opportunities.iloc[0]
    assert opp["amount"] == amount
    assert (opp["currency"] if pd.notna(opp["currency"]) else None) == currency


def test_close_before_create_is_kept_and_flagged(tmp_path):
    path = tmp_path / "deals.csv"
    write(
        path,
        "id,status,add_time,close_time\n1,won,2025-02-01,2025-01-01\n2,won,2025-01-01,2025-02-01\n",
    )
    data = fk.load(path, source="pipedrive", cache=False)
    assert data.opportunities["closed_before_created"].tolist() == [True, False]
    assert any("close before they were created" in n for n in data.notes)


def _renumbered(text: str) -> str:
    return text.replace('AAA"', 'BBB"')


def test_concatenated_salesforce_exports_with_footer_in_the_middle(data_dir, tmp_path):
    original = (data_dir / "salesforce_report" / "leads.csv").read_bytes().decode("utf-8")
    body_only = original.split("\r\n", 1)[1]
    for name, text, header_rows in (
        ("without_header.csv", original + _renumbered(body_only), 0),
        ("with_header.csv", original + _renumbered(original), 1),
    ):
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8"))
        data = fk.load(path, cache=False)
        summary = data.summary.table.iloc[0]
        assert len(data.leads) == 12
        assert summary["footer_lines"] == 10  # two footers of five lines
        assert summary["rows_read"] == 12 + header_rows
        assert data.quarantine["reason"].tolist() == ["repeated_header_row"] * header_rows
        if header_rows:
            assert data.quarantine["line"].tolist() == [15]
        assert data.summary.balanced


def test_links_to_missing_records_are_kept_with_a_note(tmp_path):
    (tmp_path / "Lead.csv").write_text(
        "Id,LeadSource,Status,CreatedDate,IsConverted,ConvertedDate,ConvertedOpportunityId\n"
        "L1,Web,Open,2025-01-01T00:00:00Z,false,,\n"
        "L2,Web,Closed - Converted,2025-01-02T00:00:00Z,true,2025-01-05,O9\n"
    )
    (tmp_path / "Opportunity.csv").write_text(
        "Id,StageName,Amount,CloseDate,IsClosed,IsWon,CreatedDate,LeadSource\n"
        "O1,Prospecting,10,2025-03-01,false,false,2025-01-10T00:00:00Z,Partner\n"
    )
    data = fk.load(tmp_path, cache=False)
    assert any("1 leads name a converted opportunity that is not in" in n for n in data.notes)
    funnel = data.funnel.set_index("entity_id")
    # L2 converted (to an opportunity not exported): it passed the opportunity stage
    assert funnel.loc["L2", "furthest_stage"] == "opportunity"
    assert funnel.loc["L2", "opportunity_at"] == pd.Timestamp("2025-01-05", tz="UTC")
    assert funnel.loc["O1", "entity"] == "opportunity"
    assert len(data.funnel) == 3


def test_repeated_values_parsed_once_still_report_every_failing_cell(tmp_path):
    """A 3,000-row export whose date column repeats 30 dates (parsed once per distinct
    value): the bad date written on two rows is quarantined on both lines."""
    days = [f"2025-01-{d:02d} 09:00:00" for d in range(1, 31)]
    rows = [f"{i},open,{days[i % 30]},Acme" for i in range(1, 3001)]
    rows[99] = "100,open,not a date,Acme"  # line 101
    rows[2499] = "2500,open,not a date,Acme"  # line 2501
    path = tmp_path / "deals.csv"
    write(path, "id,status,add_time,org_name\n" + "\n".join(rows) + "\n")
    data = fk.load(path, source="pipedrive", cache=False)
    bad = data.quarantine[data.quarantine["reason"] == "bad_date"]
    assert bad["line"].tolist() == [101, 2501]
    assert bad["value"].tolist() == ["not a date", "not a date"]
    assert len(data.opportunities) == 2998
    created = data.opportunities.set_index("opportunity_id")["created_at"]
    assert created["31"] == pd.Timestamp("2025-01-02 09:00", tz="UTC")  # days[31 % 30]
    assert created["2999"] == pd.Timestamp("2025-01-30 09:00", tz="UTC")  # days[29]


def test_cells_padded_with_spaces_are_read_trimmed_in_every_kind_of_column(tmp_path):
    """Spaces (and a no-break space) around ids, dates, amounts, labels and attributes; a
    pasted header row padded the same way is still recognised as a header."""
    path = tmp_path / "deals.csv"
    write(
        path,
        "id,status,add_time,value,currency,org_name,Region\n"
        " 7 , won ,  2025-03-04 10:00:00 , 1200.50 , eur , Acme\u00a0, EMEA \n"
        " id , status ,add_time,value,currency,org_name, Region\n"
        "8,lost,2025-03-05 11:00:00,300,EUR,Beta,APAC\n",
    )
    data = fk.load(path, source="pipedrive", cache=False)
    deal = data.opportunities.set_index("opportunity_id").loc["7"]
    assert deal["created_at"] == pd.Timestamp("2025-03-04 10:00", tz="UTC")
    assert deal["amount"] == 1200.50 and deal["currency"] == "EUR"
    assert deal["account"] == "Acme" and deal["region"] == "EMEA"
    assert bool(deal["is_won"]) is True
    assert data.quarantine["reason"].tolist() == ["repeated_header_row"]
    assert data.quarantine["line"].tolist() == [3]
    assert data.summary.balanced and len(data.opportunities) == 2


def test_amount_parser_keeps_the_rows_of_a_filtered_column():
    from funnelkit.load._parse import parse_amounts

    values = pd.Series(["USD 1,200.50", "not money", "\u20ac3"], index=[10, 4, 7], dtype="str")
    amount, currency, unparsed = parse_amounts(values, default_currency=None)
    assert amount[10] == 1200.5 and amount[7] == 3.0 and pd.isna(amount[4])
    assert currency[[10, 7]].tolist() == ["USD", "EUR"]
    assert unparsed.tolist() == [False, True, False]


def test_dates_that_need_cleaning_parse_and_garbage_is_not_called_out_of_range():
    """Padded, "p.m." and blank cells take the cleaning path; the one unreadable cell is a bad
    date (not a date before 1990), and a blank cell is empty, not a failure."""
    from funnelkit.load._parse import parse_datetimes

    values = pd.Series(["  03/04/2025  ", "garbage", "", "4/5/2025 4:59 p.m.", "   "], dtype="str")
    stamps, unparsed, far, *_ = parse_datetimes(values, order="mdy", tz="UTC")
    assert stamps[0] == pd.Timestamp("2025-03-04", tz="UTC")
    assert stamps[3] == pd.Timestamp("2025-04-05 16:59", tz="UTC")
    assert stamps[[1, 2, 4]].isna().all()
    assert unparsed.tolist() == [False, True, False, False, False]
    assert not far.any()
