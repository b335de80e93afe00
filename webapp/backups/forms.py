"""Forms of the backup pages; every one carries a CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import IntegerField, RadioField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange

FREQUENCY_CHOICES = [SelectChoice("off", _l("Off")), SelectChoice("daily", _l("Every day")),
                     SelectChoice("weekly", _l("Every week"))]
WEEKDAY_CHOICES = [SelectChoice(str(number), name) for number, name in enumerate(
    (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"), _l("Sunday")))]
HOUR_CHOICES = [SelectChoice(str(hour), f"{hour:02d}:00") for hour in range(24)]


class WholeNumberField(IntegerField):
    """An IntegerField whose unreadable input is left to its NumberRange, so the person reads one sentence."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None


def _keep(label, high: int) -> WholeNumberField:
    message = _l("Enter a whole number from 0 to %(high)s.", high=high)
    return WholeNumberField(label, validators=[NumberRange(min=0, max=high, message=message)])


class ScheduleForm(FlaskForm):
    """When scheduled backups run (UTC) and how many each of retention's buckets keeps."""

    frequency = SelectField(_l("How often"), choices=FREQUENCY_CHOICES)
    hour = SelectField(_l("At (UTC)"), choices=HOUR_CHOICES)
    weekday = SelectField(_l("On (weekly backups)"), choices=WEEKDAY_CHOICES)
    keep_daily = _keep(_l("Keep daily"), 365)
    keep_weekly = _keep(_l("Keep weekly"), 520)
    keep_monthly = _keep(_l("Keep monthly"), 240)


class ArchiveUploadForm(FlaskForm):
    """An archive to restore from (the service checks what it is)."""

    file = FileField(_l("Backup archive (.zip)"))


class StoredArchiveForm(FlaskForm):
    """An instance archive already in the backup store, chosen on the setup page."""

    # The service checks the key against the store itself, so the choices only draw the list.
    key = RadioField(_l("Archives in the backup folder"), choices=[], validate_choice=False,
                     validators=[InputRequired(_l("Choose one of the archives."))])
