"""``make i18n``: extract the messages into ``funnelkit/locale/funnelkit.pot`` and update every ``.po`` catalog.

Two sources, one template:

- the package's Python code, through Babel's Python extractor: calls of
  ``_("...")``, ``N_("...")`` and ``ngettext("...", "...", n)`` (a comment
  starting ``TRANSLATORS:`` just above a call goes to the translators);
- the Markdown cells of the report notebooks (``notebooks/*.ipynb``): a cell's
  whole text is one message, which the report runner looks up before the run;
- the code cells of those notebooks, read as Python like the package: their
  ``_("...")`` calls (a heading or a sentence a cell writes; the notebooks
  import ``_`` from :mod:`funnelkit.i18n`).

Each catalog is then updated as ``pybabel update`` would: new messages come in
untranslated, a changed one comes in *fuzzy* with the old translation as a
starting point (a fuzzy entry is not used, and the catalog tests fail until a
translator confirms it), and messages no longer in the sources are dropped.

Run it from the repository's root: ``python -m funnelkit._i18n_extract`` (or
``--root PATH``).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from .i18n import CATALOG_NAMES, DOMAIN, LOCALE_DIR, catalog_path

#: the calls Babel's extractor reads: ``_`` and ``N_`` take the message, ``ngettext`` singular and plural
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
COMMENT_TAGS = ("TRANSLATORS:",)
NOTEBOOKS = "notebooks/*.ipynb"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
WIDTH = 100
_MARKDOWN_NOTE = "Markdown cell {cell} of {notebook}: keep the Markdown marks, `code` and numbers as they are."


def extract(root: str | Path):
    """The message template read from ``root``'s ``funnelkit/`` code and ``notebooks/`` Markdown.

    Parameters
    ----------
    root : path
        The repository's root folder.

    Returns
    -------
    babel.messages.catalog.Catalog
        Every message with where it was found (file, and line or cell number).
    """
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    root = Path(root).resolve()
    from . import __version__

    template = Catalog(
        project="funnelkit", version=__version__, copyright_holder="the funnelkit authors", domain=DOMAIN,
        charset="utf-8", fuzzy=False,
    )  # fmt: skip
    package = root / "funnelkit"
    found = extract_from_dir(
        str(package), method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    )  # fmt: skip
    for filename, lineno, message, comments, context in found:
        where = (f"funnelkit/{Path(filename).as_posix()}", lineno)
        template.add(message, None, [where], auto_comments=comments, context=context)
    for notebook, cell, text in markdown_cells(root):
        note = _MARKDOWN_NOTE.format(cell=cell, notebook=notebook)
        template.add(text, None, [(notebook, cell)], auto_comments=[note])
    for notebook, cell, message, comments in code_cell_messages(root):
        template.add(message, None, [(notebook, cell)], auto_comments=comments)
    return template


def code_cell_messages(root: str | Path) -> list[tuple[str, int, object, list[str]]]:
    """``(notebook, cell number from 1, message, translator comments)`` of the ``_()`` calls in code cells."""
    import nbformat
    from babel.messages.extract import extract as extract_messages

    root = Path(root).resolve()
    out = []
    for path in sorted(root.glob(NOTEBOOKS)):
        nb = nbformat.read(str(path), as_version=4)
        for number, cell in enumerate(nb.cells, start=1):
            if cell.cell_type != "code" or "_(" not in cell.source:
                continue
            found = extract_messages(
                "python", io.BytesIO(cell.source.encode("utf-8")), keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
                strip_comment_tags=True,
            )  # fmt: skip
            for _line, message, comments, _context in found:
                out.append((path.relative_to(root).as_posix(), number, message, list(comments)))
    return out


def markdown_cells(root: str | Path) -> list[tuple[str, int, str]]:
    """``(notebook, cell number from 1, text)`` of every non-empty Markdown cell of ``root``'s report notebooks."""
    import nbformat

    root = Path(root).resolve()
    out = []
    for path in sorted(root.glob(NOTEBOOKS)):
        nb = nbformat.read(str(path), as_version=4)
        for number, cell in enumerate(nb.cells, start=1):
            if cell.cell_type == "markdown" and cell.source.strip():
                out.append((path.relative_to(root).as_posix(), number, cell.source))
    return out


def render(catalog, **options) -> bytes:
    """A catalog as ``.po``/``.pot`` text, laid out the same way every time (no line numbers: fewer diffs)."""
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    write_po(buffer, catalog, width=WIDTH, include_lineno=False, ignore_obsolete=True, **options)
    return buffer.getvalue()


def _without_dates(text: bytes) -> bytes:
    return b"\n".join(
        line for line in text.splitlines() if not line.startswith((b'"POT-Creation-Date:', b'"PO-Revision-Date:'))
    )


def _write_if_changed(path: Path, text: bytes) -> bool:
    """Write ``text`` unless the file says the same but for its dates (so an unchanged run changes nothing)."""
    if path.exists() and _without_dates(path.read_bytes()) == _without_dates(text):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return True


def update_catalogs(root: str | Path) -> dict[str, int]:
    """Write the template and update each language's catalog from it.

    Returns
    -------
    dict
        Per language, how many messages still need a translator (untranslated or fuzzy); under
        ``"messages"``, how many the template holds.
    """
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    template = extract(root)
    _write_if_changed(TEMPLATE, render(template))
    missing = {"messages": len(template)}
    for lang, name in CATALOG_NAMES.items():
        path = catalog_path(lang)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=name, domain=DOMAIN)
        else:
            catalog = Catalog(
                locale=name, domain=DOMAIN, project=template.project, version=template.version,
                copyright_holder=template.copyright_holder, charset="utf-8", fuzzy=False,
            )  # fmt: skip
        catalog.update(template, update_creation_date=False)
        _write_if_changed(path, render(catalog, include_previous=True))
        missing[lang] = sum(1 for m in catalog if m.id and (m.fuzzy or not _translated(m.string)))
    return missing


def _translated(string) -> bool:
    return all(s.strip() for s in string) if isinstance(string, tuple | list) else bool(string and string.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m funnelkit._i18n_extract", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository's root (default: here)")
    args = parser.parse_args(argv)
    missing = update_catalogs(args.root)
    print(f"{TEMPLATE.relative_to(LOCALE_DIR.parent.parent)}: {missing.pop('messages')} messages")
    for lang, count in missing.items():
        state = "complete" if count == 0 else f"{count} messages to translate (empty or fuzzy)"
        print(f"  {catalog_path(lang).relative_to(LOCALE_DIR.parent.parent)}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
