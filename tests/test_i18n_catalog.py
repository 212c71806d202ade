"""The translation catalogs are complete and current: every string the pages show has Spanish.

The strings are extracted at test time with Babel, from the sources exactly as ``pybabel
extract -F babel.cfg`` finds them (Python ``_()`` calls and the templates' gettext), and
compared with the committed template (``loginsite.pot``), each language's ``.po`` and the ``.mo``
the app reads. A failure names the strings and the pybabel command that fixes it.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment

from loginsite.settings import LANGUAGES

REPO = Path(__file__).resolve().parents[1]
LOCALE = REPO / "loginsite" / "locale"
POT = LOCALE / "loginsite.pot"
TRANSLATED = [code for code in LANGUAGES if code != "en"]  # English is the source
UPDATE = 'run `make catalogs` and translate the new strings in the .po (README "Languages")'
_PLACEHOLDER = re.compile(r"\$\{\w+\}|%\(\w+\)s|%%")


def extracted() -> dict[str, set[str]]:
    """msgid -> the files it is in, from the sources as they are now."""
    with open(REPO / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(REPO), method_map, options_map
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, set()).add(filename)
    return found


def read_catalog(path: Path) -> Catalog:
    with open(path, "rb") as file:
        return read_po(file)


def ids(catalog: Catalog) -> set[str]:
    return {message.id for message in catalog if message.id}


def po_path(code: str) -> Path:
    return LOCALE / code / "LC_MESSAGES" / "loginsite.po"


def test_the_languages_offered_are_the_catalogs_shipped() -> None:
    shipped = {path.parent.parent.name for path in LOCALE.glob("*/LC_MESSAGES/loginsite.po")}
    assert set(TRANSLATED) == shipped
    assert LANGUAGES[0] == "en"


def test_the_sources_have_strings_to_translate() -> None:
    files = set().union(*extracted().values())
    assert any(name.endswith(".py") for name in files)
    # The catalog holds what the pages say; the development provider is English only.
    assert not any("devidp" in name for name in files)


def test_the_template_catalog_is_up_to_date_with_the_sources() -> None:
    now = extracted()
    committed = ids(read_catalog(POT))
    assert not sorted(set(now) - committed), f"new strings not in loginsite.pot; {UPDATE}"
    assert not sorted(committed - set(now)), f"loginsite.pot has strings no longer used; {UPDATE}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_string_is_translated(code: str) -> None:
    catalog = read_catalog(po_path(code))
    missing = sorted(set(extracted()) - ids(catalog))
    assert not missing, f"{code}.po lacks {missing}; {UPDATE}"
    obsolete = sorted(ids(catalog) - set(extracted()))
    assert not obsolete, f"{code}.po has strings no longer used: {obsolete}; {UPDATE}"
    untranslated = sorted(m.id for m in catalog if m.id and not m.string)
    assert not untranslated, f"{code}.po has no translation for {untranslated}"
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert not fuzzy, f"{code}.po has fuzzy (unchecked) translations: {fuzzy}"
    assert not catalog.obsolete, f"{code}.po keeps obsolete (#~) entries; remove them"


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_every_placeholder(code: str) -> None:
    wrong = [
        (m.id, m.string)
        for m in read_catalog(po_path(code))
        if m.id and sorted(_PLACEHOLDER.findall(m.id)) != sorted(_PLACEHOLDER.findall(m.string))
    ]
    assert not wrong, f"{code}.po: placeholders differ from the English: {wrong}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalog_is_the_po_file(code: str) -> None:
    """The app reads the .mo; it must say what the .po says (``pybabel compile`` makes it)."""
    catalog = read_catalog(po_path(code))
    with open(po_path(code).with_suffix(".mo"), "rb") as file:
        compiled = read_mo(file)
    expected = {m.id: m.string for m in catalog if m.id}
    assert {m.id: m.string for m in compiled if m.id} == expected, (
        "run: .venv/bin/pybabel compile -d loginsite/locale -D loginsite"
    )
    rebuilt = BytesIO()
    write_mo(rebuilt, catalog)
    assert rebuilt.getvalue() == po_path(code).with_suffix(".mo").read_bytes()


# -- nothing Python hands a page escapes translation -----------------------------------------


def _bare_text(node: ast.expr | None) -> bool:
    """A literal (or f-string) where a translation string belongs."""
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def test_every_error_page_gets_translation_strings() -> None:
    """``error_page(request, status, title, message, action=(label, path))``: the title, the
    message and the label a person reads must be ``_()`` strings (or come from one)."""
    found = []
    for path in sorted((REPO / "loginsite").rglob("*.py")):
        if "devidp" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name != "error_page":
                continue
            texts = list(node.args[2:4])
            for keyword in node.keywords:
                if keyword.arg == "action" and isinstance(keyword.value, ast.Tuple):
                    texts.append(keyword.value.elts[0])
                elif keyword.arg in ("title", "message"):
                    texts.append(keyword.value)
            found += [f"{path.name}:{t.lineno}" for t in texts if _bare_text(t)]
    assert not found, f"error_page() given text not marked with _(): {found}"


# -- nothing in a template escapes translation -----------------------------------------------

TEMPLATES = REPO / "loginsite" / "templates"
GETTEXT_CALLS = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
#: Words that are the same in every language: the brand, and each language's name in itself.
SAME_IN_EVERY_LANGUAGE = {"Login.gov", "English", "Español"}
#: Attributes a person reads (or hears from a screen reader).
READ_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder", "aria-description"}
_WORD = re.compile(r"[^\W\d_]{2,}")
_PROSE = re.compile(r"[^\W\d_]+\s+[^\W\d_]+")
_STRFTIME = re.compile(r"%[A-Za-z]")  # "%Y-%m-%d %H:%M": a date format, not words
_HOLE = "\x00"  # where Jinja puts something in: a value, a translation, a tag's output


class _ReadableText(HTMLParser):
    """The text nodes and read attributes of an HTML page, outside script and style."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if value and (name in READ_ATTRIBUTES or (tag == "input" and name == "value")):
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def unmarked_text(source: str) -> list[str]:
    """What a template shows that no gettext call or ``{% trans %}`` block covers.

    The template is lexed with Jinja's own lexer: text inside ``{% trans %}`` is marked, every
    other Jinja construct becomes a hole, and the HTML that is left is read for text nodes and
    read attributes. String literals inside Jinja code that look like prose (two words) and are
    not the argument of a gettext call count too.
    """
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    html: list[str] = []
    literals: list[str] = []
    in_trans = False
    significant: list[tuple[str, str]] = []  # the code tokens of the current construct
    for _lineno, kind, value in env.lex(source):
        if kind in ("whitespace", "comment", "comment_begin", "comment_end"):
            continue
        if kind in ("block_begin", "variable_begin"):
            significant = []
            if not in_trans:
                html.append(_HOLE)
            continue
        if kind in ("block_end", "variable_end"):
            continue
        if kind == "data":
            if not in_trans:
                html.append(value)
            continue
        if kind == "name" and not significant and value in ("trans", "pluralize"):
            in_trans = True
        elif kind == "name" and not significant and value == "endtrans":
            in_trans = False
        if kind == "string" and not in_trans and _PROSE.search(_STRFTIME.sub("", value[1:-1])):
            marked = (
                len(significant) >= 2
                and significant[-1] == ("operator", "(")
                and significant[-2][0] == "name"
                and significant[-2][1] in GETTEXT_CALLS
            )
            if not marked:
                literals.append(value[1:-1])
        significant.append((kind, value))
    parser = _ReadableText()
    parser.feed("".join(html))
    parser.close()
    texts = [" ".join(text.replace(_HOLE, " ").split()) for text in parser.found]
    return [
        text
        for text in texts + literals
        if _WORD.search(text) and text not in SAME_IN_EVERY_LANGUAGE
    ]


def test_the_template_check_finds_unmarked_text() -> None:
    """The check itself: what it must find, and what it must let through."""
    found = unmarked_text(
        '<p>Hello {{ name }}</p><img alt="A flag" src="{{ x }}"><p title="{{ site }} home">'
        "{{ _('Marked') }}</p><a>{% trans %}Also marked{% endtrans %}</a>"
        '{{ who.email or "your account" }}<span lang="es">Español</span><p>{{ n }} ·</p>'
        "<script src=x></script>{# A comment #}<input type=submit value=Send>"
        '{% set other = "en" %}{{ _("Two words") }}'
    )
    assert found == ["Hello", "A flag", "home", "Send", "your account"]


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda path: path.name)
def test_no_template_text_is_left_unmarked(template: Path) -> None:
    """Text outside ``_()``/``{% trans %}`` would stay English on a Spanish page."""
    found = unmarked_text(template.read_text())
    assert not found, f"{template.name} shows text not marked for translation: {found}"
