"""Languages: which one a request gets, and locale-aware formatting helpers."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import format_decimal
from flask_login import current_user

from .config import SUPPORTED_LOCALES

# Each language by its own name, as the picker shows it.
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español",
                  "pt_BR": "Português (Brasil)", "ar": "العربية"}


def select_locale() -> str:
    """The user's own choice, else the browser's Accept-Language, else the instance default."""
    user = current_user if request else None
    if user is not None and getattr(user, "is_authenticated", False) and user.locale in SUPPORTED_LOCALES:
        return user.locale
    if request:
        best = request.accept_languages.best_match(SUPPORTED_LOCALES)
        if best:
            return best
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def human_size(size: int) -> str:
    """A byte count for people: 1.5 MB, 320 KB, 12 bytes (binary multiples, locale digits)."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            break
        value /= 1024
    if unit == "bytes":
        return f"{int(value)} bytes"
    return f"{format_decimal(round(value, 1), format='#,##0.#')} {unit}"
