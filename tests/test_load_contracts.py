"""Schema drift and contradictory exports: each adapter's declared contract, and the rules that
settle what an export says twice (issue: no silent wrong numbers; real exports end to end).

Every case starts from the hand-written exports under tests/data, changed the way real
exports drift (a renamed header, a dropped column), and asserts the exact error, quarantine
row or note, and the numbers that must not move.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import funnelkit as fk

DATA = Path(__file__).resolve().parent / "data"


def drifted(tmp_path: Path, source: Path, replace: dict[str, str], name: str | None = None) -> Path:
    """A copy of ``source`` with header text replaced (a renamed or dropped column)."""
    text = source.read_text(encoding="utf-8-sig")
    header, _, rest = text.partition("\n")
    for old, new in replace.items():
        assert old in header, old
        header = header.replace(old, new)
    path = tmp_path / (name or source.name)
    path.write_text(header + "\n" + rest, encoding="utf-8")
    return path


def drop_columns(tmp_path: Path, source: Path, columns: list[str]) -> Path:
    """A copy of a plain CSV (no footer) without ``columns``."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    path = tmp_path / source.name
    frame.drop(columns=columns).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------- required roles --

SF_REPORT = DATA / "salesforce_report"


@pytest.mark.parametrize(
    ("file", "old", "new", "role", "closest"),
    [
        ("leads.csv", '"Create Date"', '"Created"', "the created date", "Created"),
        ("opportunities.csv", '"Amount"', '"Amt"', "the amount", "Amt"),
        ("opportunities.csv", '"Close Date"', '"Close Dt"', "the close date", "Close Dt"),
        ("opportunities.csv", '"Opportunity ID"', '"OpportunityID"', "the opportunity id", "OpportunityID"),
    ],
)
def test_salesforce_report_missing_role_stops_the_load(tmp_path, file, old, new, role, closest):
    path = drifted(tmp_path, SF_REPORT / file, {old: new})
    with pytest.raises(fk.SchemaError) as err:
        fk.load(path, cache=False)
    message = str(err.value)
    assert str(path) in message
    assert f"has no column for {role}" in message
    assert f"did you mean {closest!r}?" in message
    assert f"'{closest}'" in message.split("The file's columns are")[1]  # the columns found are listed


def test_deals_without_stage_or_flags_are_not_all_open(tmp_path):
    # today's main loaded these as two open deals
    path = tmp_path / "opportunities.csv"
    path.write_text(
        '"Opportunity ID","Opportunity Owner","Amount","Created Date","Close Date"\n'
        '"006000000000001AAA","Ida Rep","USD 12,345.00","02/14/2025","03/20/2025"\n'
        '"006000000000002AAA","Ida Rep","USD 4,000.50","02/20/2025","03/15/2025"\n'
    )
    with pytest.raises(fk.SchemaError, match=r"no column for the stage \(or won and closed flags\)"):
        fk.load(path, source="salesforce_report", cache=False)


def test_hubspot_deals_without_deal_stage_are_not_loaded_as_contacts(tmp_path):
    # today: read as 2 contacts and 0 deals
    path = drifted(tmp_path, DATA / "hubspot" / "deals.csv", {"Deal Stage,": "Stage of deal,"})
    with pytest.raises(fk.SchemaError) as err:
        fk.load(path, cache=False)
    message = str(err.value)
    assert "hubspot opportunities export has no column for the stage" in message
    assert "'Deal Stage'" in message


def test_pipedrive_without_value_loads_with_a_note_and_no_revenue(tmp_path):
    path = drop_columns(tmp_path, DATA / "pipedrive" / "deals.csv", ["value"])
    data = fk.load(path, cache=False)
    assert len(data.opportunities) == len(pd.read_csv(DATA / "pipedrive" / "deals.csv"))
    assert data.opportunities["amount"].isna().all()  # not 0.0
    assert any("no column for the value (a column named 'value' or 'Deal - Value')" in n for n in data.notes)


# ---------------------------------------------------------------- mappings --


def test_one_export_column_feeds_two_canonical_columns_and_a_constant_stage(tmp_path):
    # a file of won deals keyed by the lead's id: opportunity_id and lead_id both from lead_ref
    path = tmp_path / "won.csv"
    path.write_text(
        "lead_ref,closed,value\nL1,2025-03-01,100\nL2,2025-03-05,250\nL3,2025-04-02,50\n",
        encoding="utf-8",
    )
    mapping = {
        "tables": {
            "opportunities": {
                "columns": {
                    "opportunity_id": "lead_ref",
                    "lead_id": "lead_ref",
                    "closed_at": "closed",
                    "amount": "value",
                },  # fmt: skip
                "constants": {"stage": "Closed Won"},
                "currency": "EUR",
            }
        }
    }
    data = fk.load(path, mapping=mapping, cache=False)
    opps = data.opportunities.set_index("opportunity_id")
    assert opps["lead_id"].to_dict() == {"L1": "L1", "L2": "L2", "L3": "L3"}
    assert opps["is_won"].all() and opps["stage"].eq("won").all()
    assert opps.loc["L2", "closed_at"] == pd.Timestamp("2025-03-05", tz="UTC")
    with pytest.warns(fk.SmallSampleWarning):
        assert fk.win_rate(data)["won"].tolist() == [3]
    assert not any("expected close" in n for n in data.notes)


def test_a_mapped_column_missing_from_the_file_is_an_error_with_the_closest_header(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text("deal,stage,close_dt\nD1,Won,2025-01-01\n", encoding="utf-8")
    mapping = {"tables": {"opportunities": {"columns": {"opportunity_id": "deal", "stage_label": "stage",
                                                        "closed_at": "close_date"}}}}  # fmt: skip
    with pytest.raises(fk.SchemaError) as err:
        fk.load(path, mapping=mapping, cache=False)
    assert "no column for the closed_at column (a column named 'close_date'; did you mean 'close_dt'?)" in str(
        err.value
    )


def test_mapped_deals_without_any_outcome_are_an_error_not_open_deals(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text("deal,closed\nD1,2025-01-01\nD2,2025-01-02\n", encoding="utf-8")
    mapping = {"tables": {"opportunities": {"columns": {"opportunity_id": "deal", "closed_at": "closed"}}}}
    with pytest.raises(fk.SchemaError, match="the mapping names none: add one of"):
        fk.load(path, mapping=mapping, cache=False)


def test_file_patterns_select_the_files_of_a_folder(tmp_path):
    (tmp_path / "sales_pipeline.csv").write_text("id,stage\nD1,Won\nD2,Lost\n", encoding="utf-8")
    (tmp_path / "accounts.csv").write_text("account,sector\nAcme,retail\n", encoding="utf-8")
    mapping = {
        "tables": {"opportunities": {"file": "sales_pipeline*.csv",
                                     "columns": {"opportunity_id": "id", "stage_label": "stage"}}}
    }  # fmt: skip
    data = fk.load(tmp_path, mapping=mapping, cache=False)
    assert sorted(data.opportunities["opportunity_id"]) == ["D1", "D2"]
    assert data.summary.table["file"].map(lambda f: Path(f).name).tolist() == ["sales_pipeline.csv"]
    assert "accounts.csv: left out, it matches none of the mapping's file: patterns" in data.notes


# ---------------------------------------------------------------- Salesforce specifics --

SF_API = DATA / "salesforce_api"


def test_salesforce_empty_lookup_id_is_no_link(tmp_path):
    text = (SF_API / "Lead.csv").read_text()
    # Data Export writes the empty lookup as 000000000000000AAA on leads that never converted
    text = text.replace("false,,,Acme", "false,,000000000000000AAA,Acme").replace(
        "false,,,Hooli", "false,,000000000000000,Hooli"
    )
    (tmp_path / "Lead.csv").write_text(text)
    for name in ("Opportunity.csv", "OpportunityHistory.csv"):
        (tmp_path / name).write_text((SF_API / name).read_text())
    data = fk.load(tmp_path, cache=False)
    assert data.leads["opportunity_id"].isin(["000000000000000AAA", "000000000000000"]).sum() == 0
    assert not any("name a converted opportunity that is not in" in n for n in data.notes)
    baseline = fk.load(SF_API, cache=False)
    assert data.reached("opportunity").sum() == baseline.reached("opportunity").sum()


def test_converted_status_with_a_not_converted_flag_follows_the_flag(tmp_path):
    text = (SF_API / "Lead.csv").read_text()
    # lead 2 says "Closed - Converted" but IsConverted is false and nothing else links it
    text = text.replace("Web,Marketing Qualified,005A", "Web,Closed - Converted,005A")
    (tmp_path / "Lead.csv").write_text(text)
    data = fk.load(tmp_path / "Lead.csv", cache=False)
    f = data.funnel.set_index("lead_id")
    assert f.loc["00Q000000000002AAA", "furthest_stage"] == "sql"  # not "opportunity"
    assert "1 leads have a converted status but are flagged not converted; the flag decides" in " ".join(data.notes)


# ---------------------------------------------------------------- lead status semantics --


def test_disqualified_statuses_count_as_disqualified_undated(tmp_path):
    text = (SF_API / "Lead.csv").read_text().replace("Web,Open - Not Contacted,005A", "Web,Closed - Not Converted,005A")
    (tmp_path / "Lead.csv").write_text(text)
    data = fk.load(tmp_path / "Lead.csv", cache=False)
    leads = data.leads.set_index("lead_id")
    assert leads["is_disqualified"].to_dict() == {
        "00Q000000000001AAA": True,
        "00Q000000000002AAA": False,
        "00Q000000000003AAA": False,
    }
    assert pd.isna(leads.loc["00Q000000000001AAA", "disqualified_at"])
    assert any(n.startswith("1 leads have a status meaning disqualified") for n in data.notes)
    assert fk.dropoff(data).set_index("stage").loc["lead", "disqualified"] == 1


def test_hubspot_unqualified_contacts_are_disqualified(tmp_path):
    text = (DATA / "hubspot" / "contacts.csv").read_text(encoding="utf-8-sig")
    assert text.count(",New,") == 1
    (tmp_path / "contacts.csv").write_text(text.replace(",New,", ",Unqualified,"), encoding="utf-8")
    data = fk.load(tmp_path / "contacts.csv", cache=False)
    assert int(data.leads["is_disqualified"].sum()) == 1
    assert data.leads.set_index("lead_id").loc["101", "is_disqualified"]
    assert fk.dropoff(data).set_index("stage").loc["lead", "disqualified"] == 1


# ---------------------------------------------------------------- history is a history --


def test_a_deal_won_then_lost_has_not_been_won(tmp_path):
    (tmp_path / "Lead.csv").write_text((SF_API / "Lead.csv").read_text())
    lost_id = "006000000000010AAA"
    (tmp_path / "Opportunity.csv").write_text(
        (SF_API / "Opportunity.csv").read_text()
        + f"{lost_id},false,Closed Lost,800,USD,2025-03-09,true,false,2025-02-20T00:00:00.000Z,Web,005A\n"
    )
    history = (SF_API / "OpportunityHistory.csv").read_text()
    history += f"008X,{lost_id},Prospecting,800,2025-03-31,2025-02-20T00:00:00.000Z,false\n"
    history += f"008Y,{lost_id},Closed Won,800,2025-03-01,2025-03-01T00:00:00.000Z,false\n"
    history += f"008Z,{lost_id},Closed Lost,800,2025-03-09,2025-03-09T00:00:00.000Z,false\n"
    (tmp_path / "OpportunityHistory.csv").write_text(history)
    data = fk.load(tmp_path, cache=False)
    assert int(data.reached("won").sum()) == 1  # 006...001AAA only, as on the bundled export
    assert int(data.funnel["is_won"].sum()) == 1
    row = data.funnel.set_index("opportunity_id").loc[lost_id]
    assert bool(row["is_lost"]) and pd.isna(row["won_at"])
    assert row["furthest_stage"] == "opportunity"


# ---------------------------------------------------------------- extra columns --


def test_numeric_extra_columns_load_as_numbers_and_codes_stay_text(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(
        "id,status,add_time,value,seats,zip,phone\n"
        "1,won,2025-01-01 10:00:00,100,12,02134,+1 555 0100\n"
        '2,lost,2025-01-02 10:00:00,200,"1,250",10001,+1 555 0101\n'
        "3,open,2025-01-03 10:00:00,300,,94105,\n",
        encoding="utf-8",
    )
    opps = fk.load(path, cache=False).opportunities
    assert opps["seats"].tolist()[:2] == [12.0, 1250.0] and pd.isna(opps["seats"].iloc[2])
    assert opps["zip"].tolist() == ["02134", "10001", "94105"]  # a leading zero keeps the column text
    assert opps["phone"].iloc[0] == "+1 555 0100"
