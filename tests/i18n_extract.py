"""The strings the project marks for translation, found the way makemessages would (without
GNU gettext): templates' {% translate %} / {% blocktranslate %}, Python's gettext family (read
with `ast`), and the scripts' gettext / ngettext calls (static/hitlnext/js/i18n.js).

tests/test_i18n_catalogs.py checks each has a translation in every catalog.
"""

from __future__ import annotations

import ast
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("conversations", "webhooks", "agents", "handoffs", "routing", "api", "webchat", "reports")
PYTHON_DIRS = (*APPS, "hitlnext_project")
TEMPLATE_DIRS = (ROOT / "templates", *(ROOT / app / "templates" for app in APPS))
SCRIPT_DIRS = (ROOT / "static", *(ROOT / app / "static" for app in APPS))


@dataclass(frozen=True, order=True)
class Msg:
    msgid: str
    plural: str | None = None
    context: str | None = None


_STRING = r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\''
_TRANSLATE = re.compile(
    r"{%\s*(?:translate|trans)\s+(?:" + _STRING + r")(?:[^%]*?\bcontext\s+(?:" + _STRING + r"))?"
)
_BLOCK = re.compile(
    r"{%\s*(?:blocktranslate|blocktrans)\b(?P<options>.*?)%}(?P<body>.*?)"
    r"(?:{%\s*plural\s*%}(?P<plural>.*?))?{%\s*(?:endblocktranslate|endblocktrans)\s*%}",
    re.DOTALL,
)
_VARIABLE = re.compile(r"{{\s*(\w+)\s*}}")
# A translated literal in a tag or variable: {% include "x" with what=_("labels") %}.
_LITERAL = re.compile(r"\b_\(\s*(?:" + _STRING + r")\s*\)")
_CONTEXT_OPTION = re.compile(r"\bcontext\s+(?:" + _STRING + ")")
# Words a pushed fragment marks for the page to translate (static/hitlnext/js/personalize.js).
_MARKED = re.compile(r'\bdata-msgid(?:-label|-title)?="([^"{}]+)"')
_PLURAL = re.compile(r'\bdata-msgid-plural="([^"{}]+)"')
_JS_CALL = re.compile(
    r"\b(n?gettext|gettext_noop)\(\s*(\"(?:[^\"\\]|\\.)*\")"
    r"(?:\s*,\s*(\"(?:[^\"\\]|\\.)*\"))?",
    re.DOTALL,
)
_PY_FUNCTIONS = {
    "gettext": (0, None, None),
    "gettext_lazy": (0, None, None),
    "_": (0, None, None),
    "gettext_noop": (0, None, None),
    "ngettext": (0, 1, None),
    "ngettext_lazy": (0, 1, None),
    "pgettext": (1, None, 0),
    "pgettext_lazy": (1, None, 0),
    "npgettext": (1, 2, 0),
    "npgettext_lazy": (1, 2, 0),
}


def _quoted(groups: tuple[str | None, str | None]) -> str | None:
    double, single = groups
    text = double if double is not None else single
    return None if text is None else text.replace('\\"', '"').replace("\\'", "'")


def _block_text(text: str, trimmed: bool) -> str:
    """A {% blocktranslate %} body as its msgid: variables become %(name)s, % doubles."""
    parts = []
    position = 0
    for match in _VARIABLE.finditer(text):
        parts.append(text[position : match.start()].replace("%", "%%"))
        parts.append(f"%({match.group(1)})s")
        position = match.end()
    parts.append(text[position:].replace("%", "%%"))
    msg = "".join(parts)
    return re.sub(r"\s*\n\s*", " ", msg.strip()) if trimmed else msg


def template_messages(text: str) -> set[Msg]:
    found = set()
    for match in _TRANSLATE.finditer(text):
        msgid = _quoted((match.group(1), match.group(2)))
        assert msgid is not None
        found.add(Msg(msgid, context=_quoted((match.group(3), match.group(4)))))
    for match in _LITERAL.finditer(text):
        msgid = _quoted((match.group(1), match.group(2)))
        assert msgid is not None
        found.add(Msg(msgid))
    for match in _BLOCK.finditer(text):
        options = match.group("options")
        trimmed = re.search(r"\btrimmed\b", options) is not None
        context_match = _CONTEXT_OPTION.search(options)
        context = _quoted(context_match.groups()) if context_match else None
        plural = match.group("plural")
        found.add(
            Msg(
                _block_text(match.group("body"), trimmed),
                plural=None if plural is None else _block_text(plural, trimmed),
                context=context,
            )
        )
    return found


def python_messages(text: str) -> set[Msg]:
    found = set()
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in _PY_FUNCTIONS:
            continue
        positions = _PY_FUNCTIONS[name]
        values: list[str | None] = []
        for index in positions:
            if index is None:
                values.append(None)
                continue
            arg = node.args[index] if index < len(node.args) else None
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                break  # a variable: nothing to extract
            values.append(arg.value)
        else:
            msgid, plural, context = values
            assert msgid is not None
            found.add(Msg(msgid, plural=plural, context=context))
    return found


def script_messages(text: str) -> set[Msg]:
    found = set()
    for match in _JS_CALL.finditer(text):
        function, first, second = match.groups()
        plural = json.loads(second) if function == "ngettext" and second else None
        found.add(Msg(json.loads(first), plural=plural))
    return found


def marked_messages(text: str) -> set[Msg]:
    """A template's data-msgid words: the scripts translate them, so the `djangojs` domain;
    with the data-msgid-plural of the same tag, if any."""
    found = set()
    for match in _MARKED.finditer(text):
        tag_end = text.find(">", match.end())
        plural = _PLURAL.search(text, match.end(), tag_end if tag_end >= 0 else len(text))
        found.add(
            Msg(
                html.unescape(match.group(1)),
                plural=html.unescape(plural.group(1)) if plural else None,
            )
        )
    return found


def _files(dirs: tuple[Path, ...], pattern: str) -> list[Path]:
    return sorted(
        path
        for base in dirs
        if base.exists()
        for path in base.rglob(pattern)
        if "migrations" not in path.parts and "vendor" not in path.parts
    )


def django_domain() -> dict[Msg, list[Path]]:
    """Templates and Python: the `django` domain."""
    found: dict[Msg, list[Path]] = {}
    for path in _files(TEMPLATE_DIRS, "*.html"):
        for msg in template_messages(path.read_text(encoding="utf-8")):
            found.setdefault(msg, []).append(path)
    for path in _files(tuple(ROOT / d for d in PYTHON_DIRS), "*.py"):
        for msg in python_messages(path.read_text(encoding="utf-8")):
            found.setdefault(msg, []).append(path)
    return found


def djangojs_domain() -> dict[Msg, list[Path]]:
    """The scripts: the `djangojs` domain (Django's JavaScriptCatalog)."""
    found: dict[Msg, list[Path]] = {}
    for path in _files(SCRIPT_DIRS, "*.js"):
        if path.name == "i18n.js":
            continue  # the helper itself
        for msg in script_messages(path.read_text(encoding="utf-8")):
            found.setdefault(msg, []).append(path)
    for path in _files(TEMPLATE_DIRS, "*.html"):
        for msg in marked_messages(path.read_text(encoding="utf-8")):
            found.setdefault(msg, []).append(path)
    return found
