"""CSV/Excel formula neutralising, HTML escaping and redaction."""

from __future__ import annotations

import pandas as pd
import pytest

from funnelkit import safety


def test_formula_cells_are_neutralised_and_numbers_kept():
    frame = pd.DataFrame(
        {
            "name": ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\tTab", "\rCR", "Plain", "-12.5", None],
            "amount": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -8.5, 9.0],
        }
    )
    out = safety.neutralise_formulas(frame)
    assert out["name"].tolist()[:7] == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2+3", "'@SUM(A1:A2)", "'\tTab",
                                        "'\rCR", "Plain"]  # fmt: skip
    assert out["name"].iloc[7] == "-12.5"  # a real negative number stays a number
    assert pd.isna(out["name"].iloc[8])
    assert out["amount"].tolist() == frame["amount"].tolist()
    assert frame["name"].iloc[0].startswith("=")  # the input is not modified
    categories = safety.neutralise_formulas(pd.DataFrame({"stage": pd.Categorical(["=cmd", "Won", "=cmd"])}))
    assert categories["stage"].tolist() == ["'=cmd", "Won", "'=cmd"]


def test_csv_written_for_people_reads_back_neutralised(tmp_path):
    path = safety.to_csv_safe(
        pd.DataFrame({"company": ["=cmd|'/c calc'!A1", "Acme"], "n": [1, -2]}), tmp_path / "x.csv"
    )
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back["company"].tolist() == ["'=cmd|'/c calc'!A1", "Acme"]
    assert back["n"].tolist() == [1, -2]


def test_escape():
    assert safety.escape("<script>alert('x')</script>") == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert safety.escape(None) == ""


def test_redaction_is_stable_and_complete():
    frame = pd.DataFrame(
        {
            "owner": ["Ann Lee", "Bob Ray", "Ann Lee", None],
            "lost_reason": ["call ann@example.com or +1 (415) 555-0100", "no", "x", None],
        }
    )
    out = safety.redact(frame, person_columns=["owner"], text_columns=["lost_reason"])
    assert out["owner"].iloc[0] == out["owner"].iloc[2] != out["owner"].iloc[1]
    assert out["owner"].iloc[0].startswith("Person-") and pd.isna(out["owner"].iloc[3])
    text = out["lost_reason"].iloc[0]
    assert "ann@example.com" not in text and "555-0100" not in text
    assert "Email-" in text and "Phone-" in text
    assert safety.redact(frame, person_columns=["owner"])["owner"].iloc[0] == out["owner"].iloc[0]


# ---------------------------------------------------------------- display labels --


def test_display_label_is_one_short_line_without_control_characters():
    assert safety.display_label("Trade\x00 show\x07") == "Trade show"
    assert safety.display_label("Partner\r\nreferral\tEMEA") == "Partner referral EMEA"
    long = safety.display_label("Trade show " * 10_000)
    assert len(long) == 60 and long.endswith("…") and long.startswith("Trade show Trade show")
    assert safety.display_label("x" * 60) == "x" * 60  # exactly the width: kept whole
    assert safety.display_label(None) == "" and safety.display_label(float("nan")) == ""
    assert safety.display_label("\u0085C1\x9bcontrol\ud800") == "C1control"  # C1 controls and a lone surrogate


def test_escape_removes_control_characters():
    assert safety.escape("Acme\x00 <b>\x1b[31mred\x1b[0m") == "Acme &lt;b&gt;red"


# ---------------------------------------------------------------- spreadsheets --

DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")


def hostile_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            '=HYPERLINK("http://evil.example","Click")': ["Webinar\r=2+5+cmd|' /C calc'!A0", "Fair\n@SUM(1)", "-12.5"],
            "+plus": ["\r\n-1+1", "ok", "Line one\r\nline two"],
            "amount": [-3.5, 0.0, 1_200.25],
            "count": [-2, 0, 7],
        },
        index=pd.Index(["@idx", "=1+1", "-4"], name="=name"),
    )


def inert(text: str) -> bool:
    """No line of the value starts with a character that makes a spreadsheet formula."""
    return not any(
        line.startswith(DANGEROUS[:4]) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    )


def test_csv_headers_index_and_line_breaks_are_neutralised_and_numbers_stay_numbers(tmp_path):
    import csv

    path = safety.to_csv_safe(hostile_frame(), tmp_path / "leads.csv", index=True)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 4  # a header and three rows: no field's line break started a row
    assert rows[0] == ["'=name", '\'=HYPERLINK("http://evil.example","Click")', "'+plus", "amount", "count"]
    assert [row[0] for row in rows[1:]] == ["'@idx", "'=1+1", "-4"]  # index labels; a number stays
    assert rows[1][1] == "Webinar\r'=2+5+cmd|' /C calc'!A0"
    assert rows[2][1] == "Fair\n'@SUM(1)"
    assert rows[1][2] == "'\r\n'-1+1"
    assert rows[3][1] == "-12.5" and rows[3][2] == "Line one\r\nline two"
    assert all(inert(cell) or cell.lstrip("-").replace(".", "").isdigit() for row in rows for cell in row)
    back = pd.read_csv(path, encoding="utf-8-sig", index_col=0)
    assert back["amount"].tolist() == [-3.5, 0.0, 1200.25] and back["count"].tolist() == [-2, 0, 7]
    raw = path.read_bytes()
    assert b"\"Webinar\r'=2+5" in raw  # the field holding a lone CR is quoted (pandas' LF line end did not)


def test_csv_line_end_cannot_be_changed_to_one_that_leaves_breaks_unquoted(tmp_path):
    import csv

    import funnelkit as fk

    with pytest.raises(fk.ParameterError, match="lineterminator"):
        safety.to_csv_safe(hostile_frame(), tmp_path / "x.csv", lineterminator="\n")
    with pytest.raises(fk.ParameterError, match="quoting"):
        safety.to_csv_safe(hostile_frame(), tmp_path / "x.csv", quoting=csv.QUOTE_NONE)


def test_excel_headers_and_index_are_text_not_live_formulas(tmp_path):
    import openpyxl

    import funnelkit as fk

    path = fk.to_excel_safe(hostile_frame(), tmp_path / "leads.xlsx", index=True)
    sheet = openpyxl.load_workbook(path).active
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # no formula anywhere (was the header)
    assert sheet["B1"].value == '\'=HYPERLINK("http://evil.example","Click")'
    assert sheet["A1"].value == "'=name" and sheet["A2"].value == "'@idx" and sheet["A3"].value == "'=1+1"
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert all(inert(text) or text.lstrip("-").replace(".", "").isdigit() for text in texts)
    assert [sheet.cell(row=r, column=4).value for r in (2, 3, 4)] == [-3.5, 0, 1200.25]  # numbers, not text
    assert [sheet.cell(row=r, column=5).value for r in (2, 3, 4)] == [-2, 0, 7]
