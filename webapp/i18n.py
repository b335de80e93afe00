"""Languages: which one a request gets, the visitor's choice, and locale-aware formatting helpers.

The order: the account's own choice, then the `lang` cookie (the picker's choice in this browser), then
the browser's Accept-Language, then the instance default. Share recipients (/s/...) are not the account
holder: their pages follow the cookie and the browser only.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from .config import RTL_LOCALES, SUPPORTED_LOCALES

# Each language by its own name, as the picker shows it.
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español",
                  "pt_BR": "Português (Brasil)", "ar": "العربية"}
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_AGE = timedelta(days=365)
# Pages a share link's recipient sees: whoever opens the link, never the account of the one who made it.
RECIPIENT_PREFIX = "/s/"
# Responses whose words are in a language (an image or a stylesheet has none).
WORDED_TYPES = ("text/html", "text/plain", "application/json", "application/problem+json")


def select_locale() -> str:
    """The account's choice, else the `lang` cookie, else Accept-Language, else the instance default.

    Notes in g.language_vary which request headers the answer depended on (see _language_headers).
    """
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    vary = g.setdefault("language_vary", set())
    vary.add("Cookie")  # the session (an account's choice) or the language cookie
    if not request.path.startswith(RECIPIENT_PREFIX):
        user = current_user
        if getattr(user, "is_authenticated", False) and user.locale in SUPPORTED_LOCALES:
            return user.locale
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    vary.add("Accept-Language")
    return locale_for_languages(request.accept_languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def locale_for_languages(preferences) -> str | None:
    """Our locale for the browser's first language we speak, most preferred first: "pt-BR" and "pt" are
    pt_BR, "ar-EG" is ar, "fr-CA" is fr, "es-419" is es. `preferences` is (tag, quality) pairs."""
    ranked = sorted(((tag, quality) for tag, quality in preferences if quality > 0), key=lambda p: -p[1])
    for tag, _quality in ranked:
        found = _locale_for_tag(tag)
        if found:
            return found
    return None


_BY_TAG = {code.replace("_", "-").lower(): code for code in SUPPORTED_LOCALES}  # "pt-br": "pt_BR"


def _locale_for_tag(tag: str) -> str | None:
    tag = tag.strip().replace("_", "-").lower()
    if tag in _BY_TAG:
        return _BY_TAG[tag]
    primary = tag.split("-")[0]
    return next((code for code in SUPPORTED_LOCALES if code.split("_")[0].lower() == primary), None)


def language_tag(locale: str) -> str:
    """The BCP 47 tag for `lang=""` and Content-Language: pt_BR is pt-BR."""
    return locale.replace("_", "-")


def text_direction(locale: str) -> str:
    """"rtl" for Arabic and other right-to-left languages, else "ltr"."""
    return "rtl" if str(locale).split("_")[0] in RTL_LOCALES else "ltr"


def checked_locale(code: str) -> str:
    """`code` when it is one of the UI's languages; else InvalidInput naming the field `lang`."""
    from .errors import InvalidInput  # errors formats sizes with this module

    if code not in SUPPORTED_LOCALES:
        raise InvalidInput(_("That language is not available."), code="invalid_locale", field="lang")
    return code


def N_(message: str) -> str:
    """Mark `message` for the catalogue and return it as it is: it is stored (a job's progress, say) and
    translated where it is shown, in the language of whoever looks."""
    return message


def human_size(size: int) -> str:
    """A byte count for people: 1.5 MB, 320 KB, 12 bytes (binary multiples, the locale's digits and units)."""
    value, step = float(size), 0
    while value >= 1024 and step < 4:
        value, step = value / 1024, step + 1
    if step == 0:
        count = int(value)
        return ngettext("%(count)s byte", "%(count)s bytes", count, count=format_decimal(count))
    number = format_decimal(round(value, 1), format="#,##0.#")
    # Each unit is its own message, so that a language can write its own (French says Ko, Mo).
    if step == 1:
        return _("%(size)s KB", size=number)
    if step == 2:
        return _("%(size)s MB", size=number)
    if step == 3:
        return _("%(size)s GB", size=number)
    return _("%(size)s TB", size=number)


def init_app(app: Flask) -> None:
    """Choose each request's language, name it on the page and in headers, and serve the picker."""
    from .extensions import babel
    from .language_routes import bp

    babel.init_app(app, locale_selector=select_locale)
    app.context_processor(_template_globals)
    app.after_request(_language_headers)
    app.register_blueprint(bp)


def _template_globals() -> dict:
    locale = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
    return {"page_lang": language_tag(locale), "page_dir": text_direction(locale), "page_locale": locale,
            "language_names": LANGUAGE_NAMES}


def _language_headers(response: Response) -> Response:
    """Content-Language on every response in words, and Vary on what chose the language."""
    if response.mimetype not in WORDED_TYPES and "language_vary" not in g:
        return response
    if response.mimetype in WORDED_TYPES:
        locale = get_locale()  # runs select_locale if nothing on the way asked yet
        if locale is not None:
            response.headers["Content-Language"] = language_tag(str(locale))
    for header in sorted(g.get("language_vary", ())):
        response.vary.add(header)
    return response


def keep_choice(user, code: str) -> str:
    """Check the language `code` and keep it in `user`'s account when someone is signed in; returns it.

    The browser's cookie (set by the route) keeps it for pages without an account, share pages among them.
    """
    from .extensions import db

    code = checked_locale(code)
    if getattr(user, "is_authenticated", False) and user.locale != code:
        user.locale = code
        db.session.commit()
    return code
