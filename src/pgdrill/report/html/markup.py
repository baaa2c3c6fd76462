"""A small HTML builder in which escaping is the default: text is escaped, only :class:`Html` (markup
this package built) passes through. Everything from a store or a config file (database and table
names, check details, owners, URLs, errors) reaches a page as text, so it can never become markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

#: elements after which a line break keeps the page (and its golden files) readable
_BLOCK = frozenset({
    "html", "head", "body", "header", "footer", "main", "nav", "section", "article", "div", "p", "h1", "h2", "h3",
    "h4", "table", "thead", "tbody", "tr", "ul", "ol", "li", "dl", "figure", "figcaption", "svg", "g", "title",
    "meta", "style", "link", "details", "summary", "caption", "dt", "dd", "pre", "blockquote",
})
_VOID = frozenset({"meta", "link", "br", "hr", "img", "input", "col"})
#: SVG elements that close themselves when empty
_SVG_EMPTY = frozenset({"circle", "rect", "line", "polyline", "path", "polygon"})


class Html(str):
    """Markup that is safe to put on a page as it is."""



def esc(text: object) -> Html:
    """``text`` as HTML text (quotes included, so it is also safe inside an attribute)."""
    return Html(html.escape(str(text), quote=True))


def _attr_name(key: str) -> str:
    return key.rstrip("_").replace("_", "-")


def attrs(values: dict[str, object]) -> str:
    out = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        name = _attr_name(key)
        out.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    return "".join(out)


def _children(items: Iterable[object]) -> Iterable[str]:
    for item in items:
        if item is None:
            continue
        if isinstance(item, Html):
            yield item
        elif isinstance(item, str | int | float):
            yield esc(item)
        else:
            yield from _children(item)  # type: ignore[arg-type]


def el(tag: str, *children: object, **attributes: object) -> Html:
    """``<tag attributes>children</tag>``; ``class_`` is ``class``, ``data_x`` is ``data-x``."""
    opening = f"<{tag}{attrs(attributes)}"
    if tag in _VOID:
        text = opening + ">"
    else:
        inner = "".join(_children(children))
        text = opening + "/>" if not inner and tag in _SVG_EMPTY else f"{opening}>{inner}</{tag}>"
    return Html(text + "\n" if tag in _BLOCK else text)


def join(parts: Iterable[object]) -> Html:
    return Html("".join(_children(parts)))


def raw(text: str) -> Html:
    """Markup written in this package (a style sheet, a doctype): never data."""
    return Html(text)
