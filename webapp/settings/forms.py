"""Forms of the settings page: one per section, each with its own prefix; every one carries a CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from ..config import SUPPORTED_LOCALES
from ..i18n import LANGUAGE_NAMES


class SectionForm(FlaskForm):
    """A form that shares its page with others: its field names and ids carry `section_prefix`."""

    section_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", self.section_prefix)
        super().__init__(*args, **kwargs)


class ProfileForm(SectionForm):
    section_prefix = "profile"
    display_name = StringField(_l("Display name"), validators=[Length(max=80)])
    first_name = StringField(_l("First name"), validators=[Length(max=80)])
    last_name = StringField(_l("Last name"), validators=[Length(max=80)])
    username = StringField(_l("Username"), validators=[DataRequired(_l("Choose a username.")), Length(max=40)])
    locale = SelectField(_l("Language"), choices=[SelectChoice("", _l("As the browser prefers"))]
                         + [SelectChoice(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES])


class PhotoSettingsForm(SectionForm):
    section_prefix = "photos"
    keep_location = BooleanField(_l("Keep the location of photos I upload"))
    uploads_public = BooleanField(_l("New uploads are public"))


class ChangeEmailForm(SectionForm):
    section_prefix = "email"
    email = EmailField(_l("New email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254)])
    password = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your password."))])


class ChangePasswordForm(SectionForm):
    section_prefix = "pw"
    # Named as the service and the API name them; the ids are the page's since the first version.
    current_password = PasswordField(_l("Current password"), id="pw-current",
                                     validators=[DataRequired(_l("Enter your password."))])
    new_password = PasswordField(_l("New password"), id="pw-password",
                                 validators=[DataRequired(_l("Choose a password."))])
    confirm = PasswordField(_l("Repeat new password"), validators=[
        DataRequired(_l("Repeat the password.")), EqualTo("new_password", _l("The two passwords differ."))])


class ConfirmTwoFactorForm(SectionForm):
    section_prefix = "totp"
    code = StringField(_l("Code from your app"), validators=[DataRequired(_l("Enter the code.")), Length(max=10)])


class DisableTwoFactorForm(SectionForm):
    section_prefix = "disable"
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))])
    code = StringField(_l("Code from your app, or a recovery code"),
                       validators=[DataRequired(_l("Enter the code.")), Length(max=20)])


KEY_VISIBILITY = [SelectChoice("account", _l("As my account’s setting")), SelectChoice("public", _l("Public")),
                  SelectChoice("private", _l("Private"))]


def chosen_visibility(choice: str) -> bool | None:
    """A key's default for uploads from a KEY_VISIBILITY choice: True, False, or None (the account's setting)."""
    return {"public": True, "private": False}.get(choice)


class ApiKeyForm(SectionForm):
    section_prefix = "key"
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the key a name.")), Length(max=80)])
    scope = SelectField(_l("Access"), choices=[SelectChoice("full", _l("Full access")),
                                               SelectChoice("read", _l("Read only")),
                                               SelectChoice("upload", _l("Upload only"))], default="full")
    uploads_public = SelectField(_l("Uploads through it are"), choices=KEY_VISIBILITY, default="account")


class IntegrationForm(SectionForm):
    """A screenshot tool's download (prefix: the tool): whether what it uploads is public."""

    uploads_public = SelectField(_l("What it uploads is"), choices=KEY_VISIBILITY, default="account")


class PasswordConfirmForm(SectionForm):
    section_prefix = "delete"
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))])
