"""The share dialog's form: one for a new link and for changing one, with CSRF like every form.

The form speaks the service's names (label, expires_at, max_views, upload_max_bytes...), so an
InvalidInput from the service lands beside the input it names (errors.attach_error).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms import TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from ..models import ShareLink, utcnow
from . import service

MEGABYTE = 1024 * 1024  # as human_size counts, so the limit reads back as it was typed
KEEP = "keep"
PREFIX = "share"  # the dialog opens on other pages: its ids (share-label, share-password) must not clash
EXPIRY_WORDS = {"1h": _l("1 hour"), "1d": _l("1 day"), "7d": _l("7 days"), "30d": _l("30 days"),
                "never": _l("Never"), "date": _l("On a date…")}
UPLOAD_FIELDS = ("allow_upload", "upload_max_files", "upload_max_bytes")


class MegabytesField(IntegerField):
    """A size typed in megabytes whose data is bytes, as the service takes it."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None:
            self.data *= MEGABYTE

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return str(self.data // MEGABYTE) if self.data is not None else ""


def _limit_field(label) -> IntegerField:
    return IntegerField(label, validators=[Optional(), NumberRange(min=1, message=_l(
        "A whole number of at least 1, or empty for no limit."))], render_kw={"min": 1, "inputmode": "numeric"})


class ShareForm(FlaskForm):
    """Every setting of a link. Build it with for_new() or for_link(), which drop what does not apply."""

    label = StringField(_l("Label"), validators=[Length(max=service.MAX_LABEL)],
                        render_kw={"maxlength": service.MAX_LABEL, "autocomplete": "off"})
    expiry = SelectField(_l("Expires"), default="never")
    expires_at = DateField(_l("Last day"), validators=[Optional()])
    tz = HiddenField()  # the browser's time zone (shares-owner.js), for the end of that day
    password = PasswordField(_l("Password"), validators=[Length(max=1024)],
                             render_kw={"autocomplete": "new-password"})
    remove_password = BooleanField(_l("Remove the password"))
    max_views = _limit_field(_l("View limit"))
    max_downloads = _limit_field(_l("Download limit"))
    allow_download = BooleanField(_l("Allow downloading the originals"), default=True)
    show_metadata = BooleanField(_l("Show camera and date"))
    note = TextAreaField(_l("Note to the recipient"), validators=[Length(max=service.MAX_NOTE)],
                         render_kw={"maxlength": service.MAX_NOTE, "rows": 3})
    allow_upload = BooleanField(_l("Let visitors add photos to this album"))
    upload_max_files = _limit_field(_l("At most this many files"))
    upload_max_bytes = MegabytesField(_l("At most this much in all (MB)"), validators=[Optional(), NumberRange(
        min=MEGABYTE, message=_l("A whole number of at least 1, or empty for no limit."))],
        render_kw={"min": 1, "inputmode": "numeric"})

    @classmethod
    def for_new(cls, kind: str, formdata=None) -> ShareForm:
        """The form for a new link to a photo, an album or a selection (`kind`)."""
        form = cls(formdata=formdata, prefix=PREFIX)
        form.expiry.choices = list(EXPIRY_WORDS.items())
        del form.remove_password
        if kind != "album":
            for name in UPLOAD_FIELDS:
                delattr(form, name)
        return form

    @classmethod
    def for_link(cls, link: ShareLink, formdata=None) -> ShareForm:
        """The form for changing `link`, filled with its settings (never its password)."""
        kept = link.expires_at is not None
        form = cls(formdata=formdata, prefix=PREFIX, obj=link, expiry=KEEP if kept else "never",
                   expires_at=link.expires_at.date() if kept else None)
        form.expiry.choices = list(EXPIRY_WORDS.items())
        if kept:
            when = _("%(time)s UTC", time=format_datetime(link.expires_at, "short"))
            form.expiry.choices.insert(0, (KEEP, _("As it is: %(time)s", time=when)))
        if link.password_hash is None:
            del form.remove_password
        if link.kind != "album":
            for name in UPLOAD_FIELDS:
                delattr(form, name)
        return form

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.expiry.data == "date" and self.expires_at.data is None and not self.expires_at.errors:
            self.expires_at.errors.append(_("Choose the last day the link works."))
            valid = False
        return valid

    def options(self, *, editing: bool = False) -> service.Options:
        """The settings as the service takes them; when editing, what the form leaves alone stays unchanged."""
        options = service.unchanged() if editing else service.Options()
        for name in ("label", "max_views", "max_downloads", "allow_download", "show_metadata", "note",
                     *UPLOAD_FIELDS):
            if name in self:
                setattr(options, name, self[name].data)
        if self.expiry.data != KEEP:
            options.expires_at = self._expiry()
        if "remove_password" in self and self.remove_password.data:
            options.password = ""
        elif self.password.data or not editing:  # an empty password field keeps the password
            options.password = self.password.data or None
        return options

    def _expiry(self) -> datetime | None:
        if self.expiry.data == "never":
            return None
        if self.expiry.data == "date":
            return end_of_day(self.expires_at.data, self.tz.data)
        return utcnow() + timedelta(seconds=service.EXPIRY_CHOICES[self.expiry.data])


def end_of_day(day: date, zone_name: str | None) -> datetime:
    """Midnight after `day` in the browser's time zone (UTC when it sent none, or one we do not know)."""
    try:
        zone = ZoneInfo(zone_name) if zone_name else timezone.utc
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError; odd names are ValueErrors
        zone = timezone.utc
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(timezone.utc)
