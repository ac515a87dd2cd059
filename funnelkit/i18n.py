"""The language funnelkit speaks: gettext catalogs for words, Babel's CLDR data for numbers and dates.

:func:`set_locale` chooses the language of everything funnelkit writes for
people from then on (``fk.set_locale("zh-CN")`` in a notebook; the report
runner's ``-p lang=zh-CN`` calls it in the kernel). Supported: ``en`` (the
default), ``zh-CN`` (简体中文), ``zh-TW`` (繁體中文) and ``tr`` (Türkçe).

Words come from the gettext catalogs ``funnelkit/locale/<ll_CC>/LC_MESSAGES/funnelkit.po``
(folder names as gettext and Babel spell locales: ``zh_CN``, ``zh_TW``, ``tr``),
compiled with Babel in memory the first time a language is used, so only the
``.po`` files ship. English is the source language: it has no catalog, and a
message a catalog lacks is shown in English (the catalog tests fail first).
``make i18n`` extracts the messages (see :mod:`funnelkit._i18n_extract`).

Code marks a message with :func:`_` where it is shown, :func:`ngettext` when it
depends on a count, and :func:`N_` where it is defined ahead of use (a module
constant): ``N_`` only marks it for extraction, ``_`` translates it later.
Placeholders are named, ``_("{days} days").format(days=...)``, so a translation
can move them.

Errors (``FunnelkitError`` messages) stay in English: they go to logs, cron
mail and ``run.json``, where one language is searchable.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gettext as _gettext
import io
from collections.abc import Iterator
from pathlib import Path

from .errors import FunnelkitError, ParameterError

#: languages funnelkit speaks, as the report's ``lang`` parameter and ``set_locale`` take them
SUPPORTED = ("en", "zh-CN", "zh-TW", "tr")
DEFAULT = "en"
DOMAIN = "funnelkit"
#: the catalogs' folder (inside the package, so an installed funnelkit finds them)
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: each language's catalog folder, as gettext names locales
CATALOG_NAMES = {"zh-CN": "zh_CN", "zh-TW": "zh_TW", "tr": "tr"}

_current = DEFAULT  # a module global, not a ContextVar: IPython does not carry context variables across cells


def supported_language(lang: str, *, name: str = "lang") -> str:
    """``lang`` as funnelkit spells it (``"zh_cn"`` -> ``"zh-CN"``), or a ParameterError listing the supported ones.

    Parameters
    ----------
    lang : str
        A language tag, in any case, with ``-`` or ``_``.
    name : str
        The parameter's name, for the message.

    Returns
    -------
    str
        One of :data:`SUPPORTED`.

    Raises
    ------
    ParameterError
        ``lang`` is not supported: the message lists the supported languages and the closest one.

    Examples
    --------
    >>> supported_language("zh_cn"), supported_language("TR")
    ('zh-CN', 'tr')
    >>> supported_language("fr")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funnelkit.errors.ParameterError: parameter lang: 'fr' is not a supported language; choose from ['en', 'zh-CN', ...
    """
    text = str(lang).strip()
    by_key = {option.lower(): option for option in SUPPORTED}
    key = text.lower().replace("_", "-")
    if key in by_key:
        return by_key[key]
    close = [by_key[k] for k in by_key if k.split("-")[0] == key.split("-")[0]]
    close = close or [by_key[k] for k in difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.6)]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ParameterError(
        f"parameter {name}: {text!r} is not a supported language; choose from {list(SUPPORTED)}{hint} "
        "(the README says how to add one)"
    )


def set_locale(lang: str) -> str:
    """Speak ``lang`` from now on: words from its catalog, numbers, money and dates as CLDR writes them there.

    Parameters
    ----------
    lang : str
        ``"en"``, ``"zh-CN"``, ``"zh-TW"`` or ``"tr"`` (any case; ``_`` for ``-`` too).

    Returns
    -------
    str
        The language now in use, as funnelkit spells it.

    Raises
    ------
    ParameterError
        ``lang`` is not supported (the message lists those that are).

    Examples
    --------
    >>> import funnelkit as fk
    >>> fk.set_locale("tr")
    'tr'
    >>> fk.units.format_value(1234.5, "money", currency="EUR")
    '€1.234,50'
    >>> fk.set_locale("en")
    'en'
    """
    global _current
    lang = supported_language(lang)
    translations(lang)  # a broken catalog fails here, not halfway through a report
    _current = lang
    return lang


def get_locale() -> str:
    """The language in use (``"en"`` until :func:`set_locale` says otherwise)."""
    return _current


@contextlib.contextmanager
def using_locale(lang: str | None) -> Iterator[str]:
    """Speak ``lang`` inside the ``with`` block, then the language before it (``None``: keep the current one)."""
    before = get_locale()
    try:
        yield set_locale(before if lang is None else lang)
    finally:
        set_locale(before)


@functools.cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English: no catalog, messages as written).

    The ``.po`` file is compiled with Babel in memory on first use; fuzzy
    entries (a translation Babel guessed from an old message) are left out, so
    they show in English until a translator confirms them.
    """
    lang = supported_language(lang)
    if lang == DEFAULT:
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = catalog_path(lang)
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=CATALOG_NAMES[lang], domain=DOMAIN)
    except OSError as exc:
        raise FunnelkitError(
            f"the {lang} catalog {path} cannot be read ({exc.strerror}); reinstall funnelkit"
        ) from None
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def catalog_path(lang: str) -> Path:
    """Where the ``.po`` catalog of ``lang`` lives (``funnelkit/locale/zh_CN/LC_MESSAGES/funnelkit.po``)."""
    return LOCALE_DIR / CATALOG_NAMES[supported_language(lang)] / "LC_MESSAGES" / f"{DOMAIN}.po"


def gettext(message: str) -> str:
    """``message`` in the current language (as written when the catalog lacks it).

    Examples
    --------
    >>> with using_locale("zh-CN"):
    ...     gettext("yes")
    '是'
    """
    if not message:
        return message  # the empty message is the catalog's header
    return translations(_current).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message that goes with ``n``, in the current language.

    Examples
    --------
    >>> ngettext("{rows} row read; as of {day}", "{rows} rows read; as of {day}", 1).format(rows=1, day="2025-03-04")
    '1 row read; as of 2025-03-04'
    >>> with using_locale("zh-CN"):
    ...     ngettext("{rows} row read; as of {day}", "{rows} rows read; as of {day}", 3).format(rows=3, day="3月4日")
    '已读取 3 行；截至 3月4日'
    """
    return translations(_current).ngettext(singular, plural, n)


#: the usual short name of :func:`gettext`, which the extractor looks for
_ = gettext


def N_(message: str) -> str:  # noqa: N802 - the usual name of the marker
    """Mark ``message`` for extraction without translating it (translate it with ``_`` where it is shown)."""
    return message


def translate_markdown(source: str) -> str:
    """A notebook's Markdown cell in the current language: its whole text is the message.

    Notebooks keep English Markdown; ``make i18n`` puts every cell's text in the
    catalogs and the report runner translates the cells before the run. A cell
    the catalog lacks (a user's own notebook) stays as written.
    """
    return gettext(source) if source.strip() else source


def babel_locale(lang: str | None = None):
    """The Babel locale for ``lang`` (default: the current language), for CLDR number and date formats."""
    from babel import Locale

    lang = supported_language(lang or _current)
    return Locale.parse(lang.replace("-", "_"))
