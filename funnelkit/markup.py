"""The one module that writes HTML markup for reports and notebook displays.

Text goes in escaped (:func:`funnelkit.safety.escape`: control characters
removed, ``<``, ``&``, quotes and ``$`` made inert), so CRM text never becomes
live markup. Functions whose argument is already markup say so in their name
(``*_html``) and in their docstring: the caller built it from these functions.

Examples
--------
>>> note("Deals closed 2025-02-11 to 2025-05-09.")
"<p class='fk-note'>Deals closed 2025-02-11 to 2025-05-09.</p>"
>>> bold("<script>")
'<b>&lt;script&gt;</b>'
>>> bullets_html([bold("Q4") + " behind"], cls="fk-findings")
"<ul class='fk-findings'><li><b>Q4</b> behind</li></ul>"
"""

from __future__ import annotations

from collections.abc import Iterable

from .safety import escape

__all__ = ["bold", "bullets_html", "element_html", "escape", "heading", "note", "paragraph", "paragraph_html"]


def element_html(tag: str, inner_html: str, *, cls: str | None = None) -> str:
    """``<tag class='cls'>inner</tag>``; ``inner_html`` is markup already (escaped by the caller)."""
    opening = f"<{tag} class='{cls}'>" if cls else f"<{tag}>"
    return f"{opening}{inner_html}</{tag}>"


def bold(text: str) -> str:
    """Text in bold, escaped."""
    return element_html("b", escape(text))


def paragraph(text: str, *, cls: str | None = None) -> str:
    """A paragraph of plain text, escaped."""
    return element_html("p", escape(text), cls=cls)


def paragraph_html(inner_html: str, *, cls: str | None = None) -> str:
    """A paragraph of markup built with this module (bold periods in a sentence)."""
    return element_html("p", inner_html, cls=cls)


def note(text: str) -> str:
    """A report's note (grey, italic): plain text, escaped."""
    return paragraph(text, cls="fk-note")


def heading(text: str, level: int) -> str:
    """A heading of ``level`` (1-6), escaped."""
    return element_html(f"h{level}", escape(text))


def bullets_html(items_html: Iterable[str], *, cls: str | None = None) -> str:
    """A bulleted list of items that are markup already; ``""`` for no items."""
    items = "".join(element_html("li", item) for item in items_html)
    return element_html("ul", items, cls=cls) if items else ""
