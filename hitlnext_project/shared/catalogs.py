"""Translation catalogs without GNU gettext: `.po` files read and written to `.mo` in Python.

`manage.py compilemessages` (agents/management/commands/compilemessages.py) runs this over
LOCALE_PATHS, so neither a developer's machine nor CI needs the gettext tools. The `.mo` layout
is GNU's (what Python's `gettext.GNUTranslations` reads): a header of seven 32-bit words, a
table of (length, offset) for the sorted original strings, one for their translations, then
the NUL-terminated strings. A key is `msgid`, `msgctxt + "\\x04" + msgid` with a context, and
`msgid + "\\0" + msgid_plural` for plurals, whose translation is the forms joined with "\\0".
Entries marked fuzzy, untranslated ones and obsolete ones (`#~`) are left out, as msgfmt does.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = 0x950412DE

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "?": "?",
    "'": "'",
}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")\s*$")


class CatalogError(ValueError):
    """A .po file that cannot be read; the message names the file and line."""


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    fuzzy: bool = False

    @property
    def key(self) -> str:
        key = self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"
        return key if self.msgid_plural is None else f"{key}\x00{self.msgid_plural}"

    @property
    def translation(self) -> str:
        return "\x00".join(self.msgstr[n] for n in sorted(self.msgstr))

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values())


def unescape(quoted: str) -> str:
    """The text of one C-style quoted .po string, `"a\\n\\"b\\""` -> `a` newline `"b"`."""
    if len(quoted) < 2 or not (quoted.startswith('"') and quoted.endswith('"')):
        raise ValueError(f"not a quoted string: {quoted}")

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "x" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        if code in _ESCAPES:
            return _ESCAPES[code]
        raise ValueError(f"unknown escape \\{code}")

    return _ESCAPE.sub(replace, quoted[1:-1])


def parse_po(text: str, *, name: str = "<po>") -> list[Entry]:
    """Every entry of a .po file, the header (msgid "") included, in file order."""
    entries: list[Entry] = []
    entry = Entry()
    started = False  # the current entry has a keyword line
    target: tuple[str, int] | None = None  # which string a continuation line extends
    parts: dict[tuple[str, int], list[str]] = {}

    def finish() -> None:
        nonlocal entry, started, target, parts
        if started:
            for (keyword, index), chunks in parts.items():
                value = "".join(chunks)
                if keyword == "msgid":
                    entry.msgid = value
                elif keyword == "msgid_plural":
                    entry.msgid_plural = value
                elif keyword == "msgctxt":
                    entry.msgctxt = value
                else:
                    entry.msgstr[index] = value
            entries.append(entry)
        entry, started, target, parts = Entry(), False, None, {}

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        try:
            if not line:
                finish()
            elif line.startswith("#~"):
                continue  # obsolete
            elif line.startswith("#"):
                if started:  # a comment starts the next entry
                    finish()
                if line.startswith("#,") and "fuzzy" in (f.strip() for f in line[2:].split(",")):
                    entry.fuzzy = True
            elif line.startswith('"'):
                if target is None:
                    raise ValueError("a string continues nothing")
                parts[target].append(unescape(line))
            else:
                match = _KEYWORD.match(line)
                if not match:
                    raise ValueError(f"cannot read {line[:40]!r}")
                keyword, index, quoted = match.groups()
                if keyword.startswith("msgstr"):
                    keyword, position = "msgstr", int(index or 0)
                else:
                    position = 0
                    if keyword in ("msgctxt", "msgid") and any(k == "msgstr" for k, _ in parts):
                        finish()  # a new entry without a blank line before it
                if (keyword, position) in parts:
                    raise ValueError(f"{keyword} given twice in one entry")
                started = True
                target = (keyword, position)
                parts[target] = [unescape(quoted)]
        except ValueError as error:
            raise CatalogError(f"{name}:{number}: {error}") from None
    finish()
    for item in entries:
        if item.msgid_plural is None and set(item.msgstr) - {0}:
            raise CatalogError(f"{name}: msgstr[n] without msgid_plural for {item.msgid!r}")
    return entries


def mo_bytes(entries: list[Entry], *, use_fuzzy: bool = False) -> bytes:
    """The .mo file of these entries: translated ones (and the header), sorted by key."""
    catalog: dict[bytes, bytes] = {}
    for entry in entries:
        is_header = entry.msgid == "" and entry.msgctxt is None
        if not is_header and (not entry.translated or (entry.fuzzy and not use_fuzzy)):
            continue
        catalog[entry.key.encode()] = entry.translation.encode()
    keys = sorted(catalog)
    count = len(keys)
    originals_at = 7 * 4
    translations_at = originals_at + count * 8
    strings_at = translations_at + count * 8
    tables: list[int] = []
    blob = bytearray()
    for strings in (keys, [catalog[k] for k in keys]):
        for string in strings:
            tables += [len(string), strings_at + len(blob)]
            blob += string + b"\x00"
    originals, translations = tables[: 2 * count], tables[2 * count :]
    header = struct.pack("<7I", MAGIC, 0, count, originals_at, translations_at, 0, strings_at)
    return (
        header
        + struct.pack(f"<{2 * count}I", *originals)
        + struct.pack(f"<{2 * count}I", *translations)
        + bytes(blob)
    )


def compile_po(po: Path, mo: Path | None = None, *, use_fuzzy: bool = False) -> Path:
    """Write `po`'s .mo beside it (or to `mo`); returns where it went."""
    target = mo or po.with_suffix(".mo")
    data = mo_bytes(parse_po(po.read_text(encoding="utf-8"), name=str(po)), use_fuzzy=use_fuzzy)
    partial = target.with_name(target.name + ".tmp")
    partial.write_bytes(data)
    partial.replace(target)  # a server reading the catalog never sees half a file
    return target
