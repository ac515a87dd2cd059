"""Dates as CRMs export them: two-digit years, year-first dots and slashes, clock changes.

Each test writes a small export of the shape seen in real files and checks
exact UTC values worked out by hand, the quarantine rows and the row
accounting (rows read == rows kept + rows quarantined).
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import funnelkit as fk
from funnelkit.report._runner import convert_parameters, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]

# a Salesforce report "Export Details" of opportunities, as tests/data/salesforce_report writes it
SF_HEADER = (
    '"Opportunity ID","Opportunity Name","Account Name","Opportunity Owner","Lead Source","Stage",'
    '"Amount","Created Date","Close Date","Closed","Won","Loss Reason"\n'
)


def salesforce_opportunities(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """An opportunities report whose rows are (id, Created Date, Close Date); every deal is won."""
    lines = [
        f'"{oid}","Deal {oid}","Acme","Ida Rep","Web","Closed Won","USD 1,000.00","{created}","{closed}","1","1",""\n'
        for oid, created, closed in rows
    ]
    path.write_text(SF_HEADER + "".join(lines), encoding="utf-8")
    return path


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def accounting(data) -> list[int]:
    row = data.summary.table.iloc[0]
    return [int(row["rows_read"]), int(row["rows_kept"]), int(row["rows_quarantined"])]


# ---------------------------------------------------------------- two-digit years --


def test_two_digit_years_month_first_are_detected_from_one_telling_date(tmp_path):
    """02/23/26 can only be month-first (there is no 23rd month): the whole file is mdy, and
    every two-digit year is 20yy, never the year 24 or 26."""
    path = salesforce_opportunities(
        tmp_path / "opportunities.csv",
        [
            ("006A", "02/03/24 09:15 AM", "02/03/24"),
            ("006B", "02/23/26 08:55 PM", "03/01/26"),
            ("006C", "12/31/25 12:05 AM", "01/02/26"),
        ],
    )
    data = fk.load(path, cache=False)

    opps = data.opportunities.set_index("opportunity_id")
    assert opps["created_at"].to_dict() == {
        "006A": utc("2024-02-03 09:15"),
        "006B": utc("2026-02-23 20:55"),
        "006C": utc("2025-12-31 00:05"),
    }
    assert opps["closed_at"].to_dict() == {
        "006A": utc("2024-02-03"),
        "006B": utc("2026-03-01"),
        "006C": utc("2026-01-02"),
    }
    assert data.summary.table["date_order"].tolist() == ["mdy"]
    assert accounting(data) == [3, 3, 0]


def test_two_digit_years_day_first_are_detected_too(tmp_path):
    path = salesforce_opportunities(tmp_path / "opportunities.csv", [("006A", "23/02/26 20:55", "01/03/26")])
    data = fk.load(path, cache=False)
    assert data.opportunities["created_at"].iloc[0] == utc("2026-02-23 20:55")
    assert data.opportunities["closed_at"].iloc[0] == utc("2026-03-01")
    assert data.summary.table["date_order"].tolist() == ["dmy"]


def test_undecidable_two_digit_years_stop_the_load_and_an_explicit_order_reads_them(tmp_path):
    path = salesforce_opportunities(
        tmp_path / "opportunities.csv",
        [("006A", "02/03/24 09:15 AM", "05/06/25"), ("006B", "11/12/25 04:00 PM", "12/11/25")],
    )
    with pytest.raises(fk.AmbiguousDateError, match=r"\['Created Date', 'Close Date'\]"):
        fk.load(path, cache=False)

    us = fk.load(path, date_order="mdy", cache=False).opportunities.set_index("opportunity_id")
    assert us["created_at"].to_dict() == {"006A": utc("2024-02-03 09:15"), "006B": utc("2025-11-12 16:00")}
    assert us["closed_at"].to_dict() == {"006A": utc("2025-05-06"), "006B": utc("2025-12-11")}
    eu = fk.load(path, date_order="dmy", cache=False).opportunities.set_index("opportunity_id")
    assert eu["created_at"].to_dict() == {"006A": utc("2024-03-02 09:15"), "006B": utc("2025-12-11 16:00")}


def test_the_two_digit_year_pivot_is_posix(tmp_path):
    """00-68 are 2000-2068 and 69-99 are 1969-1999: 12/31/68 is 2068, 01/01/99 is 1999 and
    01/01/69 is 1969, which is before 1990 and so quarantined as out of range, with its line."""
    path = salesforce_opportunities(
        tmp_path / "opportunities.csv",
        [("006A", "02/23/26", "12/31/68"), ("006B", "02/24/26", "01/01/69"), ("006C", "02/25/26", "01/01/99")],
    )
    data = fk.load(path, cache=False)

    assert data.opportunities.set_index("opportunity_id")["closed_at"].to_dict() == {
        "006A": utc("2068-12-31"),
        "006C": utc("1999-01-01"),
    }
    assert data.quarantine[["line", "column", "value", "reason"]].values.tolist() == [
        [3, "Close Date", "01/01/69", "date_out_of_range"]
    ]
    assert accounting(data) == [3, 2, 1]


def test_a_two_digit_year_in_a_year_first_file_is_a_bad_date_not_the_year_2(tmp_path):
    """With date_order="ymd" 02/03/24 fits no format: strptime's %Y would read it as the year 2."""
    path = salesforce_opportunities(
        tmp_path / "opportunities.csv", [("006A", "2024-02-03", "02/03/24"), ("006B", "2024-02-03", "2024-03-01")]
    )
    data = fk.load(path, date_order="ymd", cache=False)
    assert data.quarantine[["line", "column", "value", "reason"]].values.tolist() == [
        [2, "Close Date", "02/03/24", "bad_date"]
    ]
    assert accounting(data) == [2, 1, 1]


# ---------------------------------------------------------------- year-first --


def test_dotted_and_slashed_year_first_dates_are_read(tmp_path):
    """2018.02.01 and 2018.02.26 19:58 (dots), 2025/3/4 and 2025/03/04 14:05 (slashes,
    single-digit month and day) are all year-first."""
    path = salesforce_opportunities(
        tmp_path / "opportunities.csv",
        [
            ("006A", "2018.02.26 19:58", "2018.02.01"),
            ("006B", "2025/03/04 14:05", "2025/3/4"),
            ("006C", "2025/3/4 9:07", "2025/12/1"),
        ],
    )
    data = fk.load(path, cache=False)

    opps = data.opportunities.set_index("opportunity_id")
    assert opps["created_at"].to_dict() == {
        "006A": utc("2018-02-26 19:58"),
        "006B": utc("2025-03-04 14:05"),
        "006C": utc("2025-03-04 09:07"),
    }
    assert opps["closed_at"].to_dict() == {
        "006A": utc("2018-02-01"),
        "006B": utc("2025-03-04"),
        "006C": utc("2025-12-01"),
    }
    assert data.summary.table["date_order"].tolist() == ["ymd"]
    assert len(data.quarantine) == 0
    assert accounting(data) == [3, 3, 0]


# ---------------------------------------------------------------- clock changes --

# a German Salesforce report: day-first dates with dots, local time in Europe/Berlin
BERLIN_ROWS = [
    ("006A", "26.10.2025 01:30", "26.10.2025"),  # before the fold: CEST, UTC+2
    ("006B", "26.10.2025 02:30", "27.10.2025"),  # in the fold: happens twice
    ("006C", "26.10.2025 02:59", "27.10.2025"),  # in the fold
    ("006D", "26.10.2025 03:00", "27.10.2025"),  # after it: CET, UTC+1
]


def test_a_time_in_the_autumn_fold_is_its_first_occurrence_with_a_note(tmp_path):
    path = salesforce_opportunities(tmp_path / "opportunities.csv", BERLIN_ROWS)
    data = fk.load(path, tz="Europe/Berlin", cache=False)

    opps = data.opportunities.set_index("opportunity_id")
    assert opps["created_at"].to_dict() == {
        "006A": utc("2025-10-25 23:30"),
        "006B": utc("2025-10-26 00:30"),  # 02:30 summer time; the second 02:30 would be 01:30 UTC
        "006C": utc("2025-10-26 00:59"),
        "006D": utc("2025-10-26 02:00"),
    }
    assert opps["closed_at"]["006A"] == utc("2025-10-25 22:00")  # midnight, still summer time
    assert opps["closed_at"]["006B"] == utc("2025-10-26 23:00")
    assert (
        "opportunities.csv: 2 timestamps in 'Created Date' fell in the autumn clock change (DST fold) "
        "of Europe/Berlin and were read as their first occurrence"
    ) in data.notes
    assert accounting(data) == [4, 4, 0]


def test_the_fold_note_survives_the_cache_when_the_file_is_loaded_with_another(tmp_path):
    """The note belongs to the file: a later load that takes the file from the cache keeps it."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fold = salesforce_opportunities(tmp_path / "a" / "opportunities.csv", BERLIN_ROWS)
    other = salesforce_opportunities(tmp_path / "b" / "more.csv", [("006Z", "15.06.2025 10:00", "16.06.2025")])
    first = fk.load(fold, tz="Europe/Berlin", cache_dir=tmp_path / "cache")
    both = fk.load(fold, other, tz="Europe/Berlin", cache_dir=tmp_path / "cache")

    note = [n for n in first.notes if "autumn clock change" in n]
    assert len(note) == 1 and note[0].startswith("opportunities.csv: 2 timestamps")
    assert [n for n in both.notes if "autumn clock change" in n] == note
    assert len(both.opportunities) == 5


def test_a_time_in_the_spring_gap_is_quarantined(tmp_path):
    """02:30 on 30 March 2025 never happens in Berlin (clocks jump from 02:00 to 03:00)."""
    path = salesforce_opportunities(
        tmp_path / "opportunities.csv",
        [
            ("006A", "30.03.2025 01:59", "31.03.2025"),
            ("006B", "30.03.2025 02:30", "31.03.2025"),
            ("006C", "30.03.2025 03:00", "31.03.2025"),
        ],
    )
    data = fk.load(path, tz="Europe/Berlin", cache=False)

    assert data.opportunities.set_index("opportunity_id")["created_at"].to_dict() == {
        "006A": utc("2025-03-30 00:59"),
        "006C": utc("2025-03-30 01:00"),
    }
    assert data.quarantine[["file", "line", "column", "value", "reason", "detail"]].values.tolist() == [
        [
            str(path),
            3,
            "Created Date",
            "30.03.2025 02:30",
            "bad_date",
            "does not exist in Europe/Berlin (spring clock change)",
        ]
    ]
    assert accounting(data) == [3, 2, 1]
    assert data.summary.balanced


def test_times_in_utc_have_no_clock_change(tmp_path):
    path = salesforce_opportunities(tmp_path / "opportunities.csv", BERLIN_ROWS[1:2])
    data = fk.load(path, cache=False)
    assert data.opportunities["created_at"].iloc[0] == utc("2025-10-26 02:30")
    assert not [n for n in data.notes if "clock change" in n]


def test_an_unknown_time_zone_is_a_parameter_error(tmp_path):
    path = salesforce_opportunities(tmp_path / "opportunities.csv", BERLIN_ROWS[:1])
    with pytest.raises(fk.ParameterError, match="tz must be a time zone name .* got 'Europe/Berlim'"):
        fk.load(path, tz="Europe/Berlim", cache=False)


# ---------------------------------------------------------------- notebooks --


@pytest.mark.parametrize("name", ["funnel_review", "sla_scorecard", "lead_plan"])
def test_each_notebook_takes_date_order_and_tz_and_passes_them_to_load(name):
    notebook = ROOT / "notebooks" / f"{name}.ipynb"
    defaults = notebook_parameters(notebook)
    assert defaults["date_order"] is None and defaults["tz"] is None
    given = convert_parameters({"date_order": "mdy", "tz": "Europe/Berlin"}, defaults)
    assert given == {"date_order": "mdy", "tz": "Europe/Berlin"}

    cells = nbformat.read(notebook, as_version=4).cells
    calls = [  # the notebooks open their data with funnelkit.report.open_data, which loads an export with them
        node
        for cell in cells
        if cell.cell_type == "code" and "open_data(" in cell.source
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "open_data"
    ]
    assert len(calls) == 1
    passed = {k.arg: k.value.id for k in calls[0].keywords if isinstance(k.value, ast.Name)}
    assert passed["date_order"] == "date_order" and passed["tz"] == "tz"


def test_the_notebooks_data_opener_reads_an_export_in_the_date_order_and_time_zone_given(tmp_path):
    from funnelkit.report import open_data

    path = salesforce_opportunities(tmp_path / "opportunities.csv", [("006A", "02/03/24 09:15 AM", "05/06/25")])
    with pytest.raises(fk.AmbiguousDateError):
        open_data(path, date_order=None)
    berlin = open_data(path, date_order="dmy", tz="Europe/Berlin", mapping="", as_of="")
    assert berlin.opportunities["created_at"].iloc[0] == utc("2024-03-02 08:15")  # 09:15 CET is 08:15 UTC
    assert open_data(path, date_order="mdy").opportunities["closed_at"].iloc[0] == utc("2025-05-06")
