"""Languages: every string people see is translatable and translated, and each request, page, email,
date and size is in the right one."""

from __future__ import annotations

import ast
import re
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

from webapp.config import SUPPORTED_LOCALES

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
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


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.glob("mail/*.txt")))
def test_plain_text_email_has_no_unmarked_text(template):
    # A path after a link's base ({{ base_url }}/admin/backups) is an address, not words.
    unmarked = [text for text in literal_text((TEMPLATES / template).read_text()) if not text.startswith("/")]
    assert not unmarked, f"{template} says text not wrapped in _(): {unmarked}"


def test_the_unmarked_text_check_catches_plain_words():
    assert literal_text("<p>Hello there</p>") == ["Hello there"]
    assert literal_text('<img alt="A cat">') == ["A cat"]
    assert literal_text('<p>{{ _("Hello") }}</p><img alt="{{ _("A cat") }}">') == []


def _extracted_messages() -> set[str]:
    method_map = [("webapp/**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None, "N_": None}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalogue(locale: str):
    path = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
    assert path.exists(), f"there is no {locale} catalogue (scripts/i18n add {locale})"
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


TRANSLATED_LOCALES = [code for code in SUPPORTED_LOCALES if code != "en"]


@pytest.mark.parametrize("locale", TRANSLATED_LOCALES)
def test_catalogue_translates_every_message(locale):
    catalog = _catalogue(locale)
    translated, fuzzy = set(), []
    for message in catalog:
        key = message.id if isinstance(message.id, str) else message.id[0]
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if not key:
            continue
        if message.fuzzy:
            fuzzy.append(key)
        elif strings and all(strings):
            translated.add(key)
    missing = sorted(_extracted_messages() - translated)
    assert not fuzzy, f"{locale}: fuzzy entries (check and clear the flag): {fuzzy}"
    assert not missing, f"{locale}: not translated (run scripts/i18n extract, then translate): {missing}"


@pytest.mark.parametrize("locale", TRANSLATED_LOCALES)
def test_catalogue_placeholders_match_english(locale):
    problems = [(m.id, [str(e) for e in errors]) for m, errors in _catalogue(locale).check()]
    assert not problems, f"{locale}: {problems}"


# --- Python: text people see must pass through gettext ---------------------------------------------

MARKERS = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext"}
FORM_FIELDS = {"StringField", "PasswordField", "EmailField", "BooleanField", "SelectField", "IntegerField",
               "TextAreaField", "FileField", "DateField", "DateTimeField", "DateTimeLocalField", "RadioField",
               "SelectMultipleField", "MultipleFileField", "URLField", "DecimalField", "FloatField", "TelField",
               "SearchField", "SubmitField"}
# Validators whose first argument is the message (EqualTo's and Length's are not: they take it as message=).
MESSAGE_FIRST = {"DataRequired", "InputRequired", "Optional", "Email", "URL", "ValidationError", "StopValidation",
                 "FileRequired"}
VALIDATORS = MESSAGE_FIRST | {"Length", "EqualTo", "Regexp", "NumberRange", "AnyOf", "NoneOf", "FileAllowed",
                              "FileSize"}
PAGE_CALLS = {"render", "render_template", "error_response", "flash", "handler", "register"}  # the last two: jobs
SHOWN_KEYWORDS = {"title", "message", "heading", "label", "description", "reason"}


def _name(node) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


# Exceptions whose message reaches people as it is: domain errors, and a refused image or backup archive.
SHOWN_ERRORS = ("ShoeboxError", "ImageError", "ArchiveError")


def domain_errors(trees) -> dict[str, bool]:
    """Every subclass of SHOWN_ERRORS in the code, with whether its first argument is the message people read."""
    errors = dict.fromkeys(SHOWN_ERRORS, True)
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in errors:
                    parents = [_name(base) for base in node.bases if _name(base) in errors]
                    if parents:
                        errors[node.name] = _message_first(node, errors[parents[0]])
                        grew = True
    return errors


def _message_first(cls: ast.ClassDef, inherited: bool) -> bool:
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return inherited
    positional = [a.arg for a in init.args.args[1:]]
    return bool(positional) and positional[0] == "message"


def _has_words(node) -> bool:
    """A literal (or an f-string, a concatenation, a %-format of one) with letters in it."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and any(ch.isalpha() for ch in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_has_words(value) for value in node.values)
    if isinstance(node, ast.BinOp):
        return _has_words(node.left) or _has_words(node.right)
    if isinstance(node, ast.IfExp):
        return _has_words(node.body) or _has_words(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _has_words(node.func.value)
    return False


def _shown_arguments(call: ast.Call, errors: dict[str, bool]):
    name = _name(call.func)
    first = call.args[0] if call.args else None
    if first is not None and (name == "flash" or errors.get(name) or name in MESSAGE_FIRST or name in FORM_FIELDS):
        yield first
    if name == "send" and _name(getattr(call.func, "value", None)) == "mail" and len(call.args) > 1:
        yield call.args[1]  # the subject
    if name == "notify" and len(call.args) > 2:
        yield call.args[2]
    if name == "SelectChoice" and len(call.args) > 1:
        yield call.args[1]
    for keyword in call.keywords:
        if keyword.arg in SHOWN_KEYWORDS and (name in PAGE_CALLS or name in errors or name in VALIDATORS
                                               or name in FORM_FIELDS):
            yield keyword.value
        if keyword.arg == "choices" and name in FORM_FIELDS and isinstance(keyword.value, (ast.List, ast.Tuple)):
            for choice in keyword.value.elts:
                if isinstance(choice, ast.Tuple) and len(choice.elts) == 2:
                    yield choice.elts[1]


def unmarked_python_text(sources: dict[str, str]) -> list[str]:
    """"file:line: text" for each literal shown to people (a flash, a domain error, a form's label or
    message, a page title, an email subject) that does not pass through gettext."""
    trees = {name: ast.parse(text, name) for name, text in sources.items()}
    errors = domain_errors(trees.values())
    found = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) not in MARKERS:
                found += [f"{name}:{node.lineno}: {ast.unparse(arg)[:80]}"
                          for arg in _shown_arguments(node, errors) if _has_words(arg)]
    return found


def test_python_has_no_unmarked_text():
    sources = {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted((ROOT / "webapp").rglob("*.py"))}
    unmarked = unmarked_python_text(sources)
    assert not unmarked, "text people see, not wrapped in _() or _l():\n" + "\n".join(unmarked)


def test_the_python_check_catches_plain_sentences():
    source = textwrap.dedent("""
        class ShoeboxError(Exception): pass
        class Refused(ShoeboxError): pass
        class Gone(ShoeboxError):
            def __init__(self, reason): pass
        flash("Saved.")
        raise Refused(f"No {thing} here", field="x")
        name = StringField("Name", validators=[DataRequired("Enter it."), Length(max=3, message="Too long.")])
        render("page.html", title="Hello")
        mail.send(to, "Your code", "code")
        Gone("expired")
        flash(_("Saved.")); Refused(_l("Fine")); render("page.html", title=_("Hi")); EqualTo("password")
    """)
    found = sorted(line.split(": ", 1)[1] for line in unmarked_python_text({"x.py": source}))
    assert found == sorted(["'Saved.'", "f'No {thing} here'", "'Name'", "'Enter it.'", "'Too long.'", "'Hello'",
                            "'Your code'"])


def test_page_follows_accept_language(client, make_user):
    make_user()
    page = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert 'lang="de"' in page and "Anmelden" in page
    page = client.get("/login", headers={"Accept-Language": "ja-JP"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page and "Log in" in page


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


# --- right to left: stylesheets say start and end, not left and right ------------------------------

PHYSICAL = re.compile(r"(?<![\w-])(margin-left|margin-right|padding-left|padding-right|border-left|border-right"
                      r"|left|right)\s*:|text-align\s*:\s*(left|right)|float\s*:\s*(left|right)")
# The crop box lives in the photo's own coordinates (editor.js sets style.left): left is left in every language.
PHYSICAL_ON_PURPOSE = (".crop-handle",)


def test_stylesheets_use_logical_sides_so_arabic_mirrors():
    found = []
    for sheet in sorted((ROOT / "static" / "css").glob("*.css")):
        for number, line in enumerate(sheet.read_text().splitlines(), 1):
            if PHYSICAL.search(line) and not any(name in line for name in PHYSICAL_ON_PURPOSE):
                found.append(f"{sheet.name}:{number}: {line.strip()}")
    assert not found, "use margin-inline-start, inset-inline-end, text-align: start and the like:\n" + "\n".join(found)


def test_the_stylesheet_check_catches_physical_sides():
    assert PHYSICAL.search(".a { margin-left: 1rem; }") and PHYSICAL.search(".a { left: 0; }")
    assert PHYSICAL.search(".a { text-align: right; }") and PHYSICAL.search(".a{float:left}")
    assert not PHYSICAL.search(".a { margin-inline-start: 1rem; inset-inline-end: 0; text-align: start; }")
    assert not PHYSICAL.search(".a { border-top-left-radius: 2px; }")


# --- which language a request gets ----------------------------------------------------------------

@pytest.mark.parametrize(("header", "locale"), [
    ("pt-BR", "pt_BR"), ("pt", "pt_BR"), ("pt-PT,pt;q=0.8", "pt_BR"), ("ar-EG", "ar"), ("ar", "ar"),
    ("fr-CA", "fr"), ("es-419", "es"), ("es-MX,es;q=0.9", "es"), ("de-AT", "de"), ("en-GB", "en"),
    ("fr-CA,en;q=0.5", "fr"),  # the most preferred language we speak, not the first exact match
    ("ja,de;q=0.3", "de"), ("en;q=0,ar;q=0.2", "ar"), ("ja, zh-CN", None), ("", None),
])
def test_browser_languages_map_to_ours(header, locale):
    from werkzeug.datastructures import LanguageAccept
    from werkzeug.http import parse_accept_header

    from webapp.i18n import locale_for_languages

    assert locale_for_languages(parse_accept_header(header, LanguageAccept)) == locale


def test_first_visit_follows_accept_language_right_to_left_for_arabic(client, make_user):
    make_user()  # past the first run's setup page
    response = client.get("/login", headers={"Accept-Language": "ar-EG,ar;q=0.9,en;q=0.5"})
    assert '<html lang="ar" dir="rtl">' in response.get_data(as_text=True)
    assert response.headers["Content-Language"] == "ar"
    response = client.get("/login", headers={"Accept-Language": "pt-BR"})
    assert '<html lang="pt-BR" dir="ltr">' in response.get_data(as_text=True)
    assert response.headers["Content-Language"] == "pt-BR"


def test_a_visitors_cookie_beats_the_browser(client, make_user):
    make_user()  # past the first run's setup page
    client.set_cookie("lang", "de")
    response = client.get("/login", headers={"Accept-Language": "fr"})
    assert '<html lang="de" dir="ltr">' in response.get_data(as_text=True) and "Anmelden" in response.get_data(as_text=True)
    client.set_cookie("lang", "klingon")  # not ours: as if there were none
    assert '<html lang="fr"' in client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)


def test_the_accounts_language_beats_the_cookie(app, client, make_user, auth):
    set_locale(app, make_user(), "de")
    auth.login()
    client.set_cookie("lang", "fr")
    assert "Galerie" in client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)


def set_locale(app, user_id: int, locale: str | None) -> None:
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        db.session.get(User, user_id).locale = locale
        db.session.commit()


def account_locale(app, user_id: int) -> str | None:
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        return db.session.get(User, user_id).locale


@pytest.fixture
def shared_photo(app, kim):
    """A link to one of kim's photos; kim reads German."""
    from tests.fixtures.media import make_jpeg
    from tests.fixtures.shares import make_link

    set_locale(app, kim.id, "de")
    media_id = kim.upload(make_jpeg()).get_json()["id"]
    return make_link(app, kim.id, media_id=media_id)


def test_share_recipients_get_their_own_language_never_the_owners(app, shared_photo):
    recipient = app.test_client()
    page = recipient.get(shared_photo.url, headers={"Accept-Language": "ar"})
    assert '<html lang="ar" dir="rtl">' in page.get_data(as_text=True)
    assert page.headers["Content-Language"] == "ar" and "Accept-Language" in page.headers["Vary"]
    page = recipient.get(shared_photo.url)  # no preference: the instance's language, not the owner's German
    assert '<html lang="en" dir="ltr">' in page.get_data(as_text=True)
    recipient.set_cookie("lang", "es")
    assert '<html lang="es"' in recipient.get(shared_photo.url, headers={"Accept-Language": "ar"}).get_data(as_text=True)


def test_the_owner_opening_their_own_link_sees_it_as_recipients_do(app, client, shared_photo):
    from tests.fixtures.accounts import AuthActions

    AuthActions(client).login("kim")
    assert "Galerie" in client.get("/").get_data(as_text=True)
    page = client.get(shared_photo.url, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="fr"' in page


# --- headers --------------------------------------------------------------------------------------

def test_content_language_and_vary_on_pages_and_json_errors(client, make_user):
    make_user()  # past the first run's setup page
    page = client.get("/login", headers={"Accept-Language": "de"})
    assert page.headers["Content-Language"] == "de"
    assert {"Accept-Language", "Cookie"} <= {v.strip() for v in page.headers["Vary"].split(",")}
    error = client.get("/api/v1/nothing-here", headers={"Accept-Language": "es-419"})
    assert error.status_code == 404 and error.headers["Content-Language"] == "es"
    assert "Accept-Language" in error.headers["Vary"]


def test_a_signed_in_page_varies_on_the_cookie_only(app, client, make_user, auth):
    set_locale(app, make_user(), "de")
    auth.login()
    page = client.get("/", headers={"Accept-Language": "fr"})
    assert page.headers["Content-Language"] == "de"
    assert "Cookie" in page.headers["Vary"] and "Accept-Language" not in page.headers["Vary"]


def test_wordless_responses_carry_no_language(client):
    response = client.get("/static/icons/shoebox.svg", headers={"Accept-Language": "de"})
    response.close()
    assert response.status_code == 200 and "Content-Language" not in response.headers
    assert "Accept-Language" not in response.headers.get("Vary", "")


# --- the picker -----------------------------------------------------------------------------------

def choose(client, lang, next_url="/login", csrf=None, page="/login"):
    from tests.fixtures.accounts import csrf_token_from

    token = csrf if csrf is not None else csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post("/language", data={"lang": lang, "next": next_url, "csrf_token": token})


def test_every_page_has_a_picker_that_works_without_script(client, shared_photo):
    for url in ("/login", "/no-such-page", shared_photo.url, "/s/no-such-token"):
        page = client.get(url).get_data(as_text=True)
        form = re.search(r'<form method="post" action="/language" class="language-picker" hx-boost="false">(.*?)</form>',
                         page, re.S)
        assert form, url
        assert 'name="csrf_token"' in form.group(1) and 'type="submit"' in form.group(1)
        assert re.findall(r'<option value="([^"]+)"', form.group(1)) == ["en", "de", "fr", "es", "pt_BR", "ar"]
        assert f'name="next" value="{url}"' in form.group(1)
        assert '<option value="ar" lang="ar">العربية</option>' in form.group(1)


def test_a_visitors_choice_is_kept_in_a_cookie_for_a_year(client, make_user):
    make_user()  # past the first run's setup page
    response = choose(client, "de", "/login?next=%2Falbums")
    assert response.status_code == 303 and response.headers["Location"] == "/login?next=%2Falbums"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=de;") and "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie
    assert "HttpOnly" in cookie
    page = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="de"' in page and "Anmelden" in page


def test_a_signed_in_choice_is_kept_in_the_account(app, client, make_user, auth):
    user_id = make_user()
    auth.login()
    response = choose(client, "pt_BR", "/albums", page="/")
    assert response.status_code == 303 and response.headers["Location"] == "/albums"
    assert account_locale(app, user_id) == "pt_BR"
    other_browser = app.test_client()
    from tests.fixtures.accounts import AuthActions

    AuthActions(other_browser).login()
    assert '<html lang="pt-BR"' in other_browser.get("/").get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com", "\\\\evil.com", "http:evil.com",
                                    "/\t/evil.com", "evil.com", "javascript:alert(1)", ""])
def test_the_picker_only_goes_back_to_this_site(client, make_user, target):
    make_user()  # past the first run's setup page
    response = choose(client, "fr", target)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_the_picker_needs_the_csrf_token(client, make_user):
    make_user()  # past the first run's setup page
    response = choose(client, "de", "/login", csrf="forged")
    assert response.status_code == 400 and "lang=" not in response.headers.get("Set-Cookie", "")
    assert '<html lang="en"' in client.get("/login").get_data(as_text=True)


def test_an_unknown_language_is_refused_and_nothing_is_kept(app, client, make_user, auth):
    user_id = make_user()
    auth.login()
    response = client.post("/language", data={"lang": "xx", "next": "/", "csrf_token": auth.csrf("/")},
                           headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == {"code": "invalid_locale", "field": "lang",
                                            "message": "That language is not available."}
    assert "Set-Cookie" not in response.headers or "lang=" not in response.headers["Set-Cookie"]
    assert account_locale(app, user_id) is None


# --- emails ---------------------------------------------------------------------------------------

def outbox(app, to: str) -> list:
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    with app.app_context():
        rows = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.to == to).order_by(OutboxMessage.id))
        return [(row.subject, row.text_body, row.html_body) for row in rows]


def test_an_admin_working_in_german_sends_a_reset_in_the_recipients_language(app, client, make_user, auth):
    from tests.fixtures.accounts import csrf_token_from

    kim = make_user(username="kim", email="kim@example.com")
    ann = make_user(username="ann", email="ann@example.com")
    set_locale(app, make_user(username="root", role="admin", email="root@example.com"), "de")
    set_locale(app, ann, "de")
    auth.login("root")
    for user_id in (kim, ann):
        token = csrf_token_from(client.get(f"/admin/users/{user_id}").get_data(as_text=True))
        response = client.post(f"/admin/users/{user_id}/password_reset", data={"csrf_token": token, "confirm": "1"})
        assert response.status_code == 303
    [(subject, text, html)] = outbox(app, "kim@example.com")
    assert subject == "Reset your password" and '<html lang="en" dir="ltr">' in html
    [(subject, text, html)] = outbox(app, "ann@example.com")
    assert subject == "Passwort zurücksetzen" and '<html lang="de" dir="ltr">' in html


def test_a_message_names_its_language_to_mail_clients(make_app, smtp_server):
    from webapp import mail

    app = make_app(mail={"host": smtp_server.host, "port": smtp_server.port, "security": "none",
                         "sender": "Shoebox <noreply@shoebox.test>"})
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        mail.send("ann@example.com", _l_subject(), "verify_email", locale="ar", name="Ann",
                  link="http://shoebox.test/x", hours=48)
    [received] = smtp_server.wait_for(1)
    assert received.message["Content-Language"] == "ar"
    assert 'dir="rtl"' in received.message.get_body(("html",)).get_content()


def _l_subject():
    from flask_babel import lazy_gettext

    return lazy_gettext("Confirm your email address")


def test_every_job_has_a_title_people_can_read():
    """The jobs page and the dashboard show a job by its title; without one, its name would show, in English."""
    untitled = []
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _name(node.func) in ("register", "handler") \
                    and _name(getattr(node.func, "value", None)) == "jobs" and not any(k.arg == "title" for k in node.keywords):
                untitled.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not untitled, f"jobs without title=_l(...): {untitled}"


def test_every_email_names_its_recipients_language():
    """mail.send renders in the language it is given; without one, an admin's action would mail others in
    the instance default rather than in the language they chose."""
    missing = []
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _name(node.func) == "send" and _name(getattr(node.func, "value", None)) \
                    == "mail" and not any(k.arg == "locale" for k in node.keywords):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, f"mail.send without locale=: {missing}"


# --- dates and sizes ------------------------------------------------------------------------------

def test_sizes_are_written_the_languages_way(app):
    from flask_babel import force_locale

    from webapp.i18n import human_size

    with app.test_request_context("/"):
        with force_locale("en"):
            assert [human_size(n) for n in (1, 12, 1536, 5 * 1024 ** 3)] == ["1 byte", "12 bytes", "1.5 KB", "5 GB"]
        with force_locale("de"):
            assert human_size(1536) == "1,5 KB" and human_size(1_234_567_890) == "1,1 GB"
            assert human_size(1000).startswith("1.000 ")  # the word is the catalogue's
        with force_locale("ar"):
            from babel.numbers import format_decimal

            assert format_decimal(1.5, locale="ar") in human_size(1536)  # Babel's Arabic digits and separator


def test_a_photo_page_dates_and_sizes_follow_the_language(app, client, kim):
    from datetime import datetime, timezone

    from babel.dates import format_datetime
    from markupsafe import escape

    from tests.fixtures.accounts import AuthActions
    from tests.fixtures.media import make_jpeg
    from webapp.extensions import db
    from webapp.models import Media

    media_id = kim.upload(make_jpeg(size=(640, 480))).get_json()["id"]
    with app.app_context():
        media = db.session.get(Media, media_id)
        media.created_at = datetime(2026, 3, 4, 13, 5, tzinfo=timezone.utc)
        media.size = 1_572_864  # 1.5 MiB
        db.session.commit()
    AuthActions(client).login("kim")
    set_locale(app, kim.id, "de")
    page = client.get(f"/photos/{media_id}").get_data(as_text=True)
    assert "04.03.2026, 13:05:00" in page and "1,5 MB" in page
    assert 'datetime="2026-03-04T13:05:00' in page  # the machine's form stays ISO
    set_locale(app, kim.id, "ar")
    page = client.get(f"/photos/{media_id}").get_data(as_text=True)
    arabic = format_datetime(datetime(2026, 3, 4, 13, 5), "medium", locale="ar")  # Babel's Arabic, "م" for p.m.
    assert '<html lang="ar" dir="rtl">' in page and escape(arabic) in page and "2026-03-04 13:05" not in page


def test_choosing_a_language_in_settings_reloads_the_whole_page(app, client, make_user, auth):
    user_id = make_user(username="kim")
    auth.login("kim")
    token = auth.csrf("/settings/")
    form = {"csrf_token": token, "profile-display_name": "Kim", "profile-first_name": "", "profile-last_name": "",
            "profile-username": "kim"}
    htmx = {"HX-Request": "true", "HX-Target": "settings-profile"}
    same = client.post("/settings/profile", data={**form, "profile-locale": ""}, headers=htmx)
    assert same.status_code == 200 and "HX-Redirect" not in same.headers  # only the section comes back
    changed = client.post("/settings/profile", data={**form, "profile-locale": "ar"}, headers=htmx)
    assert changed.status_code == 204 and changed.headers["HX-Redirect"] == "/settings/"
    assert account_locale(app, user_id) == "ar"
    assert '<html lang="ar" dir="rtl">' in client.get("/settings/").get_data(as_text=True)
