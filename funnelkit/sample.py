"""Realistic generated CRM exports whose true parameters are known.

:func:`generate_sample` draws a funnel (leads, their stage dates, opportunities
and outcomes) from per-source rates and delays, with a planted drift: Paid
Social's MQL -> SQL rate falls quarter by quarter while Referrals stays flat.
:func:`write_sample` writes it as a Salesforce report export or a HubSpot
export, the way those CRMs write them, so loading it back recovers every count.
Everything is drawn with numpy at once (no Python loop per lead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from . import schema as s
from .errors import ParameterError

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class SourceProfile:
    """True parameters of one lead source."""

    name: str
    share: float  # of all leads
    lead_to_mql: float
    mql_to_sql: float  # first quarter; see drift
    sql_to_opportunity: float
    win: float
    deal_median: float  # USD
    mql_to_sql_last: float | None = None  # last quarter, when the rate drifts


SOURCES = (
    SourceProfile("Organic Search", 0.28, 0.42, 0.40, 0.70, 0.28, 9_000),
    SourceProfile("Paid Search", 0.22, 0.38, 0.33, 0.65, 0.22, 7_500),
    SourceProfile("Email Marketing", 0.16, 0.30, 0.28, 0.60, 0.20, 6_000),
    SourceProfile("Referrals", 0.08, 0.55, 0.50, 0.80, 0.38, 14_000),
    SourceProfile("Trade Show", 0.10, 0.50, 0.30, 0.70, 0.25, 18_000),
    SourceProfile("Paid Social", 0.16, 0.35, 0.35, 0.60, 0.18, 5_000, mql_to_sql_last=0.15),
)
OWNERS = (
    "Avery Brooks", "Jordan Lee", "Priya Nair", "Mateo García", "Hannah Schmidt", "Kenji Sato",
    "Olivia Martin", "Samuel Okafor", "Chloé Dubois", "Liam O'Connor", "Sofia Rossi", "Noah Kim",
)  # fmt: skip
INDUSTRIES = ("Software", "Retail", "Healthcare", "Finance", "Manufacturing", "Education",
              "Logistics", "Media")  # fmt: skip
REGIONS = ("North America", "EMEA", "APAC", "LATAM")
REGION_SHARE = (0.5, 0.3, 0.15, 0.05)
FIRST = ("Ann", "Ben", "Carla", "Dev", "Elif", "Femi", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena",
         "Zoë", "José", "Siobhán")  # fmt: skip
LAST = ("Smith", "Garcia", "Nguyen", "Müller", "O'Brien", "Kowalski", "Patel", "Silva", "Chen",
        "Johansson")  # fmt: skip
COMPANY = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell",
           "Cyberdyne", "Soylent", "Wonka", "O'Brien & Søn", "Müller & Fils", "Zeta-Ω")  # fmt: skip
SUFFIX = ("Inc.", "Ltd", "GmbH", "LLC", "S.A.", "Group", "Labs", "Co")
LOSS_REASONS = ("Price", "Competitor", "No decision", "Timing", "Budget")
DISQUALIFY_REASONS = ("Not a fit", "No budget", "Student", "Competitor", "Duplicate contact")
SF_OPEN_STAGES = ("Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review")
HS_STAGES = ("Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
             "Decision Maker Bought-In", "Contract Sent")  # fmt: skip
HS_LIFECYCLE = {
    "lead": "Lead",
    "mql": "Marketing Qualified Lead",
    "sql": "Sales Qualified Lead",
    "opportunity": "Opportunity",
    "won": "Customer",
}
FORMATS = ("salesforce", "hubspot")


@dataclass(frozen=True)
class SampleTruth:
    """A generated funnel in the canonical model, with the parameters it was drawn from.

    Attributes
    ----------
    leads, opportunities : pandas.DataFrame
        Canonical tables (see :mod:`funnelkit.schema`), plus ``first_name``,
        ``last_name``, ``email``, ``company`` and the segment columns.
    as_of : pandas.Timestamp
        Nothing happens after this moment; deals not closed by then are open.
    params : dict
        The true parameters: per-source rates, delays and the planted drift.
    """

    leads: pd.DataFrame
    opportunities: pd.DataFrame
    as_of: pd.Timestamp
    params: dict = field(default_factory=dict)

    def counts_by_source(self) -> pd.DataFrame:
        """Per source: ``leads, mqls, sqls, opportunities, won, lost, open``.

        A lead counts as having reached a stage when it or a later stage has a
        date (skipped SQL dates count as passed), as funnelkit counts.
        """
        leads, opps = self.leads, self.opportunities
        converted = leads[s.OPPORTUNITY_ID].notna()
        sql = leads["sql_at"].notna() | converted
        mql = leads["mql_at"].notna() | sql
        outcome = leads[[s.OPPORTUNITY_ID]].merge(
            opps[[s.OPPORTUNITY_ID, s.IS_CLOSED, s.IS_WON]], on=s.OPPORTUNITY_ID, how="left"
        )
        won = outcome[s.IS_WON].fillna(False).astype(bool).to_numpy()
        closed = outcome[s.IS_CLOSED].fillna(False).astype(bool).to_numpy()
        table = pd.DataFrame(
            {
                "leads": 1,
                "mqls": mql.to_numpy(),
                "sqls": sql.to_numpy(),
                "opportunities": converted.to_numpy(),
                "won": won,
                "lost": closed & ~won,
                "open": converted.to_numpy() & ~closed,
            },
            index=leads.index,
        )
        return table.groupby(leads[s.SOURCE].to_numpy()).sum().rename_axis("source").astype("int64")


def generate_sample(n_leads: int, *, seed: int = 0, start="2024-01-01", end="2025-12-31", as_of=None) -> SampleTruth:
    """Draw a realistic funnel of ``n_leads`` leads created between ``start`` and ``end``.

    Parameters
    ----------
    n_leads : int
        Number of leads.
    seed : int
        Seed of the random generator; the same seed gives the same sample.
    start, end : date-like
        Creation window of the leads (UTC).
    as_of : timestamp, optional
        The export moment; default ``end`` at 23:59 UTC.

    Returns
    -------
    SampleTruth

    Examples
    --------
    >>> truth = generate_sample(2000, seed=1)
    >>> int(truth.counts_by_source()["leads"].sum())
    2000
    """
    if n_leads < 1:
        raise ParameterError(f"n_leads must be at least 1; got {n_leads}")
    rng = np.random.default_rng(seed)
    start, end = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    as_of = pd.Timestamp(as_of, tz="UTC") if as_of is not None else end + pd.Timedelta("23h59min")
    n = n_leads
    profiles = pd.DataFrame([p.__dict__ for p in SOURCES])
    src = rng.choice(len(SOURCES), size=n, p=profiles["share"] / profiles["share"].sum())
    created = _creation_times(rng, n, start, end)
    quarter_pos = _quarter_position(created, start, end)

    p_mql = profiles["lead_to_mql"].to_numpy()[src]
    sql_first = profiles["mql_to_sql"].to_numpy()
    sql_last = profiles["mql_to_sql_last"].fillna(profiles["mql_to_sql"]).to_numpy()
    p_sql = sql_first[src] + (sql_last[src] - sql_first[src]) * quarter_pos
    p_opp = profiles["sql_to_opportunity"].to_numpy()[src]
    p_win = profiles["win"].to_numpy()[src]

    mql_at = _happens(rng, created, rng.random(n) < p_mql, _days(rng, n, 2.0, 0.9), as_of)
    sql_at = _happens(rng, mql_at, rng.random(n) < p_sql, _days(rng, n, 5.0, 0.8), as_of)
    conv_delay = DAY + _days(rng, n, 4.0, 0.7)
    converted_at = _happens(rng, sql_at, rng.random(n) < p_opp, conv_delay, as_of).dt.floor("D")
    converted = converted_at.notna().to_numpy()
    # a real quirk: some conversions carry no SQL date
    skip_sql = converted & (rng.random(n) < 0.05)
    sql_at = sql_at.where(~skip_sql)

    touched = mql_at.notna().to_numpy() & (rng.random(n) >= 0.08)
    touch_minutes = np.exp(rng.normal(np.log(45), 1.4, n))
    first_touch = (mql_at + pd.to_timedelta(touch_minutes, unit="min")).dt.floor("min")
    first_touch = first_touch.where(touched & (first_touch <= as_of).to_numpy())
    touches = np.where(first_touch.notna(), np.clip(rng.poisson(3, n), 1, 8), 0)

    disq_at, disq_reason = _disqualify(rng, created, mql_at, sql_at, converted, as_of)
    opp_ids = np.where(converted, _ids("006", np.cumsum(converted)), None)
    lead_ids = _ids("00Q", np.arange(1, n + 1))
    people = _people(rng, n)

    leads = pd.DataFrame(
        {
            s.LEAD_ID: pd.array(lead_ids, dtype="str"),
            s.CREATED_AT: created,
            s.SOURCE: pd.array(profiles["name"].to_numpy()[src], dtype="str"),
            s.OWNER: pd.array(rng.choice(OWNERS, n), dtype="str"),
            "mql_at": mql_at,
            "sql_at": sql_at,
            s.CONVERTED_AT: converted_at,
            s.OPPORTUNITY_ID: pd.array(opp_ids, dtype="str"),
            s.FIRST_TOUCH_AT: first_touch,
            s.TOUCHES: touches,
            s.DISQUALIFIED_AT: disq_at,
            s.DISQUALIFY_REASON: pd.array(disq_reason, dtype="str"),
            "employees": np.maximum(1, np.exp(rng.normal(np.log(150), 1.3, n))).astype("int64"),
            "industry": pd.array(rng.choice(INDUSTRIES, n), dtype="str"),
            "region": pd.array(rng.choice(REGIONS, n, p=REGION_SHARE), dtype="str"),
            **people,
        }
    )
    leads[s.STATUS] = _salesforce_status(leads)
    opportunities = _opportunities(rng, leads[converted], p_win[converted], profiles, src[converted], as_of)
    params = {
        "sources": {p.name: p.__dict__ for p in SOURCES},
        "delays_median_days": {
            "lead_to_mql": 2.0,
            "mql_to_sql": 5.0,
            "sql_to_opportunity": 5.0,
            "opportunity_to_close": 45.0,
        },  # fmt: skip
        "first_touch_median_minutes": 45.0,
        "never_touched": 0.08,
        "sql_date_missing_share": 0.05,
        "drift": {"source": "Paid Social", "mql_to_sql_first_quarter": 0.35, "last_quarter": 0.15},
        "flat": "Referrals",
        "seed": seed,
        "start": str(start),
        "end": str(end),
    }
    return SampleTruth(leads=leads, opportunities=opportunities, as_of=as_of, params=params)


# ---------------------------------------------------------------- drawing --


def _creation_times(rng, n, start, end) -> pd.Series:
    span = (end + DAY - start).total_seconds()
    # growth: later days are likelier (density rising by half over the window)
    u = rng.random(n)
    position = np.sqrt(1 + 3 * u) - 1  # inverse CDF of a density rising linearly 1 -> 2
    seconds = np.sort(position * span)
    times = pd.Series(start + pd.to_timedelta(seconds.astype("int64"), unit="s"))
    # fewer leads at weekends: most weekend leads arrive on Monday instead
    weekday = times.dt.day_of_week.to_numpy()
    to_monday = (weekday >= 5) & (rng.random(n) < 0.7)
    shift = np.where(to_monday, 7 - weekday, 0)
    times = times + pd.to_timedelta(shift, unit="D")
    times = times.where(times < end + DAY, times - pd.to_timedelta(shift, unit="D"))
    return times.dt.floor("min").astype(s.TIMESTAMP)


def _quarter_position(created: pd.Series, start, end) -> np.ndarray:
    """0 for the first quarter of the window, 1 for the last."""
    q = created.dt.year * 4 + (created.dt.quarter - 1)
    first = start.year * 4 + (start.quarter - 1)
    last = end.year * 4 + (end.quarter - 1)
    return ((q - first) / max(last - first, 1)).to_numpy(dtype=float)


def _days(rng, n, median, sigma) -> pd.Series:
    return pd.Series(pd.to_timedelta(np.exp(rng.normal(np.log(median), sigma, n)), unit="D"))


def _happens(rng, previous: pd.Series, chance: np.ndarray, delay: pd.Series, as_of) -> pd.Series:
    """The next stage's time where it happens by ``as_of`` (else NaT)."""
    at = (previous + delay.to_numpy()).dt.floor("min")
    ok = previous.notna().to_numpy() & chance & (at <= as_of).to_numpy()
    return at.where(ok).astype(s.TIMESTAMP)


def _disqualify(rng, created, mql_at, sql_at, converted, as_of):
    n = len(created)
    stalled_mql = mql_at.notna().to_numpy() & sql_at.isna().to_numpy() & ~converted
    never_mql = mql_at.isna().to_numpy()
    chance = np.where(stalled_mql, 0.6, np.where(never_mql, 0.3, 0.0))
    base = mql_at.where(stalled_mql, created)
    at = (base + _days(rng, n, 12.0, 0.6).to_numpy()).dt.floor("D")
    ok = (rng.random(n) < chance) & (at <= as_of).to_numpy()
    reasons = np.where(ok, rng.choice(DISQUALIFY_REASONS, n), None)
    return at.where(ok).astype(s.TIMESTAMP), reasons


def _ids(prefix: str, numbers: np.ndarray) -> np.ndarray:
    """Salesforce-looking 18-character ids."""
    return (prefix + pd.Series(numbers).astype(str).str.zfill(12) + "AAA").to_numpy(dtype=object)


def _people(rng, n) -> dict:
    first = rng.choice(FIRST, n)
    last = rng.choice(LAST, n)
    company = pd.Series(rng.choice(COMPANY, n)) + " " + pd.Series(rng.choice(SUFFIX, n))
    local = (pd.Series(first) + "." + pd.Series(last)).str.lower().str.replace(r"[^a-z.]", "", regex=True)
    domain = pd.Series(rng.choice(COMPANY, n)).str.lower().str.replace(r"[^a-z]", "", regex=True)
    return {
        "first_name": pd.array(first, dtype="str"),
        "last_name": pd.array(last, dtype="str"),
        "company": pd.array(company, dtype="str"),
        "email": pd.array(local + "@" + domain + ".example", dtype="str"),
    }


def _salesforce_status(leads: pd.DataFrame) -> pd.Series:
    status = np.select(
        [
            leads[s.OPPORTUNITY_ID].notna(),
            leads[s.DISQUALIFIED_AT].notna(),
            leads["sql_at"].notna(),
            leads["mql_at"].notna(),
            leads[s.FIRST_TOUCH_AT].notna(),
        ],
        [
            "Closed - Converted",
            "Closed - Not Converted",
            "Sales Qualified",
            "Marketing Qualified",
            "Working - Contacted",
        ],  # fmt: skip
        default="Open - Not Contacted",
    )
    return pd.Series(status, index=leads.index, dtype="str")


def _opportunities(rng, converted: pd.DataFrame, p_win, profiles, src, as_of) -> pd.DataFrame:
    m = len(converted)
    created = converted[s.CONVERTED_AT].reset_index(drop=True)
    close_days = np.clip(np.exp(rng.normal(np.log(45), 0.5, m)), 5, 180)
    closes = (created + pd.to_timedelta(np.round(close_days), unit="D")).dt.floor("D")
    closed = (closes <= as_of).to_numpy()
    won = closed & (rng.random(m) < p_win)
    lost = closed & ~won
    median = profiles["deal_median"].to_numpy()[src]
    amount = np.round(median * np.exp(rng.normal(0, 0.6, m)), 2)
    open_label = rng.choice(SF_OPEN_STAGES, m)
    label = np.where(won, "Closed Won", np.where(lost, "Closed Lost", open_label))
    stage = np.where(won, "won", np.where(lost, s.LOST, "opportunity"))
    return pd.DataFrame(
        {
            s.OPPORTUNITY_ID: pd.array(converted[s.OPPORTUNITY_ID].to_numpy(), dtype="str"),
            s.LEAD_ID: pd.array(converted[s.LEAD_ID].to_numpy(), dtype="str"),
            s.CREATED_AT: created.astype(s.TIMESTAMP),
            s.CLOSED_AT: closes.where(closed).astype(s.TIMESTAMP),
            s.STAGE: pd.array(stage, dtype="str"),
            s.STAGE_LABEL: pd.array(label, dtype="str"),
            s.IS_CLOSED: closed,
            s.IS_WON: won,
            s.AMOUNT: amount,
            s.CURRENCY: pd.array(np.full(m, "USD"), dtype="str"),
            s.SOURCE: pd.array(converted[s.SOURCE].to_numpy(), dtype="str"),
            s.OWNER: pd.array(converted[s.OWNER].to_numpy(), dtype="str"),
            s.LOST_REASON: pd.array(np.where(lost, rng.choice(LOSS_REASONS, m), None), dtype="str"),
            "expected_close": closes,
            "account": pd.array(converted["company"].to_numpy(), dtype="str"),
        }
    )


# ---------------------------------------------------------------- writing --


def write_sample(truth_or_n: SampleTruth | int, out_dir, *, format: str = "salesforce", seed: int = 0) -> list[Path]:
    """Write a generated funnel as a CRM export folder.

    Parameters
    ----------
    truth_or_n : SampleTruth or int
        A generated sample, or a number of leads to generate with ``seed``.
    out_dir : str or Path
        Folder to write into (created if needed).
    format : {"salesforce", "hubspot"}
        ``salesforce``: report exports ``leads.csv`` and ``opportunities.csv``
        (labels as headers, all values quoted, US dates, ``USD 1,234.00``
        amounts, the report footer). ``hubspot``: ``contacts.csv`` and
        ``deals.csv`` (UTF-8 with BOM, ISO dates, "Became a ... Date" and
        'Date entered "<Stage> (Sales Pipeline)"' columns).
    seed : int
        Seed when ``truth_or_n`` is a number.

    Returns
    -------
    list of Path
        The files written.
    """
    if format not in FORMATS:
        raise ParameterError(f"format must be one of {FORMATS}; got {format!r}")
    truth = truth_or_n if isinstance(truth_or_n, SampleTruth) else generate_sample(int(truth_or_n), seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writer = _write_salesforce if format == "salesforce" else _write_hubspot
    return writer(truth, out)


def _us_time(ts: pd.Series) -> pd.Series:
    return ts.dt.strftime("%m/%d/%Y %I:%M %p").fillna("")


def _us_date(ts: pd.Series) -> pd.Series:
    return ts.dt.strftime("%m/%d/%Y").fillna("")


def _iso_minutes(ts: pd.Series) -> pd.Series:
    return ts.dt.strftime("%Y-%m-%d %H:%M").fillna("")


def _text(values) -> pd.Series:
    return pd.Series(values).astype("str").fillna("")


def _write_salesforce(truth: SampleTruth, out: Path) -> list[Path]:
    leads, opps = truth.leads, truth.opportunities
    lead_table = {
        "Lead ID": leads[s.LEAD_ID],
        "First Name": leads["first_name"],
        "Last Name": leads["last_name"],
        "Company": leads["company"],
        "Email": leads["email"],
        "Lead Source": leads[s.SOURCE],
        "Lead Status": leads[s.STATUS],
        "Lead Owner": leads[s.OWNER],
        "Create Date": _us_time(leads[s.CREATED_AT]),
        "MQL Date": _us_time(leads["mql_at"]),
        "SQL Date": _us_time(leads["sql_at"]),
        "First Response Date": _us_time(leads[s.FIRST_TOUCH_AT]),
        "Touches (14 days)": leads[s.TOUCHES].astype(str),
        "Converted": np.where(leads[s.OPPORTUNITY_ID].notna(), "1", "0"),
        "Converted Date": _us_date(leads[s.CONVERTED_AT]),
        "Converted Opportunity ID": _text(leads[s.OPPORTUNITY_ID]),
        "Disqualified Date": _us_date(leads[s.DISQUALIFIED_AT]),
        "Disqualify Reason": _text(leads[s.DISQUALIFY_REASON]),
        "Employees": leads["employees"].astype(str),
        "Industry": leads["industry"],
        "Region": leads["region"],
    }
    amount = opps[s.AMOUNT].map("USD {:,.2f}".format) if len(opps) else pd.Series([], dtype="str")
    opp_table = {
        "Opportunity ID": opps[s.OPPORTUNITY_ID],
        "Opportunity Name": opps["account"] + " - New Business",
        "Account Name": opps["account"],
        "Opportunity Owner": opps[s.OWNER],
        "Lead Source": opps[s.SOURCE],
        "Stage": opps[s.STAGE_LABEL],
        "Amount": amount,
        "Created Date": _us_date(opps[s.CREATED_AT]),
        # as in Salesforce, an open deal's Close Date is its expected close
        "Close Date": _us_date(opps["expected_close"]),
        "Closed": np.where(opps[s.IS_CLOSED], "1", "0"),
        "Won": np.where(opps[s.IS_WON], "1", "0"),
        "Loss Reason": _text(opps[s.LOST_REASON]),
    }
    stamp = truth.as_of.strftime("%m/%d/%Y %I:%M %p").lstrip("0")
    paths = []
    for name, table, rows in (
        ("leads.csv", lead_table, len(leads)),
        ("opportunities.csv", opp_table, len(opps)),
    ):
        path = out / name
        _write_csv(path, table, quote_all=True)
        footer = (
            f'\n"Grand Totals ({rows} records)"\n\n'
            f'"Copyright (c) 2000-{truth.as_of.year + 1} salesforce.com, inc. '
            'All rights reserved."\n'
            '"Confidential Information - Do Not Distribute"\n'
            f'"Generated By:  Sam Analyst  {stamp}"\n'
            '"Acme Analytics, Inc."\n'
        )
        with path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(footer)
        paths.append(path)
    return paths


def _write_hubspot(truth: SampleTruth, out: Path) -> list[Path]:
    leads, opps = truth.leads, truth.opportunities
    deal_ids = pd.Series(np.arange(len(opps)) + 5_000_001, index=opps.index).astype(str)
    deal_of_lead = pd.Series(deal_ids.to_numpy(), index=opps[s.LEAD_ID].to_numpy())
    contact_deal = leads[s.LEAD_ID].map(deal_of_lead)
    outcome = leads[[s.LEAD_ID]].merge(opps[[s.LEAD_ID, s.IS_WON, s.CLOSED_AT]], on=s.LEAD_ID, how="left")
    won_at = outcome[s.CLOSED_AT].where(outcome[s.IS_WON].fillna(False).astype(bool))
    reached = np.select(
        [
            won_at.notna().to_numpy(),
            leads[s.OPPORTUNITY_ID].notna().to_numpy(),
            leads["sql_at"].notna().to_numpy(),
            leads["mql_at"].notna().to_numpy(),
        ],  # fmt: skip
        ["won", "opportunity", "sql", "mql"],
        default="lead",
    )
    lead_status = np.where(
        leads[s.DISQUALIFIED_AT].notna(), "Unqualified",
        np.where(leads[s.FIRST_TOUCH_AT].notna(), "In Progress", "New"),
    )  # fmt: skip
    contacts = {
        "Record ID": (leads.index.to_series() + 1_000_001).astype(str),
        "First Name": leads["first_name"],
        "Last Name": leads["last_name"],
        "Email": leads["email"],
        "Company Name": leads["company"],
        "Lifecycle Stage": pd.Series(reached).map(HS_LIFECYCLE),
        "Lead Status": lead_status,
        "Original Source": leads[s.SOURCE],
        "Create Date": _iso_minutes(leads[s.CREATED_AT]),
        "Became a Lead Date": _iso_minutes(leads[s.CREATED_AT]),
        "Became a Marketing Qualified Lead Date": _iso_minutes(leads["mql_at"]),
        "Became a Sales Qualified Lead Date": _iso_minutes(leads["sql_at"]),
        "Became an Opportunity Date": _iso_minutes(leads[s.CONVERTED_AT]),
        "Became a Customer Date": _iso_minutes(won_at),
        "Contact owner": leads[s.OWNER],
        "Date of first engagement": _iso_minutes(leads[s.FIRST_TOUCH_AT]),
        "Number of Sales Activities": leads[s.TOUCHES].astype(str),
        "Number of Employees": leads["employees"].astype(str),
        "Industry": leads["industry"],
        "Country/Region": leads["region"],
        "Associated Deal": _text(contact_deal),
    }
    deals = {
        "Record ID": deal_ids,
        "Deal Name": opps["account"] + " - New Business",
        "Pipeline": "Sales Pipeline",
        "Deal Stage": _hubspot_stage(opps),
        "Amount": opps[s.AMOUNT].map("{:.2f}".format) if len(opps) else pd.Series([], dtype="str"),
        "Deal currency code": opps[s.CURRENCY],
        "Create Date": _iso_minutes(opps[s.CREATED_AT]),
        "Close Date": _iso_minutes(opps[s.CLOSED_AT]),
        "Deal owner": opps[s.OWNER],
        "Original Source": opps[s.SOURCE],
        "Closed Lost Reason": _text(opps[s.LOST_REASON]),
        **_date_entered(opps, truth.as_of),
    }
    paths = [out / "contacts.csv", out / "deals.csv"]
    _write_csv(paths[0], contacts, quote_all=False, bom=True)
    _write_csv(paths[1], deals, quote_all=False, bom=True)
    return paths


def _hubspot_stage(opps: pd.DataFrame) -> pd.Series:
    open_index = pd.Series(opps[s.STAGE_LABEL]).map({label: i for i, label in enumerate(SF_OPEN_STAGES)})
    open_label = open_index.fillna(0).astype(int).map(dict(enumerate(HS_STAGES[1:])))
    return open_label.where(~opps[s.IS_CLOSED].to_numpy(), np.where(opps[s.IS_WON], "Closed Won", "Closed Lost"))


def _date_entered(opps: pd.DataFrame, as_of) -> dict:
    """'Date entered "<Stage> (Sales Pipeline)"' columns: stages entered up to the current one."""
    created, closed = opps[s.CREATED_AT], opps[s.CLOSED_AT]
    current = _hubspot_stage(opps)
    level = current.map({label: i for i, label in enumerate(HS_STAGES)})
    end = closed.fillna(as_of)
    columns = {}
    for i, label in enumerate(HS_STAGES):  # one pass per stage column, not per deal
        entered = created + (end - created) * (i / len(HS_STAGES))
        reached = (level >= i) | (i == 0) | (opps[s.IS_CLOSED] & (i <= 1))
        columns[f'Date entered "{label} (Sales Pipeline)"'] = _iso_minutes(entered.where(reached.to_numpy()))
    columns['Date entered "Closed Won (Sales Pipeline)"'] = _iso_minutes(closed.where(opps[s.IS_WON]))
    lost = opps[s.IS_CLOSED] & ~opps[s.IS_WON]
    columns['Date entered "Closed Lost (Sales Pipeline)"'] = _iso_minutes(closed.where(lost))
    return columns


def _write_csv(path: Path, columns: dict, *, quote_all: bool, bom: bool = False) -> None:
    n = max((len(v) for v in columns.values() if not isinstance(v, str)), default=0)
    arrays = {}
    for name, values in columns.items():
        series = pd.Series(np.full(n, values) if isinstance(values, str) else np.asarray(values, dtype=object))
        arrays[name] = pa.array(series.fillna("").astype(str).to_numpy(dtype=object), type=pa.string())
    table = pa.table(arrays)
    options = pacsv.WriteOptions(quoting_style="all_valid" if quote_all else "needed")
    with path.open("wb") as handle:
        if bom:
            handle.write(b"\xef\xbb\xbf")
        pacsv.write_csv(table, handle, write_options=options)


def main_params(truth: SampleTruth) -> str:
    """The true parameters as JSON (for notebooks and docs)."""
    return json.dumps(truth.params, indent=2, default=str)
