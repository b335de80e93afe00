"""Forms of the setup, sign-up, log-in and reset pages; every one carries a CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional


class SetupForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254)])
    username = StringField(_l("Username"), validators=[DataRequired(_l("Choose a username.")), Length(max=40)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Choose a password."))])
    confirm = PasswordField(_l("Repeat password"), validators=[
        DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The two passwords differ."))])


class SignupForm(SetupForm):
    invite = StringField(_l("Invite code"), validators=[Optional(), Length(max=64)])


class LoginForm(FlaskForm):
    identifier = StringField(_l("Email or username"), validators=[DataRequired(_l("Enter your email or username."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))])
    next = HiddenField()


class SecondFactorForm(FlaskForm):
    code = StringField(_l("Code from your app, or a recovery code"),
                       validators=[DataRequired(_l("Enter the code.")), Length(max=20)])


class EmailForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254)])


class ResetForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(_l("Choose a password."))])
    confirm = PasswordField(_l("Repeat password"), validators=[
        DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The two passwords differ."))])


class EmptyForm(FlaskForm):
    """A form with nothing but its CSRF token, for buttons that POST."""
