"""CSV/Excel formula neutralising, HTML escaping and redaction."""

from __future__ import annotations

import pandas as pd

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
