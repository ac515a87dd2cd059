"""Pipedrive deals export (API field names or the web export's "Deal - ..." labels)."""

from __future__ import annotations

import pandas as pd

from .. import schema as s
from ..errors import Reason
from .base import OPPORTUNITIES, Adapter, Context, Role, register


@register
class Pipedrive(Adapter):
    """Pipedrive deals: ``status`` open/won/lost decides the outcome; times are UTC
    ``YYYY-MM-DD HH:MM:SS``; ``close_time`` falls back to ``won_time``/``lost_time``."""

    name = "pipedrive"
    columns = {
        OPPORTUNITIES: {
            ("id", "Deal - ID"): s.OPPORTUNITY_ID,
            ("title", "Deal - Title"): "title",
            ("value", "Deal - Value"): s.AMOUNT,
            ("currency", "Deal - Currency"): s.CURRENCY,
            ("status", "Deal - Status"): "pipedrive_status",
            ("stage", "stage_name", "Deal - Stage"): s.STAGE_LABEL,
            ("add_time", "Deal - Deal created"): s.CREATED_AT,
            ("close_time", "Deal - Deal closed on"): s.CLOSED_AT,
            ("won_time", "Deal - Won time"): "won_time_at",
            ("lost_time", "Deal - Lost time"): "lost_time_at",
            ("stage_change_time", "Deal - Last stage change"): "stage_change_at",
            ("lost_reason", "Deal - Lost reason"): s.LOST_REASON,
            ("owner_name", "user_id", "Deal - Owner"): s.OWNER,
            ("origin", "source", "Deal - Source", "Deal - Source origin"): s.SOURCE,
            ("org_name", "Deal - Organization"): "account",
        },
    }
    signature = {
        OPPORTUNITIES: (
            ("id", "Deal - ID"),
            ("status", "Deal - Status"),
            ("add_time", "Deal - Deal created"),
            ("won_time", "Deal - Won time"),
            ("lost_time", "Deal - Lost time"),
            ("value", "Deal - Value"),
        )
    }

    required = {
        OPPORTUNITIES: (
            Role.of("deal id", s.OPPORTUNITY_ID),
            Role("status (or stage)", (("pipedrive_status",), (s.STAGE_LABEL,))),
            Role.of("created date", s.CREATED_AT),
        )
    }
    # a deals export trimmed to id, status and creation is still a funnel of outcomes
    expected = {
        OPPORTUNITIES: (
            Role.of("close date (or won and lost times)", s.CLOSED_AT, "won_time_at", "lost_time_at"),
            Role.of("value", s.AMOUNT),
        )
    }

    def finish(self, frame: pd.DataFrame, kind: str, ctx: Context, raw, fails) -> pd.DataFrame:
        status = frame.pop("pipedrive_status").str.casefold() if "pipedrive_status" in frame else None
        if status is None:
            return frame
        header = self.header_map(kind, raw.headers)["pipedrive_status"]
        fails.add(status == "deleted", header, raw.frame[header], Reason.DELETED, "deal deleted in Pipedrive")
        unknown = status.notna() & ~status.isin(["open", "won", "lost", "deleted"])
        fails.add(unknown, header, raw.frame[header], Reason.UNKNOWN_STATUS,
                  "a deal's status is open, won or lost; this one is neither")  # fmt: skip
        frame[s.IS_WON] = (status == "won").to_numpy()
        frame[s.IS_CLOSED] = status.isin(["won", "lost"]).to_numpy()
        label = frame[s.STAGE_LABEL] if s.STAGE_LABEL in frame else pd.Series(pd.NA, index=frame.index, dtype="str")
        frame[s.STAGE_LABEL] = label.mask(status == "won", "Won").mask(status == "lost", "Lost")
        closed = frame.get(s.CLOSED_AT)
        for col in ("won_time_at", "lost_time_at"):
            if col in frame:
                closed = frame[col] if closed is None else closed.fillna(frame[col])
        if closed is not None:
            frame[s.CLOSED_AT] = closed
        return frame.drop(columns=[c for c in ("won_time_at", "lost_time_at") if c in frame])
