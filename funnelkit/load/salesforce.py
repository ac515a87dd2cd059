"""Salesforce: report exports (field labels) and Data Export / Data Loader files (API names)."""

from __future__ import annotations

import pandas as pd

from .. import schema as s
from ..errors import Reason
from .base import HISTORY, LEADS, OPPORTUNITIES, Adapter, Context, register

#: The id Salesforce writes into an empty lookup field (18- and 15-character forms).
EMPTY_LOOKUP_IDS = ("000000000000000AAA", "000000000000000")


class _Salesforce(Adapter):
    """What both kinds of Salesforce export share: lead statuses, empty lookups, deleted rows."""

    disqualified_statuses = ("Closed - Not Converted", "Unqualified", "Disqualified", "Rejected", "Recycled")
    close_date_when_open = "Salesforce's expected close date"

    def finish(self, frame: pd.DataFrame, kind: str, ctx: Context, raw, fails) -> pd.DataFrame:
        for column in (s.LEAD_ID, s.OPPORTUNITY_ID):
            if column in frame and column != _primary(kind):
                frame[column] = frame[column].mask(frame[column].isin(EMPTY_LOOKUP_IDS))
        if "is_deleted" in frame:
            deleted = frame.pop("is_deleted").fillna(False).to_numpy(dtype=bool)
            fails.add(deleted, "IsDeleted", pd.Series("true", index=frame.index), Reason.DELETED,
                      "record deleted in the CRM (IsDeleted)")  # fmt: skip
        return frame


def _primary(kind: str) -> str:
    return s.LEAD_ID if kind == LEADS else s.OPPORTUNITY_ID


@register
class SalesforceReport(_Salesforce):
    """Salesforce report "Export Details" CSV or .xlsx (headers are field labels).

    Custom stage-date fields ("MQL Date", ``MQL_Date__c``) map onto the stage
    columns. Amounts like ``USD 12,345.00``; dates as the user's locale writes
    them (``date_order`` decides, detected when the data shows it). The
    footer ("Grand Totals (N records)", copyright, "Confidential Information")
    is recognised by the reader and checked against the rows read.
    """

    name = "salesforce_report"
    columns = {
        LEADS: {
            ("Lead ID", "Lead Id"): s.LEAD_ID,
            "Lead Source": s.SOURCE,
            "Lead Status": s.STATUS,
            ("Lead Owner", "Owner", "Owner Name"): s.OWNER,
            ("Create Date", "Created Date"): s.CREATED_AT,
            ("MQL Date", "MQL_Date__c", "Marketing Qualified Date"): "mql_at",
            ("SQL Date", "SQL_Date__c", "Sales Qualified Date"): "sql_at",
            ("First Response Date", "First Touch Date", "First_Response_Date__c"): s.FIRST_TOUCH_AT,
            ("Touches (14 days)", "Touches", "Touches__c"): s.TOUCHES,
            "Converted": "is_converted",
            "Converted Date": s.CONVERTED_AT,
            ("Converted Opportunity ID", "Converted Opportunity Id"): s.OPPORTUNITY_ID,
            ("Disqualified Date", "Disqualified_Date__c"): s.DISQUALIFIED_AT,
            (
                "Disqualify Reason",
                "Disqualified Reason",
                "Disqualify_Reason__c",
            ): s.DISQUALIFY_REASON,
            ("Employees", "No. of Employees"): "employees",
            "Industry": "industry",
            ("Region", "Country"): "region",
            ("Company", "Company / Account"): "company",
        },
        OPPORTUNITIES: {
            ("Opportunity ID", "Opportunity Id"): s.OPPORTUNITY_ID,
            ("Opportunity Owner", "Owner"): s.OWNER,
            "Lead Source": s.SOURCE,
            ("Stage", "Opportunity Stage"): s.STAGE_LABEL,
            ("Amount", "Amount (converted)"): s.AMOUNT,
            ("Opportunity Currency", "Currency"): s.CURRENCY,
            ("Created Date", "Create Date"): s.CREATED_AT,
            "Close Date": s.CLOSED_AT,
            "Closed": s.IS_CLOSED,
            "Won": s.IS_WON,
            ("Loss Reason", "Lost Reason", "Loss_Reason__c"): s.LOST_REASON,
            ("Lead ID", "Converted Lead ID"): s.LEAD_ID,
            "Account Name": "account",
        },
        HISTORY: {
            ("Opportunity ID", "Opportunity Id"): s.OPPORTUNITY_ID,
            ("To Stage", "Stage"): s.STAGE_LABEL,
            ("Last Modified", "Edit Date", "Modified Date"): s.AT,
            # history rows also log amount and expected close date edits: declared so a history
            # file is never taken for an opportunities file because it has these columns
            "Amount": s.AMOUNT,
            "Close Date": s.EXPECTED_CLOSE_AT,
        },
    }
    signature = {
        LEADS: (
            "Lead ID",
            "Lead Source",
            "Lead Status",
            ("Create Date", "Created Date"),
            "Converted Date",
        ),
        OPPORTUNITIES: (
            "Opportunity ID",
            "Stage",
            "Amount",
            "Close Date",
            ("Created Date", "Create Date"),
        ),
        HISTORY: ("Opportunity ID", ("To Stage", "From Stage"), ("Last Modified", "Edit Date")),
    }


@register
class SalesforceApi(_Salesforce):
    """Salesforce Data Export / Data Loader files (``Lead.csv``, ``Opportunity.csv``,
    ``OpportunityHistory.csv``) with API field names and ISO 8601 UTC timestamps."""

    name = "salesforce_api"
    columns = {
        LEADS: {
            "Id": s.LEAD_ID,
            "LeadSource": s.SOURCE,
            "Status": s.STATUS,
            "OwnerId": s.OWNER,
            "CreatedDate": s.CREATED_AT,
            "MQL_Date__c": "mql_at",
            "SQL_Date__c": "sql_at",
            ("First_Response_Date__c", "First_Touch_Date__c"): s.FIRST_TOUCH_AT,
            "IsConverted": "is_converted",
            "ConvertedDate": s.CONVERTED_AT,
            "ConvertedOpportunityId": s.OPPORTUNITY_ID,
            "NumberOfEmployees": "employees",
            "Industry": "industry",
            "Country": "region",
            "Company": "company",
            "IsDeleted": "is_deleted",
        },
        OPPORTUNITIES: {
            "Id": s.OPPORTUNITY_ID,
            "StageName": s.STAGE_LABEL,
            "Amount": s.AMOUNT,
            "CurrencyIsoCode": s.CURRENCY,
            "CloseDate": s.CLOSED_AT,
            "IsClosed": s.IS_CLOSED,
            "IsWon": s.IS_WON,
            "CreatedDate": s.CREATED_AT,
            "LeadSource": s.SOURCE,
            "OwnerId": s.OWNER,
            ("Loss_Reason__c", "LossReason__c"): s.LOST_REASON,
            "AccountId": "account",
            "IsDeleted": "is_deleted",
        },
        HISTORY: {
            "OpportunityId": s.OPPORTUNITY_ID,
            "StageName": s.STAGE_LABEL,
            "CreatedDate": s.AT,
            "IsDeleted": "is_deleted",
            "Amount": s.AMOUNT,
            "CloseDate": s.EXPECTED_CLOSE_AT,
        },
    }
    signature = {
        LEADS: (
            "Id",
            "LeadSource",
            "Status",
            "CreatedDate",
            "IsConverted",
            "ConvertedOpportunityId",
        ),
        OPPORTUNITIES: ("Id", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon"),
        HISTORY: ("OpportunityId", "StageName", "CreatedDate"),
    }
