"""Forms for the admin pages; every one carries a CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectChoice, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

REGISTRATION_CHOICES = [SelectChoice("open", _l("Open to anyone")), SelectChoice("invite", _l("Invite only")),
                        SelectChoice("closed", _l("Closed"))]


class RegistrationForm(FlaskForm):
    registration = RadioField(_l("Who may sign up"), choices=REGISTRATION_CHOICES,
                              validators=[InputRequired(_l("Choose who may sign up."))])
    unverified_may_upload = BooleanField(_l("Accounts may upload before they confirm their email address"))


class InviteForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Optional(), Length(max=120)])
    days = IntegerField(_l("Valid for (days)"), default=14, validators=[
        InputRequired(_l("Enter a number of days from 1 to 90.")),
        NumberRange(min=1, max=90, message=_l("Enter a number of days from 1 to 90."))])


class HotlinkForm(FlaskForm):
    hotlink_allowed_sites = TextAreaField(_l("Sites that may show public photos on their pages"))
