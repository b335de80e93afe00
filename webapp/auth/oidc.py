"""Single sign-on through an OpenID Connect provider (Authelia, Authentik, Keycloak, Pocket ID, ...).

No HTTP here: the routes (auth/oidc_routes.py) run the Authlib redirect dance and hand this module the
provider's checked claims. An account is found by its identity, (issuer, subject), never by the email alone.
An existing account with the same email is linked only when the provider says the email is verified, the
admin allows linking and the account has no identity at this provider yet; so two people at the provider
never land in one account. New accounts follow the registration setting. Signing in through the provider
counts as the provider's authentication: Shoebox asks for no second factor of its own.
"""

from __future__ import annotations

import re

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from .. import audit, instance, mail
from ..config import ConfigError
from ..errors import Forbidden, InvalidInput, NotFound, Unavailable
from ..extensions import db
from ..models import Group, Identity, Plan, User, UserGroup, utcnow
from . import invites, logins, permissions
from .service import USERNAME, _send_verification_to, normalise_email

CLIENT = "oidc"  # the Authlib client's name, also the prefix of its keys in the session
NETWORK_SECONDS = 10  # discovery, token and userinfo requests to the provider
# How often a sign-in that lost a race starts again: the same person's other tab making the account first takes
# one more try (which finds that account), someone else taking the same username at that moment another.
SIGN_IN_ATTEMPTS = 3


class SignInRefused(Forbidden):
    """The provider vouched for someone Shoebox will not let in; the message says why and what to do."""

    code = "sso_refused"


def init_app(app: Flask) -> None:
    """Register the provider's client with discovery and PKCE (S256) when `oidc.issuer` is set."""
    settings = app.config["SHOEBOX"]["oidc"]
    if not settings["issuer"]:
        return
    for key in ("client_id", "client_secret"):
        if not settings[key]:
            raise ConfigError(f"Configuration key oidc.{key} must be set when oidc.issuer is.")
    oauth = OAuth(app)
    oauth.register(CLIENT, client_id=settings["client_id"], client_secret=settings["client_secret"],
                   server_metadata_url=settings["issuer"].rstrip("/") + "/.well-known/openid-configuration",
                   client_kwargs={"code_challenge_method": "S256", "default_timeout": NETWORK_SECONDS})
    app.extensions["shoebox_oidc"] = oauth.create_client(CLIENT)


def enabled() -> bool:
    """Whether single sign-on is configured on this instance."""
    return "shoebox_oidc" in current_app.extensions


def client():
    """The Authlib client of the configured provider."""
    if not enabled():
        raise NotFound(_("Single sign-on is not set up on this Shoebox."), code="sso_not_configured")
    return current_app.extensions["shoebox_oidc"]


def button_label() -> str:
    """The words on the sign-in button."""
    return current_app.config["SHOEBOX"]["oidc"]["button_label"]


def scopes(metadata: dict) -> str:
    """The scopes to ask for: openid, email and profile, and groups when a groups claim is wanted and the
    provider offers that scope (Keycloak refuses scopes it does not know)."""
    wanted = ["openid", "email", "profile"]
    if current_app.config["SHOEBOX"]["oidc"]["groups_claim"] and "groups" in metadata.get("scopes_supported", ()):
        wanted.append("groups")
    return " ".join(wanted)


def check_issuer(metadata: dict) -> None:
    """Refuse a discovery document that names another issuer than the one configured (OIDC Discovery 4.3)."""
    configured = current_app.config["SHOEBOX"]["oidc"]["issuer"].rstrip("/")
    if str(metadata.get("issuer", "")).rstrip("/") != configured:
        raise SignInRefused(_("The single sign-on provider describes itself as another issuer than the one "
                              "configured; ask the administrator to check oidc.issuer."), code="sso_wrong_issuer")


def discovered(provider) -> dict:
    """The provider's discovery document, checked: it names the configured issuer, and no unsigned ID token is taken.

    A document may list "none" among its ID token algorithms (OIDC Discovery allows it for the code flow), and
    joserfc then accepts an ID token with no signature at all; Authlib reads the algorithms from this same cached
    document when it checks the ID token, so "none" is struck from it here.
    """
    metadata = provider.load_server_metadata()
    check_issuer(metadata)
    algorithms = metadata.get("id_token_signing_alg_values_supported")
    if algorithms:
        metadata["id_token_signing_alg_values_supported"] = [a for a in algorithms if str(a).lower() != "none"]
    return metadata


def claims_from(provider, token: dict) -> dict:
    """The person's claims: the ID token's (Authlib has checked its signature, iss, aud, exp and nonce), with
    the userinfo endpoint's added when it answers for the same subject (Authelia keeps email there).

    ValueError when the provider sent no ID token: without one nothing was checked.
    """
    checked = token.get("userinfo")
    if not checked or not checked.get("sub") or not checked.get("iss"):
        raise ValueError("the token response has no checked ID token")
    claims = dict(checked)
    if provider.load_server_metadata().get("userinfo_endpoint"):
        extra = provider.userinfo(token=token)
        if str(extra.get("sub")) == str(claims["sub"]):  # OIDC Core 5.3.2: else it must not be used
            claims.update({k: v for k, v in extra.items() if k not in ("iss", "sub", "aud", "nonce")})
    return claims


# --- password sign-in -----------------------------------------------------------------------------

def password_login_on() -> bool:
    """Whether everyone may sign in with a password (Admin → Registration, else oidc.password_login).

    Only ever off while single sign-on is configured, so that nobody but admins is locked out without it.
    """
    stored = instance.get("password_login")
    on = current_app.config["SHOEBOX"]["oidc"]["password_login"] if stored is None else stored
    return on or not enabled()


def set_password_login(admin: User, on: bool) -> bool:
    """Turn password sign-in for everyone on or off (Admin → Registration); returns whether it changed.

    Checked, stored and audited as every instance setting is, the same as through the settings API.
    """
    from ..admin import instance_settings  # the settings build on this module

    return bool(instance_settings.change(admin, {"password_login": on}, target="registration"))


def password_login_allowed(user: User | None = None) -> bool:
    """Whether `user` may sign in with a password: everyone while it is on, administrators always (the way in
    when the provider is down)."""
    return password_login_on() or (user is not None and user.is_admin)


def password_login_refused() -> Forbidden:
    """The error for a password sign-in while only single sign-on is allowed."""
    return Forbidden(_("Password sign-in is turned off on this Shoebox: sign in with single sign-on instead."),
                     code="password_login_off", field="password")


# --- signing in -----------------------------------------------------------------------------------

def sign_in(claims: dict, invite_code: str = "") -> tuple[User, str]:
    """The account the provider's checked `claims` belong to, and how: "signed_in", "linked" or "created".

    SignInRefused (audited) when the claims lead to no account Shoebox may let in. Sign-ins at the same time
    (two tabs, a double-clicked button) end in the same one account and identity.
    """
    for _attempt in range(SIGN_IN_ATTEMPTS):
        try:
            user, how = _sign_in_once(claims, invite_code)
        except IntegrityError:
            # Another sign-in committed the same identity, email or username first: start again, and find it.
            db.session.rollback()
            continue
        if how == "created" and not user.is_verified:
            mail.run_later(_send_verification_to, user.id)  # only once the account is surely there
        return user, how
    raise Unavailable(_("Too many sign-ins arrived at the same moment. Try again in a moment."), code="sso_busy")


def _sign_in_once(claims: dict, invite_code: str) -> tuple[User, str]:
    """sign_in in one transaction, committed; IntegrityError (rolled back by the caller) when it lost a race."""
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    identity = _identity(issuer, subject)
    how = "signed_in"
    if identity is None:
        identity, how = _link_or_create(issuer, subject, claims, invite_code)
    _hold(identity.user_id)
    user = db.session.get(User, identity.user_id)
    if user.is_blocked:
        _refuse("blocked", _("This account has been blocked by an administrator."), user, issuer, subject)
    identity.email = str(claims.get("email") or "")[:254]
    identity.last_login_at = utcnow()
    _sync_groups(user, claims)
    logins.record_login(user, "sso")
    return user, how


def _identity(issuer: str, subject: str) -> Identity | None:
    return db.session.scalar(select(Identity).where(Identity.issuer == issuer, Identity.subject == subject))


def _hold(user_id: int) -> None:
    """Hold the account's row until this sign-in commits, before any of its identities is touched: sign-ins
    at once are taken in turn, always in that order (no deadlock). A no-op UPDATE, because it holds the row on
    PostgreSQL and the whole database on SQLite, where SELECT ... FOR UPDATE holds nothing."""
    db.session.execute(update(User).where(User.id == user_id).values(last_login_at=User.last_login_at)
                       .execution_options(synchronize_session=False))


def _link_or_create(issuer: str, subject: str, claims: dict, invite_code: str) -> tuple[Identity, str]:
    email = _email(claims, issuer, subject)
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is None:
        user = _create_account(email, claims, invite_code, issuer, subject)
        how = "created"
    else:
        # No unique key stops a second identity at this issuer: two sign-ins that would link this account
        # are taken in turn, and the second finds the first's identity.
        _hold(existing.id)
        made = _identity(issuer, subject)
        if made is not None:  # by this person's other sign-in, since this one looked
            return made, "signed_in"
        _check_linking(existing, claims, issuer, subject)
        user, how = existing, "linked"
    identity = Identity(user_id=user.id, issuer=issuer, subject=subject)
    db.session.add(identity)
    if how == "linked":
        audit.record("sso_linked", user.id, issuer=issuer, subject=subject)
    db.session.flush()
    return identity, how


def _email(claims: dict, issuer: str, subject: str) -> str:
    try:
        return normalise_email(str(claims.get("email") or ""))
    except InvalidInput:
        _refuse("no_email", _("The single sign-on provider did not share a usable email address, which a Shoebox "
                              "account needs. Ask the administrator to let Shoebox see your email address."),
                None, issuer, subject)


def _verified(claims: dict) -> bool:
    return claims.get("email_verified") is True or str(claims.get("email_verified")).lower() == "true"


def _check_linking(user: User, claims: dict, issuer: str, subject: str) -> None:
    """Refuse to join the provider's account to an existing Shoebox account unless that is safe and allowed."""
    if not current_app.config["SHOEBOX"]["oidc"]["allow_linking"]:
        _refuse("linking_off", _("A Shoebox account with your email address already exists, and this Shoebox "
                                 "does not join single sign-on to existing accounts. Sign in with your password, "
                                 "or ask the administrator."), user, issuer, subject)
    if not _verified(claims):
        _refuse("email_unverified", _("A Shoebox account with your email address already exists, but the single "
                                      "sign-on provider has not confirmed that the address is yours. Confirm it "
                                      "at the provider, or sign in with your password."), user, issuer, subject)
    taken = db.session.scalar(select(Identity.id).where(Identity.user_id == user.id, Identity.issuer == issuer))
    if taken is not None:
        _refuse("already_linked", _("The Shoebox account with your email address is already joined to another "
                                    "account at this single sign-on provider. Ask the administrator."),
                user, issuer, subject)


def _create_account(email: str, claims: dict, invite_code: str, issuer: str, subject: str) -> User:
    """A new account as the registration setting allows, with no password (it signs in through the provider)."""
    mode = instance.get("registration")
    if mode == "closed":
        _refuse("registration_closed", _("There is no Shoebox account for you yet, and registration is closed. "
                                         "Ask the administrator for an account."), None, issuer, subject)
    plan = db.session.scalar(select(Plan).where(Plan.name == instance.get("default_plan")))
    user = User(email=email, username=_free_username(claims, email), password_hash="", role="user",
                is_verified=_verified(claims), plan=plan, first_name=str(claims.get("given_name") or "")[:80],
                last_name=str(claims.get("family_name") or "")[:80])
    db.session.add(user)
    # The row first, the invite after: the same person's sign-in in another tab then waits for this row (and
    # finds the account once it is committed) rather than finding the invite used.
    db.session.flush()
    invite = None
    if mode == "invite":
        try:
            invite = invites.consume_invite(invite_code)
        except Forbidden:
            _refuse("invite_required", _("There is no Shoebox account for you yet, and a new account here needs "
                                         "an invite. Enter your invite code on the sign-up page and use the single "
                                         "sign-on button there."), None, issuer, subject)
        invite.used_by = user.id
    audit.record("signup", user.id, method="sso", issuer=issuer, invited=invite is not None)
    return user


def _free_username(claims: dict, email: str) -> str:
    """A free username made from preferred_username, else the email's local part."""
    wanted = str(claims.get("preferred_username") or "").split("@")[0] or email.split("@")[0]
    base = re.sub(r"[^A-Za-z0-9_.-]", "", wanted)[:34].lstrip("._-") or "user"
    base = base if len(base) >= 3 else base + "user"
    candidate, n = base, 1
    while db.session.scalar(select(User.id).where(func.lower(User.username) == candidate.lower())):
        n += 1
        candidate = f"{base}{n}"
    assert USERNAME.fullmatch(candidate), candidate
    return candidate


def _refuse(reason: str, sentence: str, user: User | None, issuer: str, subject: str):
    db.session.rollback()  # nothing half-made: no account, no identity, no used invite
    audit.record("sso_refused", user.id if user else None, target=f"{issuer} {subject}"[:200], reason=reason)
    db.session.commit()
    raise SignInRefused(sentence, code=f"sso_{reason}")


# --- groups ---------------------------------------------------------------------------------------

def _claimed_groups(claims: dict) -> set[str] | None:
    name = current_app.config["SHOEBOX"]["oidc"]["groups_claim"]
    if not name:
        return None
    value = claims.get(name) or []
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return {str(v).strip().lower() for v in values if str(v).strip()}


def _sync_groups(user: User, claims: dict) -> None:
    """Make `user` a member of exactly the admin's own groups the claim names (any case).

    Built-in groups are roles (users.role) and are left alone: the provider can neither make nor unmake an
    administrator, so no sign-in can lock the last administrator out.
    """
    claimed = _claimed_groups(claims)
    if claimed is None:
        return
    own = db.session.scalars(select(Group).where(Group.builtin.is_(None))).all()
    wanted = {g.id for g in own if g.name.lower() in claimed}
    current = set(db.session.scalars(select(UserGroup.group_id).where(UserGroup.user_id == user.id)))
    added, removed = wanted - current, current - wanted
    if removed:
        db.session.execute(delete(UserGroup).where(UserGroup.user_id == user.id, UserGroup.group_id.in_(removed)))
    db.session.add_all(UserGroup(user_id=user.id, group_id=gid) for gid in sorted(added))
    if added or removed:
        names = {g.id: g.name for g in own}
        audit.record("sso_groups_synced", user.id, target=f"user:{user.id}",
                     added=sorted(names[i] for i in added), removed=sorted(names.get(i, str(i)) for i in removed))
        permissions.forget()


# --- linked identities in Settings ----------------------------------------------------------------

def identities_of(user: User) -> list[Identity]:
    """The provider accounts joined to `user`, oldest first."""
    return db.session.scalars(select(Identity).where(Identity.user_id == user.id).order_by(Identity.id)).all()


def unlink(user: User, identity_id: int) -> None:
    """Part one of `user`'s provider accounts from it; only while the account has a password to sign in with."""
    identity = db.session.scalar(select(Identity).where(Identity.id == identity_id, Identity.user_id == user.id))
    if identity is None:
        raise NotFound(_("There is no such single sign-on account on yours."), code="identity_not_found")
    if not user.password_hash:
        raise Forbidden(_("Set a password first (Forgot your password? on the log-in page sends a link): "
                          "without one, this account could not sign in any more."), code="no_password")
    db.session.delete(identity)
    audit.record("sso_unlinked", user.id, issuer=identity.issuer, subject=identity.subject)
    db.session.commit()
