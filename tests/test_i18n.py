"""Every user-facing string is translatable, and German is complete."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
GERMAN = ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po"
# Words that are the same in every language.
UNTRANSLATED_OK = {"Shoebox", "×"}
VISIBLE_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}


class _TextFinder(HTMLParser):
    """Collects literal text (and visible attribute values) that is not produced by Jinja."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style"}:
            self._skip += 1
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self._check(value)

    def handle_endtag(self, tag):
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self._check(data)

    def _check(self, text):
        for piece in text.split("\x00"):
            rest = piece
            for word in UNTRANSLATED_OK:
                rest = rest.replace(word, "")
            if any(ch.isalpha() for ch in rest):
                self.found.append(piece.strip())


def literal_text(source: str) -> list[str]:
    """Text in a template that reaches the page without passing through gettext."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    rebuilt = []
    for _lineno, kind, value in env.lex(source):
        if kind == "data":
            rebuilt.append(value)
        elif kind in {"variable_begin", "block_begin"}:
            rebuilt.append("\x00")
    finder = _TextFinder()
    finder.feed("".join(rebuilt))
    return finder.found


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_template_has_no_unmarked_text(template):
    unmarked = literal_text((TEMPLATES / template).read_text())
    assert not unmarked, f"{template} shows text not wrapped in _(): {unmarked}"


def test_the_unmarked_text_check_catches_plain_words():
    assert literal_text("<p>Hello there</p>") == ["Hello there"]
    assert literal_text('<img alt="A cat">') == ["A cat"]
    assert literal_text('<p>{{ _("Hello") }}</p><img alt="{{ _("A cat") }}">') == []


def _extracted_messages() -> set[str]:
    method_map = [("webapp/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_german_translates_every_message():
    with GERMAN.open("rb") as fh:
        catalog = read_po(fh, locale="de")
    translated = {}
    for message in catalog:
        key = message.id if isinstance(message.id, str) else message.id[0]
        text = message.string if isinstance(message.string, str) else "".join(message.string)
        if key and text and not message.fuzzy:
            translated[key] = text
    missing = sorted(_extracted_messages() - set(translated))
    assert not missing, f"not translated into German (run scripts/i18n extract, then translate): {missing}"


def test_german_placeholders_match_english():
    with GERMAN.open("rb") as fh:
        catalog = read_po(fh, locale="de")
    problems = [(m.id, errors) for m, errors in catalog.check()]
    assert not problems


def test_page_follows_accept_language(client, make_user):
    make_user()
    page = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert 'lang="de"' in page and "Anmelden" in page
    page = client.get("/login", headers={"Accept-Language": "fr-FR"}).get_data(as_text=True)
    assert 'lang="en"' in page and "Log in" in page


def test_json_errors_speak_the_requested_language(client):
    body = client.get("/api/v1/nothing-here", headers={"Accept-Language": "de"}).get_json()
    assert body["error"] == {"code": "not_found", "message": "Unter dieser Adresse gibt es nichts."}


def test_instance_default_language_applies_without_a_preference(make_app):
    app = make_app(i18n={"default_locale": "de"})
    client = app.test_client()
    assert "Shoebox einrichten" in client.get("/setup").get_data(as_text=True)


def test_users_own_language_beats_the_browser(app, client, make_user, auth):
    from webapp.extensions import db
    from webapp.models import User

    user_id = make_user()
    with app.app_context():
        db.session.get(User, user_id).locale = "de"
        db.session.commit()
    auth.login()
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Galerie" in page
