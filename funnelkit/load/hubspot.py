"""HubSpot contacts and deals exports."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .. import schema as s
from . import _parse
from .base import LEADS, OPPORTUNITIES, Adapter, Context, register

DATE_ENTERED = re.compile(r'^Date entered "(?P<stage>.+?)(?: \((?P<pipeline>[^()]+)\))?"$', re.IGNORECASE)


@register
class HubSpot(Adapter):
    """HubSpot contacts ("Lifecycle Stage", "Became a ... Date") and deals exports.

    Deal columns ``Date entered "<Stage> (<Pipeline>)"`` become stage events; a
    stage label is looked up as ``"<Stage> (<Pipeline>)"`` first, then as
    ``"<Stage>"``, because the same label can mean different things in two
    pipelines. Date-only fields are midnight UTC.
    """

    name = "hubspot"
    columns = {
        LEADS: {
            ("Record ID", "Contact ID"): s.LEAD_ID,
            "Lifecycle Stage": s.STATUS,
            ("Original Source", "Original Source Type"): s.SOURCE,
            ("Create Date", "Created Date"): s.CREATED_AT,
            ("Contact owner", "HubSpot Owner"): s.OWNER,
            ("Date of first engagement", "First Engagement Date"): s.FIRST_TOUCH_AT,
            ("Number of Sales Activities",): s.TOUCHES,
            ("Number of Employees", "Employees"): "employees",
            "Industry": "industry",
            ("Country/Region", "Country", "Region"): "region",
            ("Associated Deal", "Associated Deal IDs", "Associated Deals"): s.OPPORTUNITY_ID,
            ("Company Name", "Company"): "company",
            "Lead Status": "lead_status",
        },
        OPPORTUNITIES: {
            ("Record ID", "Deal ID"): s.OPPORTUNITY_ID,
            "Deal Stage": s.STAGE_LABEL,
            "Pipeline": "pipeline",
            "Amount": s.AMOUNT,
            ("Currency", "Deal currency code"): s.CURRENCY,
            "Close Date": s.CLOSED_AT,
            ("Create Date", "Created Date"): s.CREATED_AT,
            ("Deal owner", "Deal Owner"): s.OWNER,
            ("Original Source", "Original Source Type"): s.SOURCE,
            ("Closed Lost Reason",): s.LOST_REASON,
        },
    }
    signature = {
        LEADS: (("Record ID", "Contact ID"), "Lifecycle Stage", "Original Source", "Create Date"),
        OPPORTUNITIES: (("Record ID", "Deal ID"), "Deal Stage", "Pipeline", "Amount"),
    }
    stage_date_patterns = (r"^Became an? (.+?) Date$",)
    disqualified_statuses = ("Unqualified",)
    close_date_when_open = "HubSpot's expected close date"

    def finish(self, frame: pd.DataFrame, kind: str, ctx: Context, raw, fails) -> pd.DataFrame:
        if kind == LEADS and s.OPPORTUNITY_ID in frame:
            several = frame[s.OPPORTUNITY_ID].str.contains(";", regex=False).fillna(False)
            if several.any():
                ctx.notes.append(
                    f"{raw.file.name}: {int(several.sum()):,} contacts have several associated "
                    "deals; the first one is taken as the contact's converted deal"
                )
                frame[s.OPPORTUNITY_ID] = frame[s.OPPORTUNITY_ID].str.split(";").str[0].str.strip()
        if kind == OPPORTUNITIES and "pipeline" in frame:
            keyed = frame[s.STAGE_LABEL] + " (" + frame["pipeline"] + ")"
            known = ctx.stages.map_labels(keyed).notna()
            frame[s.STAGE_LABEL] = frame[s.STAGE_LABEL].where(~known, keyed)
        return frame

    def event_date_headers(self, headers) -> list[str]:
        return [h for h in headers if DATE_ENTERED.match(self.english_header(h))]

    def history_events(self, raw, frame: pd.DataFrame, ctx: Context) -> pd.DataFrame | None:
        entered = [(h, m) for h in raw.headers if (m := DATE_ENTERED.match(self.english_header(h)))]
        if not entered or s.OPPORTUNITY_ID not in frame:
            return None
        parts = []
        for header, match in entered:  # one pass per stage column, not per row
            label = match["stage"]
            if match["pipeline"] and ctx.stages.stage_of(f"{label} ({match['pipeline']})"):
                label = f"{label} ({match['pipeline']})"
            # ctx.date_order is the order decided for the whole file, these columns included
            stamps, unparsed, *_ = _parse.parse_datetimes(raw.frame[header], order=ctx.date_order, tz=ctx.tz)
            _note_unread_entries(raw, header, unparsed, ctx.notes)
            present = stamps.notna().to_numpy()
            if not present.any():
                continue
            parts.append(
                pd.DataFrame(
                    {
                        s.ENTITY_ID: frame[s.OPPORTUNITY_ID].to_numpy()[present],
                        s.ENTITY: "opportunity",
                        s.STAGE_LABEL: label,
                        s.AT: stamps.to_numpy()[present],
                        s.ORIGIN: "history",
                        "_row": np.flatnonzero(present),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True) if parts else None


def _note_unread_entries(raw, header: str, unparsed: np.ndarray, notes: list[str]) -> None:
    """Say how many stage-entry dates could not be read: those entries are missing from the deal's history."""
    if not unparsed.any():
        return
    first = int(np.flatnonzero(unparsed)[0])
    notes.append(
        f"{raw.file.name}: values of '{header}' that are not dates: {int(unparsed.sum()):,} "
        f"(first: {raw.frame[header].iloc[first]!r}, line {raw.lines[first]}); "
        "those deals' entries into that stage are left out of stage timings and conversion"
    )
