"""The JSON of accounts: what the API accepts to sign up, log in and change an account, and how it shows
an account, its tokens and its API keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask_babel import gettext as _
from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from .. import models
from ..config import SUPPORTED_LOCALES
from ..errors import Forbidden, InvalidInput
from ..schemas import Body, Message, Out, RequiredText, Timestamp, iso, schema_extra

USERNAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$"
# The service judges a new password (length, guessability) and says why it is weak (weak_password).
NewPassword = RequiredText
NEW_PASSWORD = schema_extra(minLength=10, maxLength=1024)
PROTECTED_FIELDS = {"role", "plan", "plan_id", "is_verified", "is_blocked", "storage_used", "id", "email_verified",
                    "quota", "totp_secret", "session_epoch", "created_at"}


# --- requests ---------------------------------------------------------------------------------

# An optional field is left out, never null: `T = Field(None)` refuses an explicit null.

class Signup(Body):
    """Other fields are ignored here, as they always were: sign-up clients in the wild send extra ones."""

    model_config = ConfigDict(extra="ignore", strict=True)

    email: RequiredText = Field(max_length=254, examples=["kim@example.com"], json_schema_extra={"format": "email"})
    password: NewPassword = Field(**NEW_PASSWORD, examples=["correct horse battery staple"])
    username: str = Field(None, description="Optional; made from the address when left out.",
                                 examples=["kim"], **schema_extra(pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]{2,39})?$"))
    invite: str = Field(None, description="Needed while registration is invite-only.")
    first_name: str = Field(None, examples=["Kim"], **schema_extra(maxLength=80))
    last_name: str = Field(None, examples=["Lee"], **schema_extra(maxLength=80))


class Login(Body):
    identifier: RequiredText = Field(description="Email address or username (or send `email`).", examples=["kim"])
    password: RequiredText = Field(examples=["correct horse battery staple"])
    otp: str | None = Field(None, description="Code from the authenticator app, or a recovery code, for "
                                              "two-factor accounts.", examples=["123456"])
    email: str = Field(None, description="The email address, as clients of other APIs send it: the same as "
                                         "`identifier`.", examples=["kim@example.com"])

    @model_validator(mode="before")
    @classmethod
    def email_is_an_identifier(cls, data):
        """`{"email", "password"}` is a login by email: clients written for other APIs send it that way."""
        if isinstance(data, dict) and "identifier" not in data and isinstance(data.get("email"), str):
            return {**data, "identifier": data["email"]}
        return data


class Refresh(Body):
    refresh_token: RequiredText


class Logout(Body):
    refresh_token: str = Field(None, description="Also end the login this refresh token belongs to.")


class EmailAddress(Body):
    email: RequiredText = Field(max_length=254, examples=["kim@example.com"])


class EmailedToken(Body):
    token: RequiredText = Field(description="The token from the emailed link.")


class ResetPassword(Body):
    token: RequiredText = Field(description="The token from the emailed link.")
    password: NewPassword = Field(**NEW_PASSWORD)


class ChangePassword(Body):
    current_password: RequiredText
    new_password: NewPassword = Field(**NEW_PASSWORD)


class AccountChanges(Body):
    """Only the fields sent change. `role`, `plan`, `is_verified` and other protected fields answer 403
    `field_not_allowed`."""

    display_name: str = Field(None, **schema_extra(maxLength=80), examples=["Kim"])
    first_name: str = Field(None, **schema_extra(maxLength=80), examples=["Kim"])
    last_name: str = Field(None, **schema_extra(maxLength=80), examples=["Lee"])
    username: str = Field(None, **schema_extra(pattern=USERNAME))
    locale: str = Field(None, **schema_extra(enum=["", *SUPPORTED_LOCALES]))
    keep_location: Annotated[Any, WithJsonSchema({"type": "boolean"})] = Field(
        None, description="Whether uploads from now on keep their GPS location; photos already stored do not change.")
    email: str = Field(None, description="A new address: needs `password`; changes when the emailed "
                                                "link is opened.")
    password: str = Field(None, description="The current password, to change the address.")

    @model_validator(mode="before")
    @classmethod
    def refuse_protected_fields(cls, data):
        """Fields only an admin may change are refused as such (403), not as unknown."""
        forbidden = sorted(set(data) & PROTECTED_FIELDS) if isinstance(data, dict) else []
        if forbidden:
            raise Forbidden(_("You cannot change %(fields)s on your own account.", fields=", ".join(forbidden)),
                            code="field_not_allowed", field=forbidden[0])
        return data

    @field_validator("keep_location", mode="before")
    @classmethod
    def keep_location_is_a_flag(cls, value):
        # Clients match this refusal exactly, as it was before errors named their field: its sentence names it.
        if not isinstance(value, bool):
            raise InvalidInput(_("keep_location must be true or false."), code="invalid_field")
        return value

    def profile(self) -> dict:
        """The profile fields that were sent."""
        return self.model_dump(include={"display_name", "first_name", "last_name", "username", "locale"},
                               exclude_unset=True)


class DeletionRequest(Body):
    password: RequiredText


class NewApiKey(Body):
    """`name` or `key_name` (as clients of the reference API send it) names the key; one of them is needed."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["name"]}, {"required": ["key_name"]}]})

    name: RequiredText = Field(None, examples=["ShareX"], **schema_extra(maxLength=80))
    key_name: RequiredText = Field(None, description="Another spelling of `name`.", **schema_extra(maxLength=80))
    rate_limit_per_hour: int = Field(0, description="Requests per hour for this key; 0: the plan's limit.",
                                     **schema_extra(minimum=0, maximum=1_000_000))
    scope: Literal["upload", "read", "full"] = Field(
        "full", description="What the key may do: `upload` (upload photos and files and read the upload quota, "
                            "nothing else: for screenshot tools), `read` (GET and HEAD only) or `full`.")
    uploads_public: bool | None = Field(None, description="Whether uploads through this key are public when a "
                                                          "request does not say `is_public`; null or left out: "
                                                          "as the account's setting.")

    @model_validator(mode="after")
    def one_name(self):
        if (self.name is None) == (self.key_name is None):
            raise InvalidInput(_("Name the key with name (or key_name), once."), code="missing_field", field="name")
        return self

    @property
    def key_label(self) -> str:
        """The name given, whichever field carried it."""
        return self.name if self.name is not None else self.key_name


# --- responses --------------------------------------------------------------------------------

class User(Out):
    id: int
    email: str = Field(json_schema_extra={"format": "email"})
    username: str
    display_name: str
    first_name: str
    last_name: str
    role: Literal["admin", "user", "guest"]
    plan: str | None
    is_verified: bool
    two_factor: bool
    locale: str | None
    keep_location: bool = Field(description="New uploads keep their GPS location (in the stored original, "
                                            "and shown to the owner); false removes it.")
    created_at: Timestamp
    deletion_scheduled_for: Timestamp | None

    @classmethod
    def of(cls, user: models.User) -> User:
        """An account as the API shows it to its owner."""
        return cls(id=user.id, email=user.email, username=user.username, display_name=user.display_name,
                   first_name=user.first_name, last_name=user.last_name, role=user.role, plan=user.plan.name if user.plan else None, is_verified=user.is_verified,
                   two_factor=user.has_two_factor, locale=user.locale, keep_location=user.keep_location,
                   created_at=iso(user.created_at), deletion_scheduled_for=iso(user.delete_scheduled_for))


class Verified(Out):
    user: User


class TokenPair(Out):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds the access token lives (900).", examples=[900])


class Tokens(TokenPair):
    user: User


class Registered(Tokens):
    """A new account, as /auth/register answers: the tokens, and the same in the shape older clients read."""

    success: Literal[True] = True
    token: str = Field(description="The access token again, for clients that read `token`.")


class PasswordChanged(TokenPair, Message):
    """The caller's new tokens: every other session and token ended."""


class DeletionScheduled(Out):
    deletion_scheduled_for: Timestamp


class ApiKey(Out):
    id: int
    name: str
    prefix: str = Field(description="The first characters, to recognise it.")
    rate_limit_per_hour: int = Field(description="0: the plan's limit.")
    scope: Literal["upload", "read", "full"] = Field(description="What the key may do (see createApiKey).")
    uploads_public: bool | None = Field(description="Whether uploads through it are public when a request does "
                                                    "not say; null: as the account's setting.")
    created_at: Timestamp
    last_used_at: Timestamp | None

    @classmethod
    def of(cls, api_key: models.ApiKey, **extra) -> ApiKey:
        """A key as the API shows it (never the key itself, unless `extra` carries it once)."""
        key = api_key
        return cls(id=key.id, name=key.name, prefix=key.prefix, rate_limit_per_hour=key.rate_limit_per_hour,
                   scope=key.scope, uploads_public=key.uploads_public, created_at=iso(key.created_at),
                   last_used_at=iso(key.last_used_at), **extra)


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The key itself, shown only in this answer.")


class ApiKeyList(Out):
    items: list[ApiKey]
    next_cursor: None = Field(description="Always null: every key is on the one page.")
