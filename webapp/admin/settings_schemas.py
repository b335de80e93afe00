"""What Admin → Settings takes in: a form per section of the page, and the API's models.

The forms only carry the values (and CSRF); webapp.admin.instance_settings checks them, for the page and
the API alike, so a bad value gets the same sentence, naming its field, from either door.
"""

from __future__ import annotations

from typing import Literal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from pydantic import Field
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.widgets import CheckboxInput, ListWidget

from ..media.service import IMAGE_TYPES
from ..schemas import Body, Out

ImageType = Literal["jpeg", "png", "gif", "webp", "avif", "heic", "bmp", "tiff", "video"]
assert set(ImageType.__args__) == set(IMAGE_TYPES)  # one list, in media.service
SmtpSecurity = Literal["none", "starttls", "ssl"]


# --- the page's forms --------------------------------------------------------------------------------

class GeneralForm(FlaskForm):
    site_name = StringField(_l("Site name"))
    base_url = StringField(_l("Public address"))


class AccountsForm(FlaskForm):
    default_plan = SelectField(_l("Plan of new accounts"), choices=[], validate_choice=False)
    signup_per_hour = StringField(_l("Sign-ups per hour from one address"))
    login_per_hour = StringField(_l("Logins per hour from one address"))


class FilesForm(FlaskForm):
    allowed_image_types = SelectMultipleField(
        _l("Image types"), choices=[SelectChoice(key, name) for key, (_format, name) in IMAGE_TYPES.items()],
        validate_choice=False, widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    allow_any_file = BooleanField(_l("Other files too"))
    analytics_retention_days = StringField(_l("Keep photo views for (days)"))
    audit_retention_days = StringField(_l("Keep the audit log for (days)"))


class EmailForm(FlaskForm):
    smtp_host = StringField(_l("SMTP server"))
    smtp_port = StringField(_l("Port"))
    smtp_security = SelectField(_l("Connection security"), choices=[
        SelectChoice("starttls", _l("STARTTLS (usually port 587)")), SelectChoice("ssl", _l("TLS (usually port 465)")),
        SelectChoice("none", _l("None (port 25, only inside a trusted network)"))], validate_choice=False)
    smtp_username = StringField(_l("User name"))
    smtp_password = PasswordField(_l("Password"))  # never rendered back: PasswordField leaves its value out
    smtp_sender = StringField(_l("From address"))


class TestEmailForm(FlaskForm):
    """Only a button (and its CSRF token)."""


FORMS = {"general": GeneralForm, "accounts": AccountsForm, "files": FilesForm, "email": EmailForm}


# --- the API -----------------------------------------------------------------------------------------

class Settings(Out):
    site_name: str = Field(description="Shown in page titles, the header and emails.")
    base_url: str = Field(description="The public address links in emails and share codes are built on; empty: "
                                      "the config file's `server.base_url`.")
    effective_base_url: str = Field(description="The public address in effect (`base_url`, else the config's).")
    registration: Literal["open", "invite", "closed"]
    unverified_may_upload: bool
    password_login: bool = Field(description="Whether everyone may sign in with a password; when false, only "
                                             "administrators may, and everyone else signs in with single sign-on.")
    default_plan: str = Field(description="The name of the plan new accounts get (a plan that is not retired).")
    signup_per_hour: int = Field(description="Sign-ups allowed per hour from one client address.")
    login_per_hour: int = Field(description="Login attempts allowed per hour from one client address.")
    allowed_image_types: list[ImageType] = Field(description="The image types uploads may be; `video` accepts "
                                                             "MP4, WebM and MOV videos.")
    allow_any_file: bool = Field(description="Whether files that are not images are accepted too.")
    hotlink_allowed_sites: list[str] = Field(description="Host names whose pages may show public photos; empty: "
                                                         "every site.")
    analytics_retention_days: int = Field(description="Days photo views are kept.")
    audit_retention_days: int = Field(description="Days audit events are kept; 0: forever.")
    smtp_host: str = Field(description="The SMTP server; empty: the config file's `[mail]` section.")
    smtp_port: int
    smtp_security: SmtpSecurity
    smtp_username: str
    smtp_password_set: bool = Field(description="Whether an SMTP password is stored (it is never returned).")
    smtp_sender: str = Field(description="The From address; empty: the config file's `mail.sender`.")

    @classmethod
    def of(cls, values: dict, effective_base_url: str) -> Settings:
        return cls(**values, effective_base_url=effective_base_url)


class SettingsChanges(Body):
    """Fields left out keep their value; each given one is checked, and nothing is stored unless all are good."""

    site_name: str = Field(None, min_length=1, max_length=60)
    base_url: str = Field(None, max_length=300, description="`\"\"` goes back to the config file's address.")
    registration: Literal["open", "invite", "closed"] = None
    unverified_may_upload: bool = None
    password_login: bool = Field(None, description="`false` only while single sign-on is set up (`[oidc]`).")
    default_plan: str = Field(None, max_length=40)
    signup_per_hour: int = Field(None, ge=1, le=10_000)
    login_per_hour: int = Field(None, ge=1, le=10_000)
    allowed_image_types: list[ImageType] = Field(None, min_length=1)
    allow_any_file: bool = None
    hotlink_allowed_sites: list[str] = Field(None, max_length=200)
    analytics_retention_days: int = Field(None, ge=1, le=3650)
    audit_retention_days: int = Field(None, ge=0, le=36_500)
    smtp_host: str = Field(None, max_length=253, description="`\"\"` goes back to the config file's server.")
    smtp_port: int = Field(None, ge=1, le=65535)
    smtp_security: SmtpSecurity = None
    smtp_username: str = Field(None, max_length=200)
    smtp_password: str = Field(None, max_length=200, description="Write-only; `\"\"` removes it.")
    smtp_sender: str = Field(None, max_length=200)

    def given(self) -> dict:
        """The fields the request sent, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}
