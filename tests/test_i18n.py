"""Languages without a kernel: set_locale, CLDR formats per locale, the catalogs, the index, `lang` checks."""

from __future__ import annotations

import datetime as dt
import json
import re
import string
import tomllib

import pandas as pd
import pytest
from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

import funnelkit as fk
from conftest import ROOT
from funnelkit import i18n
from funnelkit._i18n_extract import TEMPLATE, extract, markdown_cells
from funnelkit.report import _runner, check_values, write_index
from funnelkit.units import format_value


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    fk.set_locale("en")


# ---------------------------------------------------------------- set_locale --


def test_set_locale_accepts_the_supported_languages_in_any_spelling():
    assert fk.set_locale("zh_cn") == "zh-CN" and fk.get_locale() == "zh-CN"
    assert fk.set_locale("ZH-tw") == "zh-TW"
    assert fk.set_locale("TR") == "tr"
    assert fk.set_locale("en") == "en"


@pytest.mark.parametrize(
    ("lang", "hint"), [("fr", ""), ("zh", "did you mean 'zh-CN' or 'zh-TW'?"), ("tr-TR", "did you mean 'tr'?")]
)
def test_an_unsupported_language_is_a_parameter_error_listing_the_supported_ones(lang, hint):
    fk.set_locale("tr")
    with pytest.raises(fk.ParameterError) as caught:
        fk.set_locale(lang)
    message = str(caught.value)
    assert f"{lang!r} is not a supported language; choose from ['en', 'zh-CN', 'zh-TW', 'tr']" in message
    assert hint in message
    assert fk.get_locale() == "tr"  # a refused language leaves the current one in place


def test_using_locale_restores_the_language_before_it():
    fk.set_locale("zh-TW")
    with i18n.using_locale("tr"):
        assert i18n._("yes") == "evet"
    assert fk.get_locale() == "zh-TW" and i18n._("yes") == "是"


def test_a_message_the_catalog_lacks_stays_as_written_and_the_header_never_leaks():
    fk.set_locale("zh-CN")
    assert i18n._("a sentence no catalog has") == "a sentence no catalog has"
    assert i18n._("") == ""  # gettext's empty message is the catalog header
    assert i18n.translate_markdown("## My own heading") == "## My own heading"


# ---------------------------------------------------------------- numbers, money, dates --


def test_english_formats_stay_as_funnelkit_always_wrote_them():
    day = pd.Timestamp("2025-03-04 23:00", tz="UTC")
    values = [
        format_value(0.1234, "rate"), format_value(-0.00004, "rate"), format_value(-0.041, "points"),
        format_value(0.0004, "points"), format_value(0.25, "ratio"),
        format_value(25675.099272, "money", currency="USD"), format_value(12.5, "money"),
        format_value(36.04, "days"), format_value(123.4, "days"), format_value(45.2, "minutes"),
        format_value(0.00004, "p_value"), format_value(0.04567, "p_value"), format_value(1234, "count"),
        format_value(True, "flag"), format_value(day, "timestamp"),
    ]  # fmt: skip
    assert values == [
        "12.3%", "0.0%", "-4.1 pts", "0.0 pts", "+25%", "25,675 USD", "12.50", "36.0 days", "123 days", "45 min",
        "< 0.001", "0.046", "1,234", "yes", "2025-03-04",
    ]  # fmt: skip


def test_turkish_writes_money_numbers_and_dates_as_cldr_has_them():
    fk.set_locale("tr")
    money = format_value(1234.5, "money", currency="EUR")
    assert money == "€1.234,50" == format_currency(1234.5, "EUR", locale="tr")  # Babel asked directly
    assert format_value(25675.1, "money", currency="TRY") == "₺25.675,10"
    assert format_value(0.1234, "rate") == "%12,3" == format_percent(0.1234, "%#,##0.0", locale="tr")
    assert format_value(-0.25, "ratio") == "-%25" and format_value(0.25, "ratio") == "+%25"
    assert format_value(-0.041, "points") == "-4,1 puan"
    assert format_value(36.04, "days") == "36,0 gün" and format_value(123.4, "days") == "123 gün"
    assert format_value(1234567, "count") == "1.234.567" == format_decimal(1234567, locale="tr")
    assert format_value(0.04567, "p_value") == "0,046" and format_value(0.00004, "p_value") == "< 0,001"
    assert format_value(False, "flag") == "hayır"
    day = pd.Timestamp("2025-03-04", tz="UTC")
    assert format_value(day, "timestamp") == "4 Mar 2025" == format_date(dt.date(2025, 3, 4), "medium", locale="tr")
    assert format_value(12.5, "money") == "12,50"  # no currency: the number alone


@pytest.mark.parametrize(
    ("lang", "yuan", "days", "points", "flag"),
    [
        ("zh-CN", "¥1,234.00", "36.0 天", "+4.1 个百分点", "是"),
        ("zh-TW", "CN¥1,234.00", "36.0 天", "+4.1 個百分點", "是"),
    ],
)
def test_chinese_formats_and_words(lang, yuan, days, points, flag):
    fk.set_locale(lang)
    assert format_value(1234, "money", currency="CNY") == yuan
    assert yuan == format_currency(1234, "CNY", locale=lang.replace("-", "_"))
    assert format_value(1234, "money", currency="TWD") == format_currency(1234, "TWD", locale=lang.replace("-", "_"))
    assert format_value(36.04, "days") == days
    assert format_value(0.041, "points") == points
    assert format_value(True, "flag") == flag
    assert format_value(pd.Timestamp("2025-03-04", tz="UTC"), "timestamp") == "2025年3月4日"
    assert format_value(0.1234, "rate") == "12.3%" and format_value(-0.0004, "rate") == "0.0%"


# ---------------------------------------------------------------- the catalogs --


def _catalog(path):
    with path.open("rb") as handle:
        return read_po(handle)


def _ids(catalog) -> set:
    return {m.id for m in catalog if m.id}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("lang", ["zh-CN", "zh-TW", "tr"])
def test_every_message_has_a_confirmed_translation_that_keeps_its_placeholders_and_markdown(lang):
    template, catalog = _catalog(TEMPLATE), _catalog(i18n.catalog_path(lang))
    assert _ids(catalog) == _ids(template)  # nothing missing, nothing obsolete
    problems = []
    for message in catalog:
        if not message.id:
            continue
        singular = message.id[0] if isinstance(message.id, tuple) else message.id
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = catalog.num_plurals if isinstance(message.id, tuple) else 1
        if message.fuzzy or len(forms) != wanted or not all(f and f.strip() for f in forms):
            problems.append(f"not translated: {singular!r}")
            continue
        for form in forms:
            if _fields(form) != _fields(singular):
                problems.append(f"placeholders differ: {singular!r} -> {form!r}")
            if re.match(r"#*", form).group() != re.match(r"#*", singular).group():
                problems.append(f"heading level differs: {singular!r}")
            if re.findall(r"`[^`]+`", form) != re.findall(r"`[^`]+`", singular):
                problems.append(f"`code` changed: {singular!r}")
    assert problems == []


def test_the_template_is_up_to_date_with_the_code_and_the_notebooks():
    on_disk = _ids(_catalog(TEMPLATE))
    fresh = _ids(extract(ROOT))
    assert fresh - on_disk == set(), "run `make i18n` and translate the new messages"
    assert on_disk - fresh == set(), "run `make i18n`: the template holds messages the sources no longer have"
    # the extractor reads Markdown cells whole, and the runner's notebooks are among them
    cells = {text for _, _, text in markdown_cells(ROOT)}
    assert any(text.startswith("## Data quality\n\nWhere the numbers come from: for an export") for text in cells)
    plural = ("{count} run, newest first; times in UTC.", "{count} runs, newest first; times in UTC.")
    assert cells <= fresh and "{days} days" in fresh and plural in fresh


def test_catalogs_ship_with_the_package():
    """A non-editable install copies only package data: every catalog file must match a pattern of pyproject."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["funnelkit"]
    package = ROOT / "funnelkit"
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    catalogs = {p for p in (package / "locale").rglob("*") if p.is_file()}
    assert len(catalogs) == 4 and catalogs <= shipped


def test_babel_is_a_declared_dependency():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"babel\b", d) for d in dependencies)


# ---------------------------------------------------------------- reports without a kernel --


def test_the_lang_parameter_is_checked_and_spelled_canonically():
    assert check_values({"lang": "zh_cn"}, {"lang": "zh_cn"}) == {"lang": "zh-CN"}
    with pytest.raises(fk.ParameterError, match=r"parameter lang: 'de' is not a supported language; choose from"):
        check_values({"lang": "de"}, {"lang": "de"})


def test_markdown_cells_are_translated_and_other_cells_kept(tmp_path):
    from nbformat import write
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    data_quality = next(text for _, _, text in markdown_cells(ROOT) if text.startswith("## Data quality"))
    path = tmp_path / "nb.ipynb"
    write(new_notebook(cells=[new_markdown_cell(data_quality), new_code_cell("x = '## Data quality'"),
                              new_markdown_cell("## Mine")]), path)  # fmt: skip
    with i18n.using_locale("zh-TW"):
        cells = _runner.translated_notebook(path).cells
    assert cells[0].source == (
        "## 資料品質\n\n數字的來源：對於匯出檔案，是每個檔案讀取、保留與隔離的列數（三者一定對得上）"
        "以及載入時發現的情況；對於就地讀取的表，是每張表的列數。"
    )
    assert cells[1].source == "x = '## Data quality'" and cells[2].source == "## Mine"


def _run(out, run_id, **manifest):
    run_dir = out / "funnel_review--sample" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_id, **manifest}))


def test_the_index_speaks_the_language_it_is_written_in(tmp_path):
    out = tmp_path / "reports"
    _run(out, "20251101T080000Z-aaaaaa", status="succeeded", started_at="2025-11-01T08:00:00+00:00", seconds=75,
         rows={"read": 6531}, as_of="2025-10-31 17:00:00+00:00")  # fmt: skip
    _run(out, "20251102T080000Z-bbbbbb", status="interrupted", started_at="2025-11-02T08:00:00+00:00",
         reason=_runner_interrupted())  # fmt: skip
    page = write_index(out, lang="tr").read_text()
    assert "<html lang='tr'>" in page and "<h2>Son raporlar</h2>" in page
    assert "<p class='fk-note'>2 çalıştırma, en yenisi önce; saatler UTC.</p>" in page
    assert "<th>başlangıç (UTC)</th>" in page and "başarısız (yarıda kesildi)" in page
    assert "çalıştırma tamamlanmadan sona erdi" in page  # the stored English reason, shown translated
    assert "6.531 satır okundu; 31 Eki 2025 itibarıyla" in page
    assert format_date(dt.date(2025, 10, 31), "medium", locale="tr") == "31 Eki 2025"
    assert "<td class='fk-num'>1 dk 15 sn</td>" in page
    assert "<td>1 Kas 2025 08:00:00</td>" in page  # the start, as Turkish writes a date and time
    assert fk.get_locale() == "en"  # writing the index does not change the caller's language

    page = write_index(out).read_text()  # no language: the current one, English
    assert "<html lang='en'>" in page and "6,531 rows read; as of 2025-10-31" in page


def _runner_interrupted() -> str:
    from funnelkit.report._index import INTERRUPTED_REASON

    return INTERRUPTED_REASON


def test_no_message_is_marked_inside_an_f_string():
    """Babel's extractor on Python 3.11 reads an f-string as one token: a ``_()`` inside it is never extracted."""
    import io
    import tokenize

    hidden = []
    for path in sorted((ROOT / "funnelkit").rglob("*.py")):
        for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            prefix = re.match(r"[A-Za-z]*", token.string).group().lower()
            if (
                token.type == tokenize.STRING
                and "f" in prefix
                and re.search(r"\{[^}]*\b(_|N_|ngettext)\(", token.string)
            ):
                hidden.append(f"{path.relative_to(ROOT)}:{token.start[0]}")
    assert hidden == []
