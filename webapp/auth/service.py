"""Creating accounts and checking credentials. No HTTP here: plain values in, domain errors out."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from zxcvbn import zxcvbn

from ..errors import Conflict, InvalidInput
from ..extensions import db
from ..models import Plan, User, utcnow

MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,39}")

_hasher = PasswordHasher()
# Verifying against this when the account does not exist keeps the timing of "no such user"
# and "wrong password" the same.
_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    return _hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    """Whether `password` is right for `user`, taking the same time when `user` is None."""
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    """The address as stored: syntax checked, domain lower-cased, whole address lower-cased."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise InvalidInput(_("That does not look like an email address."), code="invalid_email") from None


def check_username(username: str) -> str:
    """The username if it is acceptable, else InvalidInput saying why."""
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise InvalidInput(_("A username has 3 to 40 letters, digits, dots, dashes or underscores, "
                             "and starts with a letter or digit."), code="invalid_username")
    return username


def check_password_strength(password: str, *hints: str) -> None:
    """Refuse short and commonly used passwords with a sentence that says which."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(_("A password needs at least %(count)s characters.", count=MIN_PASSWORD_LENGTH),
                           code="weak_password")
    if len(password) > 1024:
        raise InvalidInput(_("A password may have at most 1024 characters."), code="weak_password")
    result = zxcvbn(password[:100], user_inputs=[h for h in hints if h])
    if any(m.get("dictionary_name") == "passwords" and m["token"] == password for m in result["sequence"]):
        raise InvalidInput(_("That password is one of the most commonly used passwords; please choose another."),
                           code="weak_password")
    if result["score"] < 2:
        raise InvalidInput(_("That password is too easy to guess; add a few more unusual words."),
                           code="weak_password")


def create_user(email: str, username: str, password: str, *, role: str = "user", verified: bool = False) -> User:
    """Create an account after checking every field; Conflict if the email or username is taken."""
    email = normalise_email(email)
    username = check_username(username)
    check_password_strength(password, email.split("@")[0], username)
    taken = db.session.scalar(select(User).where(or_(User.email == email,
                                                     func.lower(User.username) == username.lower())))
    if taken is not None:
        raise Conflict(_("An account with that email or username already exists."), code="account_exists")
    plan = db.session.scalar(select(Plan).where(Plan.name == "free"))
    user = User(email=email, username=username, password_hash=hash_password(password), role=role,
                is_verified=verified, plan=plan)
    db.session.add(user)
    db.session.commit()
    return user


def find_by_identifier(identifier: str) -> User | None:
    """The account whose email or username (any case) is `identifier`."""
    identifier = identifier.strip().lower()
    return db.session.scalar(select(User).where(or_(User.email == identifier,
                                                    func.lower(User.username) == identifier)))


def authenticate(identifier: str, password: str) -> User | None:
    """The account if the credentials are right and it may log in; None otherwise (never says which part)."""
    user = find_by_identifier(identifier)
    if not password_matches(user, password) or user.is_blocked:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def has_users() -> bool:
    """Whether any account exists yet (an empty instance must be set up first)."""
    return db.session.scalar(select(User.id).limit(1)) is not None


def create_first_admin(email: str, username: str, password: str) -> User:
    """The first account of an empty instance, as admin; Conflict once any account exists."""
    if has_users():
        raise Conflict(_("This Shoebox has already been set up."), code="already_set_up")
    return create_user(email, username, password, role="admin", verified=True)
