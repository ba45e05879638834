"""The translation catalogs: our .po -> .mo compiler (no GNU gettext) and their completeness."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from hitlnext_project.shared.catalogs import CatalogError, compile_po, mo_bytes, parse_po
from tests.i18n_extract import (
    ROOT,
    Msg,
    django_domain,
    djangojs_domain,
    python_messages,
    script_messages,
    template_messages,
)

SAMPLE = r"""# A header, then one of each kind of entry.
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\n"

#: somewhere.py
msgid "Online"
msgstr "En ligne"

msgctxt "a handoff is …"
msgid "resolved"
msgstr "résolue"

msgid "%(count)s message"
msgid_plural "%(count)s messages"
msgstr[0] "%(count)s message"
msgstr[1] "%(count)s messages (plusieurs)"

msgid ""
"A \"quoted\" word,\n"
"a tab\there and a backslash \\ "
"on two lines"
msgstr ""
"Un mot \"cité\",\n"
"une tabulation\tici et une barre \\ "
"sur deux lignes"

#, fuzzy
msgid "Fuzzy"
msgstr "Approximatif"

msgid "Untranslated"
msgstr ""

#~ msgid "Obsolete"
#~ msgstr "Obsolète"
msgid "No blank line before"
msgstr "Pas de ligne vide avant"
"""


def _translations(tmp_path: Path, text: str) -> gettext.GNUTranslations:
    po = tmp_path / "django.po"
    po.write_text(text, encoding="utf-8")
    mo = compile_po(po)
    with mo.open("rb") as file:
        return gettext.GNUTranslations(file)


def test_compiled_catalog_reads_back_with_pythons_gettext(tmp_path):
    catalog = _translations(tmp_path, SAMPLE)

    assert catalog.gettext("Online") == "En ligne"
    assert catalog.pgettext("a handoff is …", "resolved") == "résolue"
    assert catalog.gettext("resolved") == "resolved"  # only with its context
    assert catalog.ngettext("%(count)s message", "%(count)s messages", 1) == "%(count)s message"
    assert catalog.ngettext("%(count)s message", "%(count)s messages", 0) == "%(count)s message"
    assert (
        catalog.ngettext("%(count)s message", "%(count)s messages", 2)
        == "%(count)s messages (plusieurs)"
    )
    assert (
        catalog.gettext('A "quoted" word,\na tab\there and a backslash \\ on two lines')
        == 'Un mot "cité",\nune tabulation\tici et une barre \\ sur deux lignes'
    )
    assert catalog.gettext("No blank line before") == "Pas de ligne vide avant"
    assert catalog.info()["plural-forms"] == "nplurals=2; plural=(n > 1);"


def test_fuzzy_untranslated_and_obsolete_entries_are_left_out(tmp_path):
    catalog = _translations(tmp_path, SAMPLE)

    assert catalog.gettext("Fuzzy") == "Fuzzy"
    assert catalog.gettext("Untranslated") == "Untranslated"
    assert catalog.gettext("Obsolete") == "Obsolete"
    with_fuzzy = mo_bytes(parse_po(SAMPLE), use_fuzzy=True)
    assert b"Approximatif" in with_fuzzy


def test_octal_and_hex_escapes_are_read():
    (_, entry) = parse_po('msgid ""\nmsgstr "h"\n\nmsgid "\\101\\x42"\nmsgstr "ok"\n')
    assert entry.msgid == "AB"


@pytest.mark.parametrize(
    "broken",
    ['msgid "no end\nmsgstr ""\n', 'msgstr "before any msgid"\n"x\n', 'nonsense "x"\n'],
)
def test_a_broken_catalog_is_refused_with_its_line(broken):
    with pytest.raises(CatalogError, match=r"<po>:\d+"):
        parse_po(broken)


def test_the_command_overrides_djangos_and_needs_no_gettext(tmp_path, settings, monkeypatch):
    locale = tmp_path / "locale" / "fr" / "LC_MESSAGES"
    locale.mkdir(parents=True)
    (locale / "django.po").write_text(SAMPLE, encoding="utf-8")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.setenv("PATH", "")  # no msgfmt to be found

    call_command("compilemessages", verbosity=0)

    with (locale / "django.mo").open("rb") as file:
        assert gettext.GNUTranslations(file).gettext("Online") == "En ligne"


def test_the_extractor_reads_templates_python_and_scripts():
    template = (
        '{% translate "Online" %}{% trans \'Send\' context "button" %}'
        "{% blocktranslate trimmed count n=items|length %}\n  One {{ n }} item, 100%\n"
        "{% plural %}{{ n }} items{% endblocktranslate %}"
        '{% include "csv.html" with what=_("labels") %}'
    )
    assert template_messages(template) == {
        Msg("Online"),
        Msg("Send", context="button"),
        Msg("One %(n)s item, 100%%", plural="%(n)s items"),
        Msg("labels"),
    }
    python = 'gettext("a" "b"); _(name); ngettext("x", "xs", 2); pgettext_lazy("c", "d")'
    assert python_messages(python) == {Msg("ab"), Msg("x", plural="xs"), Msg("d", context="c")}
    script = 'gettext("just now"); ngettext("a \\"b\\"", "c", n); gettext(variable)'
    assert script_messages(script) == {Msg("just now"), Msg('a "b"', plural="c")}


def _catalog(language: str, domain: str) -> dict[tuple[str | None, str], list[str]]:
    path = ROOT / "locale" / language / "LC_MESSAGES" / f"{domain}.po"
    entries = parse_po(path.read_text(encoding="utf-8"), name=str(path))
    return {
        (entry.msgctxt, entry.msgid): [entry.msgstr[n] for n in sorted(entry.msgstr)]
        for entry in entries
        if entry.msgid and entry.translated and not entry.fuzzy
    }


def _where(paths: list[Path]) -> str:
    return ", ".join(sorted({str(path.relative_to(ROOT)) for path in paths}))


LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_string_marked_for_translation_is_translated(language, domain):
    """A string added to a template, the Python or a script without its translations in every
    catalog fails here: add it to each locale/<language>/LC_MESSAGES/<domain>.po."""
    used = django_domain() if domain == "django" else djangojs_domain()
    catalog = _catalog(language, domain)
    missing = [
        f"{msg.msgid!r} (context {msg.context!r}, in {_where(paths)})"
        for msg, paths in sorted(used.items())
        if (msg.context, msg.msgid) not in catalog
    ]
    assert not missing, f"untranslated in locale/{language}/{domain}.po:\n" + "\n".join(missing)
    wrong_plural = [
        msg.msgid
        for msg in used
        if msg.plural is not None and len(catalog[(msg.context, msg.msgid)]) != 2
    ]
    assert not wrong_plural


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_translations_keep_every_placeholder(language, domain):
    for (_context, msgid), forms in _catalog(language, domain).items():
        wanted = set(PLACEHOLDER.findall(msgid))
        for form in forms:
            assert set(PLACEHOLDER.findall(form)) == wanted, (msgid, form)
