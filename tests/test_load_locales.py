"""Exports labelled in other languages: header-label presets, localised stage labels, dates and amounts.

Each localised fixture is the English export of the same generated funnel
(:func:`funnelkit.sample.write_sample`) with its headers, stage and status
labels, dates and amounts rewritten as the locale writes them. The
translation tables are read from the preset files with ``yaml`` directly (not
through the loader), so every preset label is exercised; the counts are
checked against the English export's load.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import funnelkit as fk
from funnelkit import schema as s
from funnelkit.errors import StageError
from funnelkit.load.base import ADAPTERS, LOCALES_DIR, detect, normalise_header, presets
from funnelkit.sample import generate_sample, write_sample

SALESFORCE_LOCALES = ("zh-CN", "zh-TW", "ja", "tr", "fr", "de", "es", "pt-BR")
HUBSPOT_LOCALES = ("zh-CN", "tr", "de")
N_LEADS = 400

# -------------------------------------------------------------- how each locale writes values --


def _n(part: pd.Series) -> pd.Series:
    """A date part without padding (empty dates stay empty, never "nan")."""
    return part.astype("Int64").astype("str")


def _cjk(ts: pd.Series, *, time: bool) -> pd.Series:
    day = _n(ts.dt.year) + "年" + _n(ts.dt.month) + "月" + _n(ts.dt.day) + "日"
    return day + " " + ts.dt.strftime("%H:%M") if time else day


def _slashed_ymd(ts: pd.Series, *, time: bool) -> pd.Series:
    day = _n(ts.dt.year) + "/" + _n(ts.dt.month) + "/" + _n(ts.dt.day)
    return day + " " + ts.dt.strftime("%H:%M") if time else day


def _zh_tw(ts: pd.Series, *, time: bool) -> pd.Series:
    """``2025/3/4 下午 2:05``: the morning / afternoon marker before a 12-hour time."""
    if not time:
        return _slashed_ymd(ts, time=False)
    marker = np.where(ts.dt.hour < 12, "上午", "下午")
    hour12 = _n((ts.dt.hour + 11) % 12 + 1)
    return _slashed_ymd(ts, time=False) + " " + marker + " " + hour12 + ts.dt.strftime(":%M")


def _dotted(ts: pd.Series, *, time: bool) -> pd.Series:
    """``04.03.2025`` for dates; ``4.03.2025 14:05`` (day not padded) for date-times."""
    if not time:
        return ts.dt.strftime("%d.%m.%Y")
    return _n(ts.dt.day) + ts.dt.strftime(".%m.%Y %H:%M")


def _dmy_slashes(ts: pd.Series, *, time: bool) -> pd.Series:
    return ts.dt.strftime("%d/%m/%Y %H:%M" if time else "%d/%m/%Y")


def _es(ts: pd.Series, *, time: bool) -> pd.Series:
    """``4/3/2025 14:05``: Spanish short dates pad neither day nor month."""
    day = _n(ts.dt.day) + "/" + _n(ts.dt.month) + "/" + _n(ts.dt.year)
    return day + " " + ts.dt.strftime("%H:%M") if time else day


def _dot_thousands(code: str):
    def write(amount: pd.Series) -> pd.Series:
        us = amount.map("{:,.2f}".format)
        return code + " " + us.str.replace(",", "_").str.replace(".", ",").str.replace("_", ".")

    return write


def _comma_thousands(code: str):
    return lambda amount: code + " " + amount.map("{:,.2f}".format)


#: (date writer, amount writer, currency) per locale; amounts in forms the loader reads today
STYLE = {
    "zh-CN": (_cjk, _comma_thousands("CNY"), "CNY"),
    "zh-TW": (_zh_tw, _comma_thousands("TWD"), "TWD"),
    "ja": (_slashed_ymd, _comma_thousands("JPY"), "JPY"),
    "tr": (_dotted, _dot_thousands("TRY"), "TRY"),
    "de": (_dotted, _dot_thousands("EUR"), "EUR"),
    "fr": (_dmy_slashes, _dot_thousands("EUR"), "EUR"),
    "es": (_es, _dot_thousands("EUR"), "EUR"),
    "pt-BR": (_dmy_slashes, _dot_thousands("BRL"), "BRL"),
}

# ------------------------------------------------------------------------------- fixtures --


def _preset_doc(adapter: str, locale: str) -> dict:
    return yaml.safe_load((LOCALES_DIR / f"{adapter}.{locale}.yml").read_text(encoding="utf-8"))


def _first_label(mapping: dict) -> dict[str, str]:
    """English -> the first localised label the preset gives for it."""
    out: dict[str, str] = {}
    for localised, english in mapping.items():
        out.setdefault(english, localised)
    return out


@pytest.fixture(scope="module")
def truth():
    return generate_sample(N_LEADS, seed=11)


@pytest.fixture(scope="module")
def english_salesforce(truth, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sf_en")
    write_sample(truth, folder, format="salesforce")
    return folder, fk.load(folder, cache=False)


@pytest.fixture(scope="module")
def english_hubspot(truth, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hs_en")
    write_sample(truth, folder, format="hubspot")
    return folder, fk.load(folder, cache=False)


def _split_footer(text: str) -> tuple[str, str]:
    at = text.find('\n\n"Grand Totals')
    return (text, "") if at < 0 else (text[:at] + "\n", text[at:])


# a few English headers of the sample that the preset translates under a synonym the adapter also declares
SYNONYM = {"Created Date": "Create Date", "Employees": "No. of Employees"}
SF_DATETIMES = {"Create Date", "MQL Date", "SQL Date", "First Response Date"}
SF_DATES = {"Converted Date", "Disqualified Date", "Created Date", "Close Date"}


def _localise_salesforce(english: Path, out: Path, locale: str) -> dict[str, str]:
    """Write the English Salesforce export of ``english`` into ``out`` as ``locale`` writes it."""
    doc = _preset_doc("salesforce_report", locale)
    headers, labels = _first_label(doc["headers"]), _first_label(doc["labels"])
    write_date, write_amount, _ = STYLE[locale]
    out.mkdir()
    renamed: dict[str, str] = {}
    for name in ("leads.csv", "opportunities.csv"):
        body, footer = _split_footer((english / name).read_text(encoding="utf-8"))
        table = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
        for column in table.columns:
            filled = table[column] != ""
            if column in SF_DATETIMES | SF_DATES:
                fmt = "%m/%d/%Y %I:%M %p" if column in SF_DATETIMES else "%m/%d/%Y"
                stamps = pd.to_datetime(table[column].where(filled), format=fmt)
                table[column] = write_date(stamps, time=column in SF_DATETIMES).where(filled, "")
            elif column == "Amount":
                amount = pd.to_numeric(table[column].str.removeprefix("USD ").str.replace(",", ""))
                table[column] = write_amount(amount)
            elif column in ("Stage", "Lead Status"):
                table[column] = table[column].map(lambda label: labels.get(label, label))
        renamed.update({c: headers[SYNONYM.get(c, c)] for c in table.columns if SYNONYM.get(c, c) in headers})
        table = table.rename(columns=renamed)
        (out / name).write_text(table.to_csv(index=False, quoting=1) + footer, encoding="utf-8")
    return renamed


HUBSPOT_PIPELINE = {"zh-CN": "销售管道", "tr": "Satış Hattı", "de": "Vertriebspipeline"}
HS_DATE_ENTERED = 'Date entered "'


def _localise_hubspot(english: Path, out: Path, locale: str) -> dict[str, str]:
    doc = _preset_doc("hubspot", locale)
    headers, labels = _first_label(doc["headers"]), _first_label(doc["labels"])
    (pattern,) = doc["header_patterns"]  # one 'Date entered' pattern per preset: write its form back
    prefix, suffix = pattern.strip("^$").split("(.+)")
    write_date = STYLE[locale][0]
    pipeline = HUBSPOT_PIPELINE[locale]
    out.mkdir()
    renamed: dict[str, str] = {}
    for name in ("contacts.csv", "deals.csv"):
        table = pd.read_csv(english / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        for column in list(table.columns):
            filled = table[column] != ""
            if "Date" in column or column.startswith(HS_DATE_ENTERED) or column == "Date of first engagement":
                stamps = pd.to_datetime(table[column].where(filled), format="%Y-%m-%d %H:%M")
                table[column] = write_date(stamps, time=True).where(filled, "")
            elif column in ("Lifecycle Stage", "Lead Status", "Deal Stage"):
                table[column] = table[column].map(lambda label: labels.get(label, label))
            elif column == "Pipeline":
                table[column] = pipeline
            elif column == "Amount" and locale == "tr":
                table[column] = table[column].str.replace(".", ",")
            if column.startswith(HS_DATE_ENTERED):
                stage, _ = column.removeprefix(HS_DATE_ENTERED).removesuffix(' (Sales Pipeline)"').split('"')[0], None
                renamed[column] = f"{prefix}{labels.get(stage, stage)} ({pipeline}){suffix}"
            elif column in headers:
                renamed[column] = headers[column]
        table = table.rename(columns=renamed)
        (out / name).write_bytes(b"\xef\xbb\xbf" + table.to_csv(index=False).encode("utf-8"))
    return renamed


def _counts(data) -> dict:
    funnel = data.funnel
    opps = data.opportunities
    return {
        "leads": len(data.leads),
        "opportunities": len(opps),
        **{f"reached {stage}": int(data.reached(stage).sum()) for stage in data.stages.names},
        "won": int(funnel["is_won"].sum()),
        "lost": int(funnel["is_lost"].sum()),
        "disqualified": int(data.leads[s.IS_DISQUALIFIED].sum()),
        "history": len(data.history),
    }


def _won_revenue(data) -> float:
    opps = data.opportunities
    return float(opps.loc[opps[s.IS_WON], s.AMOUNT].sum())


# ---------------------------------------------------------------------------------- tests --


@pytest.mark.parametrize("locale", SALESFORCE_LOCALES)
def test_localised_salesforce_export_loads_to_the_english_counts(locale, english_salesforce, tmp_path):
    english_dir, english = english_salesforce
    renamed = _localise_salesforce(english_dir, tmp_path / locale, locale)
    # the fixture really is localised: every header the funnel needs was translated
    for needed in ("Lead ID", "Lead Source", "Lead Status", "Create Date", "Converted Date", "Opportunity ID",
                   "Stage", "Amount", "Close Date", "Created Date", "Closed", "Won"):  # fmt: skip
        assert needed in renamed, f"{locale}: the preset does not translate {needed!r}"
    local = fk.load(tmp_path / locale, cache=False)

    assert len(local.quarantine) == 0, local.quarantine.head()
    assert local.summary.balanced
    assert set(local.summary.table["locale"]) == {locale}
    assert set(english.summary.table["locale"]) == {"en"}
    assert set(local.summary.table["adapter"]) == {"salesforce_report"}
    assert _counts(local) == _counts(english)
    assert english.opportunities[s.IS_WON].sum() > 5 and english.funnel["is_lost"].sum() > 5  # a real test
    assert _won_revenue(local) == pytest.approx(_won_revenue(english), rel=1e-12)
    assert set(local.opportunities[s.CURRENCY]) == {STYLE[locale][2]}
    # the CRM's own labels are kept as written; the funnel stages are the English ones
    labels = _first_label(_preset_doc("salesforce_report", locale)["labels"])
    assert local.opportunities[s.STAGE_LABEL].tolist() == [labels[x] for x in english.opportunities[s.STAGE_LABEL]]
    pd.testing.assert_series_equal(
        local.opportunities[s.STAGE].reset_index(drop=True), english.opportunities[s.STAGE].reset_index(drop=True)
    )
    pd.testing.assert_series_equal(
        local.opportunities[s.CLOSED_AT].reset_index(drop=True),
        english.opportunities[s.CLOSED_AT].reset_index(drop=True),
    )


@pytest.mark.parametrize("locale", HUBSPOT_LOCALES)
def test_localised_hubspot_export_loads_to_the_english_counts(locale, english_hubspot, tmp_path):
    english_dir, english = english_hubspot
    renamed = _localise_hubspot(english_dir, tmp_path / locale, locale)
    assert {"Record ID", "Lifecycle Stage", "Deal Stage", "Became a Customer Date"} <= set(renamed)
    local = fk.load(tmp_path / locale, cache=False)

    assert len(local.quarantine) == 0, local.quarantine.head()
    assert set(local.summary.table["locale"]) == {locale}
    assert _counts(local) == _counts(english)
    assert _counts(english)["history"] > 100  # 'Date entered' columns were read in both
    assert _won_revenue(local) == pytest.approx(_won_revenue(english), rel=1e-12)
    assert set(local.history[s.STAGE]) == set(english.history[s.STAGE])


def test_a_hand_written_chinese_opportunities_export(tmp_path):
    """Three deals written as a zh-CN Salesforce report writes them; every figure worked out by hand."""
    path = tmp_path / "业务机会.csv"
    path.write_text(
        '"业务机会 ID","阶段","金额","创建日期","结束日期","已结束","赢单","潜在客户来源"\n'
        '"006A","已赢单","CNY 1,000.00","2025年1月5日","2025年2月5日","1","1","展会"\n'
        '"006B","已丢单","CNY 500.00","2025年1月6日","2025年2月6日","1","0","付费搜索"\n'
        '"006C","谈判/审查","CNY 800.00","2025 年 1 月 7 日","2025年3月7日","0","0","展会"\n',
        encoding="utf-8",
    )
    data = fk.load(path, cache=False)
    opps = data.opportunities.set_index(s.OPPORTUNITY_ID)
    assert data.summary.table[["adapter", "locale", "table"]].iloc[0].tolist() == [
        "salesforce_report", "zh-CN", "opportunities"]  # fmt: skip
    assert opps[s.STAGE].to_dict() == {"006A": "won", "006B": "lost", "006C": "opportunity"}
    assert opps[s.STAGE_LABEL].to_dict() == {"006A": "已赢单", "006B": "已丢单", "006C": "谈判/审查"}
    assert opps.loc["006A", s.CLOSED_AT] == pd.Timestamp("2025-02-05", tz="UTC")
    assert opps.loc["006C", s.CREATED_AT] == pd.Timestamp("2025-01-07", tz="UTC")
    assert pd.isna(opps.loc["006C", s.CLOSED_AT])  # open: its close date is an expected one
    assert opps.loc["006C", s.EXPECTED_CLOSE_AT] == pd.Timestamp("2025-03-07", tz="UTC")
    assert _won_revenue(data) == 1000.0
    assert opps[s.SOURCE].to_dict() == {"006A": "展会", "006B": "付费搜索", "006C": "展会"}


def test_an_unknown_localised_stage_is_still_a_stage_error(tmp_path):
    path = tmp_path / "firsatlar.csv"
    path.write_text(
        "Fırsat Kimliği,Aşama,Tutar,Oluşturulma Tarihi,Kapanış Tarihi\n"
        "1,Kazanıldı,TRY 10,05.01.2025,15.02.2025\n"
        "2,Müzakere Aşaması,TRY 20,06.01.2025,16.02.2025\n",
        encoding="utf-8",
    )
    with pytest.raises(StageError, match="'Müzakere Aşaması' \\(1 rows\\)"):
        fk.load(path, cache=False)
    # mapped by the caller, it loads; the caller's labels win over the preset's
    data = fk.load(path, cache=False, stages=fk.Stages(labels={"Müzakere Aşaması": "opportunity", "Kazanıldı": "lost"}))
    assert data.opportunities[s.STAGE].tolist() == ["lost", "opportunity"]


def test_english_exports_stay_english(data_dir):
    data = fk.load(data_dir / "salesforce_report", data_dir / "hubspot", cache=False)
    assert data.summary.table["locale"].tolist() == ["en"] * 4


def test_a_mixed_header_file_is_read_in_its_language():
    """Custom fields keep their English labels in a localised org: the file is still Turkish."""
    adapter, kind, score = detect(["Fırsat Kimliği", "Aşama", "Tutar", "Close Date", "Oluşturulma Tarihi"])
    assert (adapter.name, adapter.locale, kind, score) == ("salesforce_report", "tr", "opportunities", 1.0)
    found = adapter.header_map(kind, ["Fırsat Kimliği", "Aşama", "Tutar", "Close Date", "Oluşturulma Tarihi"])
    assert found[s.CLOSED_AT] == "Close Date" and found[s.STAGE_LABEL] == "Aşama"


# ------------------------------------------------------------------------ the presets' data --


@pytest.mark.parametrize("adapter", ["salesforce_report", "hubspot"])
def test_presets_exist_for_every_required_locale(adapter):
    assert set(SALESFORCE_LOCALES) <= set(presets(adapter))
    for locale, preset in presets(adapter).items():
        assert preset.file.name == f"{adapter}.{locale}.yml"


@pytest.mark.parametrize(
    ("adapter", "locale"), [(a, loc) for a in ("salesforce_report", "hubspot") for loc in SALESFORCE_LOCALES]
)
def test_every_preset_label_translates_something_the_adapter_knows(adapter, locale):
    cls = ADAPTERS[adapter]
    declared = {
        normalise_header(a)
        for cols in cls.columns.values()
        for d in cols
        for a in (d if isinstance(d, tuple) else (d,))
    }
    preset = presets(adapter)[locale]
    for localised, english in preset.headers.items():
        by_pattern = any(re.match(p, english) for p in cls.stage_date_patterns)
        assert normalise_header(english) in declared or by_pattern, f"{preset.file.name}: {localised!r} -> {english!r}"
    stages = fk.Stages()
    for localised, english in preset.labels.items():
        assert stages.stage_of(english) is not None, f"{preset.file.name}: {localised!r} -> {english!r}"
    for _, template in preset.header_patterns:
        assert template.startswith('Date entered "')


def test_salesforce_presets_translate_every_default_stage_and_lead_status():
    defaults = {
        *("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers"),
        *("Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"),
        *("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"),
    }
    for locale in SALESFORCE_LOCALES:
        assert defaults <= set(presets("salesforce_report")[locale].labels.values()), locale


def test_presets_ship_with_the_package():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"load/locales/*.yml"' in text
    assert len(list(LOCALES_DIR.glob("*.yml"))) == 16


# ------------------------------------------------------------------ amounts as locales write them --


NATIVE_AMOUNTS = [
    pytest.param("tr", "1.234,56 TL", 1234.56, "TRY"),
    pytest.param("tr", "₺1.234,56", 1234.56, "TRY"),
    pytest.param("zh-TW", "NT$1,234", 1234.0, "TWD"),
    pytest.param("zh-CN", "CN¥1,234.00", 1234.0, "CNY"),
    pytest.param("fr", "1\u202f234,56 €", 1234.56, "EUR"),
    pytest.param("pt-BR", "R$ 1.234,56", 1234.56, "BRL"),
    pytest.param("de", "1.234,56 €", 1234.56, "EUR"),
    pytest.param("es", "1.234,56 €", 1234.56, "EUR"),
    pytest.param("ja", "¥1,234", 1234.0, "JPY"),
]


@pytest.mark.parametrize(("locale", "written", "amount", "currency"), NATIVE_AMOUNTS)
def test_amounts_as_the_locale_writes_them(locale, written, amount, currency, tmp_path):
    doc = _preset_doc("salesforce_report", locale)
    headers, labels = _first_label(doc["headers"]), _first_label(doc["labels"])
    write_date = STYLE[locale][0]
    created, closed = (write_date(pd.Series(pd.to_datetime([d])), time=False)[0] for d in ("2025-03-04", "2025-04-15"))
    table = pd.DataFrame(
        {
            headers["Opportunity ID"]: ["006A"],
            headers["Stage"]: [labels["Closed Won"]],
            headers["Amount"]: [written],
            headers["Create Date"]: [created],
            headers["Close Date"]: [closed],
        }
    )
    path = tmp_path / "opportunities.csv"
    path.write_text(table.to_csv(index=False), encoding="utf-8")
    data = fk.load(path, cache=False, date_order="ymd" if locale in ("zh-CN", "zh-TW", "ja") else "dmy")
    assert len(data.quarantine) == 0
    assert data.opportunities[s.AMOUNT].tolist() == [amount]
    assert data.opportunities[s.CURRENCY].tolist() == [currency]
    assert data.opportunities[s.CLOSED_AT].tolist() == [pd.Timestamp("2025-04-15", tz="UTC")]
