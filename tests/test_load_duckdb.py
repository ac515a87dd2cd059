"""Typing export text in DuckDB: the twins of the Arrow parsers give the loader's results.

``benchmarks/duck_typing.py`` holds the timings and the 1M-row comparison; these tests
hold the results, on hand-written cells and on every CSV under ``tests/data``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import funnelkit as fk
from funnelkit.errors import FunnelkitError
from funnelkit.load import _duck, _parse
from funnelkit.load._read import read_table

DATA = Path(__file__).parent / "data"


def _dates(values: pd.Series, order: str, *, duck: bool, monkeypatch):
    monkeypatch.setattr(_parse, "DATES_IN_DUCKDB", duck)
    return _parse.by_distinct(_parse.parse_datetimes, values, order=order, tz="UTC")


def test_duckdb_strptime_reads_each_format_as_arrow_does():
    cells = pa.array(
        ["01/05/2024 03:04 PM", "1/5/2024 3:04 pm", "01/05/24 03:04 PM", "13/01/2024 03:04 PM", "", "x"],
        type=pa.large_string(),
    )
    four_digit = _duck.strptime(cells, "%m/%d/%Y %I:%M %p").to_pylist()
    # 15:04 on 5 January 2024 twice; a two-digit year is refused by %Y (the %y format reads it)
    assert four_digit[:2] == [pd.Timestamp("2024-01-05 15:04").to_pydatetime()] * 2
    assert four_digit[2:] == [None] * 4
    two_digit = _duck.strptime(cells, "%m/%d/%y %I:%M %p").to_pylist()
    assert two_digit[2] == pd.Timestamp("2024-01-05 15:04").to_pydatetime()
    assert two_digit.count(None) == 5


def test_numbers_and_booleans_in_duckdb_match_the_arrow_parsers():
    numbers = pd.Series([" 1,234 ", "x", "", "1e3", ".5", "-2", "1 000'5"], dtype="str")
    typed, bad = _duck.parse_numbers(numbers)
    assert typed.tolist()[:1] + typed.tolist()[3:] == [1234.0, 1000.0, 0.5, -2.0, 10005.0]
    assert bad.tolist() == [False, True, False, False, False, False, False]
    flags = pd.Series(["Yes", " no", "", "maybe", "X", "Wahr"], dtype="str")
    truth, unparsed = _duck.parse_booleans(flags, _parse._TRUE, _parse._FALSE)
    assert truth.tolist() == [True, False, False, False, True, True]
    assert unparsed.tolist() == [False, False, False, True, False, False]


def _csv_files() -> list[Path]:
    return sorted(DATA.rglob("*.csv"))


@pytest.mark.parametrize("path", _csv_files(), ids=lambda p: str(p.relative_to(DATA)))
def test_every_test_export_types_identically_in_duckdb_and_arrow(path, monkeypatch):
    try:
        frame = read_table(path).frame
    except FunnelkitError:
        pytest.skip("the file is refused before typing (its test checks the error)")
    for name in frame.columns:
        values = frame[name]
        # a column without a digit reads as no date in either engine: its dates are not compared
        for order in ("mdy", "dmy", "ymd") if values.str.contains(r"\d", regex=True).any() else ():
            old = _dates(values, order, duck=False, monkeypatch=monkeypatch)
            new = _dates(values, order, duck=True, monkeypatch=monkeypatch)
            assert old[0].reset_index(drop=True).equals(new[0].reset_index(drop=True)), (name, order)
            for a, b in zip(old[1:], new[1:], strict=True):
                assert np.array_equal(a, b), (name, order)
        old_numbers, new_numbers = _parse.parse_numbers(values), _duck.parse_numbers(values)
        assert old_numbers[0].equals(new_numbers[0]) and np.array_equal(old_numbers[1], new_numbers[1]), name
        old_flags = _parse.parse_booleans(values)
        new_flags = _duck.parse_booleans(values, _parse._TRUE, _parse._FALSE)
        assert old_flags[0].equals(new_flags[0]) and np.array_equal(old_flags[1], new_flags[1]), name


# ---------------------------------------------------------------- unmapped columns --


def _deals(tmp_path: Path, seats: list[str]) -> Path:
    rows = [f'{i},won,2025-01-01 10:00:00,100,"{seat}"' for i, seat in enumerate(seats, start=1)]
    path = tmp_path / "deals.csv"
    path.write_text("id,status,add_time,value,seats\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_an_unmapped_column_of_numbers_past_the_first_cells_checked_is_numbers(tmp_path):
    # 5,000 rows: the first 4,096 filled cells are checked first, then the rest
    seats = ["3"] * 4999 + ["1,250"]
    opps = fk.load(_deals(tmp_path, seats), cache=False).opportunities
    assert opps["seats"].dtype == "Float64"
    assert float(opps["seats"].sum()) == 4999 * 3 + 1250


def test_an_unmapped_column_with_one_word_after_the_first_cells_checked_stays_text(tmp_path):
    seats = ["3"] * 4999 + ["n/a"]
    opps = fk.load(_deals(tmp_path, seats), cache=False).opportunities
    assert opps["seats"].tolist()[-2:] == ["3", "n/a"]
    assert int((opps["seats"] == "3").sum()) == 4999


# ---------------------------------------------------------------- impossible dates --


def test_an_impossible_calendar_date_is_quarantined_not_rolled_into_the_next_month(tmp_path):
    # Arrow's strptime reads 02/30/2024 as 2024-03-01; DuckDB's try_strptime refuses it
    path = tmp_path / "opportunities.csv"
    path.write_text(
        "Opportunity ID,Stage,Amount,Created Date,Close Date\n"
        "006A,Closed Won,USD 10.00,02/30/2024,03/15/2024\n"
        "006B,Closed Won,USD 10.00,02/13/2024,04/31/2025\n"
        "006C,Closed Won,USD 10.00,02/29/2024,03/01/2024\n",
        encoding="utf-8",
    )
    data = fk.load(path, cache=False)
    assert data.opportunities["opportunity_id"].tolist() == ["006C"]
    assert data.opportunities["created_at"].iloc[0] == pd.Timestamp("2024-02-29", tz="UTC")  # a leap day is a day
    bad = data.quarantine.sort_values("line")
    assert bad["line"].tolist() == [2, 3]
    assert bad["value"].tolist() == ["02/30/2024", "04/31/2025"]
    assert set(bad["reason"]) == {"bad_date"}
    assert data.summary.balanced


def test_duckdb_and_arrow_both_refuse_a_day_past_the_months_end():
    cells = pa.array(["02/30/2024", "02/29/2025", "04/31/2025", "02/29/2024", "1/3/2024"], type=pa.large_string())
    expected = [
        None,
        None,
        None,
        pd.Timestamp("2024-02-29").to_pydatetime(),
        pd.Timestamp("2024-01-03").to_pydatetime(),
    ]
    assert _parse._strptime(cells, "%m/%d/%Y").to_pylist() == expected
    assert _duck.strptime(cells, "%m/%d/%Y").to_pylist() == expected
