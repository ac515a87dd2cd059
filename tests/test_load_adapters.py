"""Each adapter on a small hand-written export whose every count is known."""

from __future__ import annotations

import pandas as pd
import pytest

import funnelkit as fk

UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def reached_by_source(data: fk.Dataset) -> pd.DataFrame:
    f = data.funnel
    out = {stage: data.reached(stage).groupby(f["source"]).sum() for stage in data.stages.names}
    out["lost"] = f["is_lost"].groupby(f["source"]).sum()
    return pd.DataFrame(out).astype(int)


# ---------------------------------------------------------------- Salesforce report --


def test_salesforce_report_counts_and_footer(data_dir):
    data = fk.load(data_dir / "salesforce_report", cache=False)
    summary = data.summary.table.set_index("table")
    assert summary.loc["leads", "adapter"] == "salesforce_report"
    assert summary.loc["leads", ["rows_read", "rows_kept", "rows_quarantined", "footer_lines"]].tolist() == [6, 6, 0, 5]
    assert summary.loc["opportunities", ["rows_read", "rows_kept", "footer_lines"]].tolist() == [
        3,
        3,
        5,
    ]
    assert summary.loc["leads", "date_order"] == "mdy"
    assert data.summary.balanced
    assert data.quarantine.empty


def test_salesforce_report_values(data_dir):
    data = fk.load(data_dir / "salesforce_report", cache=False)
    leads = data.leads.set_index("lead_id")
    assert leads.loc["00Q000000000001AAA", "created_at"] == ts("2025-01-15 09:30")
    assert leads.loc["00Q000000000005AAA", "created_at"] == ts("2025-03-01 16:59")  # 04:59 PM
    assert leads.loc["00Q000000000003AAA", "converted_at"] == ts("2025-02-14")  # date-only: midnight UTC
    assert leads.loc["00Q000000000002AAA", "company"] == "O'Brien & Søn"
    opps = data.opportunities.set_index("opportunity_id")
    assert opps.loc["006000000000001AAA", "amount"] == 12345.0
    assert opps.loc["006000000000002AAA", "amount"] == 4000.5
    assert opps["currency"].unique().tolist() == ["USD"]
    assert opps["stage"].to_dict() == {
        "006000000000001AAA": "won",
        "006000000000002AAA": "lost",
        "006000000000003AAA": "opportunity",
    }
    # an open deal's "Close Date" is Salesforce's expected close, not a close
    assert pd.isna(opps.loc["006000000000003AAA", "closed_at"])
    assert any("expected close date" in note for note in data.notes)
    assert data.as_of == ts("2025-03-20")


def test_salesforce_report_funnel_by_source(data_dir):
    data = fk.load(data_dir / "salesforce_report", cache=False)
    got = reached_by_source(data)
    expected = pd.DataFrame(
        {
            "lead": [1, 2, 3],
            "mql": [0, 2, 2],
            "sql": [0, 2, 1],  # Initech converted without an SQL date: counted as passed
            "opportunity": [0, 2, 1],
            "won": [0, 1, 0],
            "lost": [0, 1, 0],
        },
        index=pd.Index(["Partner", "Trade Show", "Web"], name="source"),
    )
    pd.testing.assert_frame_equal(got.sort_index(), expected, check_names=False)
    skipped = data.funnel.set_index("entity_id")["skipped_stages"]
    assert skipped["00Q000000000004AAA"] == 1
    # the skipped SQL stage takes the next stage's time (the conversion date)
    assert data.funnel.set_index("entity_id").loc["00Q000000000004AAA", "sql_at"] == ts("2025-02-20")


def test_time_zone_of_naive_timestamps(data_dir):
    data = fk.load(data_dir / "salesforce_report", tz="America/New_York", cache=False)
    leads = data.leads.set_index("lead_id")
    assert leads.loc["00Q000000000001AAA", "created_at"] == ts("2025-01-15 14:30")  # EST = UTC-5


# ---------------------------------------------------------------- HubSpot --


def test_hubspot_contacts_and_deals(data_dir):
    data = fk.load(data_dir / "hubspot", cache=False)
    summary = data.summary.table.set_index("table")
    assert summary.loc["leads", "encoding"] == "utf-8-sig"
    assert summary["adapter"].unique().tolist() == ["hubspot"]
    got = reached_by_source(data)
    assert got.loc["Organic Search"].tolist() == [3, 2, 1, 1, 0, 0]
    assert got.loc["Paid Search"].tolist() == [2, 2, 2, 2, 1, 1]
    leads = data.leads.set_index("lead_id")
    assert leads.loc["102", "company"] == "O'Brien & Søn, Ltd"
    assert leads.loc["103", "mql_at"] == ts("2025-02-04 08:00")
    assert leads.loc["103", "opportunity_id"] == "9001"
    # "Date entered" columns become history events keyed by pipeline
    history = data.events[data.events["origin"] == "history"]
    assert len(history) == 7
    won = history[(history["entity_id"] == "9001") & (history["stage"] == "won")]
    assert won["at"].tolist() == [ts("2025-03-20")]
    lost = data.events[(data.events["entity_id"] == "9002") & (data.events["stage"] == "lost")]
    assert len(lost) == 1  # history wins over the snapshot, no double count


# ---------------------------------------------------------------- Salesforce API --


def test_salesforce_data_export(data_dir):
    data = fk.load(data_dir / "salesforce_api", cache=False)
    summary = data.summary.table.set_index("table")
    assert summary.loc["leads", ["rows_read", "rows_kept", "rows_quarantined"]].tolist() == [
        4,
        3,
        1,
    ]
    assert summary.loc["history", "rows_read"] == 5
    q = data.quarantine
    assert q[["line", "column", "reason"]].values.tolist() == [[5, "IsDeleted", "deleted_record"]]
    leads = data.leads.set_index("lead_id")
    assert leads.loc["00Q000000000002AAA", "mql_at"] == ts("2025-01-22 10:00")
    assert set(data.opportunities["currency"]) == {"USD", "EUR"}
    assert any("several currencies" in n for n in data.notes)
    # OpportunityHistory: amount-only edits repeat the stage; first entry per stage counts
    f = data.funnel.set_index("entity_id")
    assert f.loc["00Q000000000003AAA", "opportunity_at"] == ts("2025-02-14")
    assert f.loc["00Q000000000003AAA", "won_at"] == ts("2025-03-20")
    # an opportunity with no lead enters at the opportunity stage with its own source
    orphan = f.loc["006000000000009AAA"]
    assert (orphan["entity"], orphan["source"], orphan["source_basis"]) == (
        "opportunity",
        "Web",
        "opportunity",
    )
    assert not data.reached("lead")[f.index.get_loc("006000000000009AAA")]


# ---------------------------------------------------------------- Pipedrive --


def test_pipedrive_deals(data_dir):
    data = fk.load(data_dir / "pipedrive", cache=False)
    opps = data.opportunities.set_index("opportunity_id")
    assert opps["stage"].to_dict() == {"1": "won", "2": "lost", "3": "opportunity"}
    assert opps["is_closed"].tolist() == [True, True, False]
    assert opps.loc["2", "closed_at"] == ts("2025-01-30 09:00")
    assert opps.loc["1", "lost_reason"] is None or pd.isna(opps.loc["1", "lost_reason"])
    assert opps.loc["2", "lost_reason"] == "Price"
    assert opps["currency"].unique().tolist() == ["EUR"]


# ---------------------------------------------------------------- mapping + Excel --


def test_mapped_excel_with_title_rows(tmp_path):
    rows = [
        ["Pipeline report Q1", None, None, None],
        ["Exported 2025-04-01", None, None, None],
        [None, None, None, None],
        ["Deal", "Rep", "Status", "Signed on"],
        ["D-1", "Mia", "Won", "2025-02-01"],
        ["D-2", "Lou", "Lost", "2025-02-03"],
        ["D-3", "Lou", "Open", ""],
    ]
    path = tmp_path / "pipeline.xlsx"
    pd.DataFrame(rows).to_excel(path, header=False, index=False)
    mapping = {
        "tables": {
            "opportunities": {
                "columns": {
                    "opportunity_id": "Deal",
                    "owner": "Rep",
                    "stage_label": "Status",
                    "closed_at": "Signed on",
                }
            }
        },
        "stages": {"names": ["opportunity", "won"], "labels": {"Open": "opportunity"}},
    }
    data = fk.load(path, mapping=mapping, cache=False)
    opps = data.opportunities.set_index("opportunity_id")
    assert opps["stage"].to_dict() == {"D-1": "won", "D-2": "lost", "D-3": "opportunity"}
    assert opps.loc["D-1", "closed_at"] == ts("2025-02-01")
    assert data.summary.table.loc[0, "rows_read"] == 3
    assert any("header found on row 4" in n for n in data.notes)


def test_unknown_stage_labels_are_listed_with_counts(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(
        "id,status,stage,add_time\n"
        "1,open,Hot,2025-01-01 10:00:00\n"
        "2,open,Hot,2025-01-02 10:00:00\n"
        "3,open,Cold,2025-01-03 10:00:00\n"
    )
    with pytest.raises(fk.StageError) as err:
        fk.load(path, source="pipedrive", cache=False)
    assert "'Hot' (2 rows)" in str(err.value) and "'Cold' (1 rows)" in str(err.value)
    assert "deals.csv" in str(err.value)
    data = fk.load(
        path,
        source="pipedrive",
        stages=fk.Stages(labels={"Hot": "opportunity", "Cold": "opportunity"}),
        cache=False,
    )
    assert len(data.opportunities) == 3


def test_unrecognised_export_names_its_columns(tmp_path):
    path = tmp_path / "mystery.csv"
    path.write_text("foo,bar\n1,2\n")
    with pytest.raises(fk.SchemaError) as err:
        fk.load(path, cache=False)
    assert "mystery.csv" in str(err.value) and "['foo', 'bar']" in str(err.value)
    assert "mapping=" in str(err.value)


def test_hubspot_stage_entry_dates_decide_the_order_and_unreadable_ones_are_noted(data_dir, tmp_path):
    # the deal's own dates are ISO; only the "Date entered" columns are slash dates, day first (14/02)
    (tmp_path / "contacts.csv").write_bytes((data_dir / "hubspot" / "contacts.csv").read_bytes())
    (tmp_path / "deals.csv").write_text(
        "Record ID,Deal Name,Pipeline,Deal Stage,Amount,Create Date,Close Date,"
        '"Date entered ""Appointment Scheduled (Sales Pipeline)""","Date entered ""Closed Won (Sales Pipeline)"""\n'
        "9001,Globex,Sales Pipeline,Closed Won,100,2025-02-14,2025-03-20,14/02/2025,20/03/2025\n"
        "9002,Initech,Sales Pipeline,Appointment Scheduled,50,2025-02-20,,soon,\n",
        encoding="utf-8",
    )
    data = fk.load(tmp_path, cache=False)
    history = data.events[data.events["origin"] == "history"].sort_values("at")
    assert history[["entity_id", "at"]].values.tolist() == [["9001", ts("2025-02-14")], ["9001", ts("2025-03-20")]]
    note = [n for n in data.notes if "not dates" in n]
    assert note == [
        "deals.csv: values of 'Date entered \"Appointment Scheduled (Sales Pipeline)\"' that are not dates: 1 "
        "(first: 'soon', line 3); those deals' entries into that stage are left out of stage timings and conversion"
    ]
