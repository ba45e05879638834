"""A model of what an agent's page does to a pushed fragment before showing it
(static/hitlnext/js/personalize.js, times.js, sizes): the words a fragment marks with
data-msgid, data-msgid-label and data-msgid-title are put in the page's language from the
scripts' catalog (the `djangojs` domain, as /jsi18n/ serves it), and what the page formats
itself (times, sizes) is left to it.

Pushes are rendered once, in the language of whoever caused them, for every page; the tests
use this model to show that what a page shows after personalising does not depend on that
language: a word a fragment forgets to mark makes them differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser

from django.utils.translation import trans_real

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
# Elements whose text the page writes itself from an attribute (times.js: data-relative,
# data-local, data-clock; sizes: data-bytes; the wallboard's ticking wait: data-seconds).
PAGE_FORMATTED = ("data-relative", "data-local", "data-clock", "data-bytes", "data-seconds")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element | str] = field(default_factory=list)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def _catalog(language: str) -> trans_real.DjangoTranslation:
    return trans_real.DjangoTranslation(language, domain="djangojs")


def _translated(catalog, el: Element, msgid: str) -> str:
    args = json.loads(el.attrs.get("data-msgid-args") or "null")
    plural = el.attrs.get("data-msgid-plural")
    if plural is not None:
        text = catalog.ngettext(msgid, plural, int(args["count"]))
    else:
        text = catalog.gettext(msgid)
    return text % args if args else text


def personalize(root: Element, language: str) -> Element:
    """What the page of an agent reading `language` makes of the fragment (in place)."""
    catalog = _catalog(language)

    def walk(el: Element) -> None:
        for child in el.children:
            if isinstance(child, Element):
                walk(child)
        msgid = el.attrs.get("data-msgid")
        if msgid is not None:
            el.children = [_translated(catalog, el, msgid)]
        if el.attrs.get("data-msgid-label") is not None:
            el.attrs["aria-label"] = _translated(catalog, el, el.attrs["data-msgid-label"] or "")
        if el.attrs.get("data-msgid-title") is not None:
            el.attrs["title"] = _translated(catalog, el, el.attrs["data-msgid-title"] or "")
        if any(name in el.attrs for name in PAGE_FORMATTED):
            el.children = ["(formatted by the page)"]

    walk(root)
    return root


def serialize(el: Element | str) -> str:
    if isinstance(el, str):
        return escape(el, quote=False)
    inner = "".join(serialize(c) for c in el.children)
    if el.tag == "#root":
        return inner
    attrs = "".join(
        f" {name}" if value is None else f' {name}="{escape(value)}"'
        for name, value in sorted(el.attrs.items())
    )
    return f"<{el.tag}{attrs}>" if el.tag in VOID else f"<{el.tag}{attrs}>{inner}</{el.tag}>"


def as_page_shows(html: str, language: str) -> str:
    """The fragment as a page in `language` shows it, normalised for comparison."""
    return serialize(personalize(parse(html), language))
