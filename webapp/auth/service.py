"""Accounts: signing up, confirming addresses, passwords, profiles, deletion. No HTTP here: plain values
in, domain errors out. Logging in is in auth/logins.py, invites and API keys in modules of their own."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
import email_validator
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from zxcvbn import zxcvbn

from .. import audit, instance, mail
from ..config import SUPPORTED_LOCALES
from ..errors import Conflict, Forbidden, InvalidInput
from ..extensions import db
from ..models import Plan, User, utcnow
from ..web import absolute_url
from . import invites, tokens, twofactor

# Home labs give their machines names under home.arpa (RFC 8375) or .local; addresses there are
# real to the people using them. email_validator documents this list as the place to say so.
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = [name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
                                               if name not in {"arpa", "local"}]

MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,39}")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the account does not exist, so that "no such user" and
    "wrong password" take the same time. Made on first use rather than at import."""
    return _hasher.hash("not a real password, only for equal timing")


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    return _hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    """Whether `password` is right for `user`, taking the same time when `user` is None."""
    try:
        return _hasher.verify(user.password_hash if user else _dummy_hash(), password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(user: User) -> bool:
    """Whether the stored hash was made with weaker settings than today's (re-hash on the next login)."""
    return _hasher.check_needs_rehash(user.password_hash)


def normalise_email(email: str) -> str:
    """The address as stored: syntax checked, domain lower-cased, whole address lower-cased."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise InvalidInput(_("That does not look like an email address."), code="invalid_email",
                           field="email") from None


def check_username(username: str) -> str:
    """The username if it is acceptable, else InvalidInput saying why."""
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise InvalidInput(_("A username has 3 to 40 letters, digits, dots, dashes or underscores, "
                             "and starts with a letter or digit."), code="invalid_username", field="username")
    return username


def check_password_strength(password: str, *hints: str, field: str = "password") -> None:
    """Refuse short and commonly used passwords with a sentence that says which; `field` names the input."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(_("A password needs at least %(count)s characters.", count=MIN_PASSWORD_LENGTH),
                           code="weak_password", field=field)
    if len(password) > 1024:
        raise InvalidInput(_("A password may have at most 1024 characters."), code="weak_password", field=field)
    result = zxcvbn(password[:100], user_inputs=[h for h in hints if h])
    if any(m.get("dictionary_name") == "passwords" and m["token"] == password for m in result["sequence"]):
        raise InvalidInput(_("That password is one of the most commonly used passwords; please choose another."),
                           code="weak_password", field=field)
    if result["score"] < 2:
        raise InvalidInput(_("That password is too easy to guess; add a few more unusual words."),
                           code="weak_password", field=field)


def create_user(email: str, username: str, password: str, *, role: str = "user", verified: bool = False,
                commit: bool = True, first_admin: bool = False) -> User:
    """Create an account after checking every field; Conflict if the email or username is taken.

    The `first_admin` of an instance gets the unlimited plan (where it still exists), everyone else the default.
    """
    email = normalise_email(email)
    username = check_username(username)
    check_password_strength(password, email.split("@")[0], username)
    taken = db.session.scalar(select(User).where(or_(User.email == email,
                                                     func.lower(User.username) == username.lower())))
    if taken is not None:
        raise Conflict(_("An account with that email or username already exists."), code="account_exists",
                       field="email")
    # The first admin owns the instance: no plan of theirs limits them.
    plan_name = "unlimited" if first_admin else instance.get("default_plan")
    plan = db.session.scalar(select(Plan).where(Plan.name == plan_name)) or \
        db.session.scalar(select(Plan).where(Plan.name == instance.get("default_plan")))
    user = User(email=email, username=username, password_hash=hash_password(password), role=role,
                is_verified=verified, plan=plan)
    db.session.add(user)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return user


def find_by_identifier(identifier: str) -> User | None:
    """The account whose email or username (any case) is `identifier`."""
    identifier = identifier.strip().lower()
    return db.session.scalar(select(User).where(or_(User.email == identifier,
                                                    func.lower(User.username) == identifier)))


def has_users() -> bool:
    """Whether any account exists yet (an empty instance must be set up first)."""
    return db.session.scalar(select(User.id).limit(1)) is not None


def create_first_admin(email: str, username: str, password: str) -> User:
    """The first account of an empty instance, as admin; Conflict once any account exists."""
    if has_users():
        raise Conflict(_("This Shoebox has already been set up."), code="already_set_up")
    return create_user(email, username, password, role="admin", verified=True, first_admin=True)


# --- signing up -------------------------------------------------------------------------------

VERIFY_LIFETIME = timedelta(hours=48)
RESET_LIFETIME = timedelta(hours=1)


def free_username(email: str) -> str:
    """A free username made from the address, for sign-ups that do not choose one."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "", normalise_email(email).split("@")[0])[:30].lstrip("._-") or "user"
    base = base if len(base) >= 3 else base + "user"
    candidate, n = base, 1
    while db.session.scalar(select(User.id).where(func.lower(User.username) == candidate.lower())):
        n += 1
        candidate = f"{base}{n}"
    return candidate


def signup(email: str, username: str, password: str, invite_code: str = "", *, first_name: str = "",
           last_name: str = "") -> User | None:
    """Create an account as the instance's registration setting allows, and send its confirmation email.

    Returns None, having emailed the owner instead, when the address already has an account:
    the person signing up is told the same thing either way.
    """
    first = not has_users()
    mode = instance.get("registration")
    if not first and mode == "closed":
        raise Forbidden(_("Registration is closed on this Shoebox. Ask its administrator for an account."),
                        code="registration_closed")
    from .oidc import password_login_on  # oidc builds on this module
    if not first and not password_login_on():
        raise Forbidden(_("Accounts here are made by signing in with single sign-on, not with a password."),
                        code="password_signup_off")
    email, username = normalise_email(email), check_username(username)
    first_name, last_name = person_name(first_name, "first_name"), person_name(last_name, "last_name")
    check_password_strength(password, email.split("@")[0], username)
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is not None:
        # The same costly work and one commit, as for a new account; the owner's email goes later.
        hash_password(password)
        audit.record("signup_with_existing_email", existing.id)
        db.session.commit()
        mail.run_later(_warn_of_signup, existing.id)
        return None
    invite = None if first or mode != "invite" else invites.consume_invite(invite_code)
    user = create_user(email, username, password, role="admin" if first else "user", verified=first, commit=False,
                       first_admin=first)
    user.first_name, user.last_name = first_name, last_name
    user.display_name = " ".join(filter(None, (first_name, last_name)))[:80]
    if invite is not None:
        invite.used_by = user.id
    audit.record("signup", user.id, invited=invite is not None)
    db.session.commit()
    if not first:
        mail.run_later(_send_verification_to, user.id)
    return user


def _warn_of_signup(user_id: int) -> None:
    """Tell an account's owner that someone tried to sign up with their address (runs after the request)."""
    user = db.session.get(User, user_id)
    if user is not None:
        notify(user, "signup_exists", _l("Someone tried to sign up with your email address"),
               login_link=absolute_url("auth.login"), reset_link=absolute_url("auth.forgot_password"))


def _send_verification_to(user_id: int) -> None:
    user = db.session.get(User, user_id)
    if user is not None and not user.is_verified:
        send_verification(user)
        db.session.commit()


def send_verification(user: User) -> None:
    """Email `user` a fresh link that confirms their address (valid 48 hours)."""
    raw = tokens.issue_account_token(user, "verify", VERIFY_LIFETIME)
    notify(user, "verify_email", _l("Confirm your email address"),
          link=absolute_url("auth.verify_email", token=raw), hours=48)


def resend_verification(email: str) -> None:
    """Send a new confirmation link if `email` belongs to an unconfirmed account; silent either way.

    The lookup happens after the request has answered, so the answer's timing tells nothing.
    """
    mail.run_later(_resend_verification, email)


def _resend_verification(email: str) -> None:
    user = _user_by_email(email)
    if user is not None and not user.is_verified and not user.is_blocked:
        send_verification(user)
        db.session.commit()


def verify_email(raw_token: str) -> User:
    """Confirm the address the token was sent to."""
    token = tokens.redeem_account_token(raw_token, "verify")
    user = db.session.get(User, token.user_id)
    user.is_verified = True
    audit.record("email_verified", user.id)
    db.session.commit()
    return user


# --- passwords --------------------------------------------------------------------------------

def forgot_password(email: str) -> None:
    """Email a single-use reset link (valid 1 hour) if `email` has an account; silent either way.

    The lookup happens after the request has answered, so the answer's timing tells nothing.
    """
    mail.run_later(_send_reset_link, email, audit.origin())


def _send_reset_link(email: str, origin: tuple[str, str]) -> None:
    from .oidc import password_login_allowed  # oidc builds on this module
    user = _user_by_email(email)
    if user is not None and not user.is_blocked and password_login_allowed(user):
        raw = tokens.issue_account_token(user, "reset", RESET_LIFETIME)
        notify(user, "reset_password", _l("Reset your password"),
               link=absolute_url("auth.reset_password", token=raw), minutes=60)
        audit.record("password_reset_requested", user.id, origin_of=origin)
        db.session.commit()


def reset_password(raw_token: str, new_password: str) -> User:
    """Set a new password with an emailed token; every session and token of the account ends."""
    token = tokens.redeem_account_token(raw_token, "reset")
    user = db.session.get(User, token.user_id)
    try:
        check_password_strength(new_password, user.email.split("@")[0], user.username)
    except InvalidInput:
        db.session.rollback()  # the link stays usable for a better password
        raise
    _set_password(user, new_password, "password_reset")
    user.is_verified = True  # the link arrived, so the address works
    db.session.commit()
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change the password after checking the current one; every other session and token ends."""
    if not password_matches(user, current_password):
        raise InvalidInput(_("The current password is not right."), code="wrong_password", field="current_password")
    check_password_strength(new_password, user.email.split("@")[0], user.username, field="new_password")
    _set_password(user, new_password, "password_changed")
    db.session.commit()


def _set_password(user: User, password: str, action: str) -> None:
    user.password_hash = hash_password(password)
    tokens.revoke_everything(user, action)
    audit.record(action, user.id)
    notify(user, "password_changed", _l("Your Shoebox password was changed"))


# --- profile ----------------------------------------------------------------------------------

# Embedding, override and isolate controls: in a name they would turn the text after it around on every
# page that lists people (an admin's user list), so one account could pose as another.
_DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def person_name(value: str | None, field: str) -> str:
    """A first or last name as kept: spaces collapsed, at most 80 characters (InvalidInput naming `field`)."""
    value = " ".join((value or "").split())
    if len(value) > 80:
        raise InvalidInput(_("A name has at most 80 characters."), code="invalid_name", field=field)
    _refuse_direction_controls(value, field)
    return value


def _refuse_direction_controls(value: str, field: str) -> None:
    if _DIRECTION_CONTROLS.search(value):
        raise InvalidInput(_("A name cannot contain characters that change the direction of text."),
                           code="invalid_name", field=field)


def update_profile(user: User, *, display_name: str | None = None, username: str | None = None,
                   locale: str | None = None, first_name: str | None = None, last_name: str | None = None) -> None:
    """Change what others see and the interface language; the caller has already authenticated `user`."""
    if first_name is not None:
        user.first_name = person_name(first_name, "first_name")
    if last_name is not None:
        user.last_name = person_name(last_name, "last_name")
    if display_name is not None:
        display_name = " ".join(display_name.split())
        if len(display_name) > 80:
            raise InvalidInput(_("A display name has at most 80 characters."), code="invalid_display_name",
                               field="display_name")
        _refuse_direction_controls(display_name, "display_name")
        user.display_name = display_name
    if username is not None and username.strip().lower() != user.username.lower():
        username = check_username(username)
        if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
            raise Conflict(_("That username is taken."), code="username_taken", field="username")
        user.username = username
    elif username is not None:
        user.username = check_username(username)
    if locale is not None:
        if locale not in ("", *SUPPORTED_LOCALES):
            raise InvalidInput(_("That language is not available."), code="invalid_locale", field="locale")
        user.locale = locale or None
    audit.record("profile_updated", user.id)
    db.session.commit()


def begin_two_factor(user: User) -> str:
    """Make (or keep) the secret `user` scans to set up two-factor login; returns it."""
    secret = twofactor.begin_enrolment(user)
    db.session.commit()
    return secret


def enable_two_factor(user: User, code: str) -> list[str]:
    """Turn two-factor login on once `code` checks out; returns the recovery codes, shown this once."""
    codes = twofactor.confirm_enrolment(user, code)
    _two_factor_changed(user, True)
    return codes


def disable_two_factor(user: User) -> None:
    """Turn two-factor login off; the caller has checked the password and a code."""
    twofactor.disable(user)
    _two_factor_changed(user, False)


def _two_factor_changed(user: User, enabled: bool) -> None:
    audit.record("two_factor_enabled" if enabled else "two_factor_disabled", user.id)
    notify(user, "two_factor_changed", _l("Two-factor login changed on your account"), enabled=enabled)
    db.session.commit()


def set_keep_location(user: User, keep: bool) -> None:
    """Whether `user`'s next uploads keep their GPS location; photos already stored stay as they are."""
    if user.keep_location != keep:
        user.keep_location = keep
        audit.record("keep_location_changed", user.id, keep_location=keep)
    db.session.commit()


def request_email_change(user: User, new_email: str, password: str) -> None:
    """Send a confirmation link to `new_email`; the address changes only once it is clicked."""
    if not password_matches(user, password):
        raise InvalidInput(_("The current password is not right."), code="wrong_password", field="password")
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise InvalidInput(_("That is already your email address."), code="same_email", field="email")
    if db.session.scalar(select(User.id).where(User.email == new_email)) is None:
        raw = tokens.issue_account_token(user, "email_change", VERIFY_LIFETIME, new_email=new_email)
        notify(user, "email_change", _l("Confirm your new email address"), to=new_email, new_email=new_email,
              link=absolute_url("auth.confirm_email_change", token=raw), hours=48)
    notify(user, "email_change_notice", _l("Your Shoebox email address is being changed"), new_email=new_email)
    audit.record("email_change_requested", user.id)
    db.session.commit()


def confirm_email_change(raw_token: str) -> User:
    """Switch the account to the address the token was sent to."""
    token = tokens.redeem_account_token(raw_token, "email_change")
    user = db.session.get(User, token.user_id)
    if db.session.scalar(select(User.id).where(User.email == token.new_email)) is not None:
        raise Conflict(_("Another account uses that address now."), code="email_taken", field="email")
    user.email, user.is_verified = token.new_email, True
    audit.record("email_changed", user.id)
    db.session.commit()
    return user


def set_blocked(user: User, blocked: bool, actor: User | None = None, *, commit: bool = True) -> None:
    """Block or unblock an account; blocking ends its sessions and tokens at once (keys are refused)."""
    user.is_blocked = blocked
    if blocked:
        tokens.revoke_everything(user, "blocked")
    audit.record("user_blocked" if blocked else "user_unblocked", actor.id if actor else None,
                 target=f"user:{user.id}")
    if commit:
        db.session.commit()


# --- helpers ----------------------------------------------------------------------------------

def _user_by_email(email: str) -> User | None:
    try:
        email = normalise_email(email)
    except InvalidInput:
        return None
    return db.session.scalar(select(User).where(User.email == email))


def notify(user: User, template: str, subject, to: str | None = None, **context) -> None:
    """Email `user` (or `to`) the message `template`, in the user's language (`subject` is lazy: `_l(...)`)."""
    mail.send(to or user.email, subject, template, locale=user.locale, name=user.shown_name, **context)


# --- scheduled work (registered by auth.init_app) ----------------------------------------------

def run_token_cleanup() -> None:
    """Forget refresh tokens and emailed links that expired more than a day ago."""
    tokens.expired_before(utcnow() - timedelta(days=1))
    db.session.commit()


def update_account(user: User, profile: dict, *, keep_location: bool | None = None, email: str | None = None,
                   password: str | None = None) -> None:
    """Change what was sent of the profile and the location setting; start an email change when asked."""
    if profile:
        update_profile(user, **profile)
    if keep_location is not None:
        set_keep_location(user, keep_location)
    if email is not None:
        request_email_change(user, email, password or "")
