"""Forms for Admin → Plans and Admin → Groups; the services check every value (one place for the rules)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField, StringField, TextAreaField

from ..auth.permissions import PERMISSIONS
from . import plans

SIZE_UNITS = (("TB", 1024 ** 4), ("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024))


def size_text(size: int) -> str:
    """A size as the form shows it, exactly: 25 MB, 5 GB, 0, or bytes when no unit divides it."""
    for unit, factor in SIZE_UNITS:
        if size and size % factor == 0:
            return f"{size // factor} {unit}"
    return str(size)


class PlanForm(FlaskForm):
    name = StringField(_l("Name"))
    description = TextAreaField(_l("Description"))
    max_upload_bytes = StringField(plans.LIMITS["max_upload_bytes"][0])
    uploads_per_day = StringField(plans.LIMITS["uploads_per_day"][0])
    storage_bytes = StringField(plans.LIMITS["storage_bytes"][0])
    transforms_per_day = StringField(plans.LIMITS["transforms_per_day"][0])
    api_requests_per_hour = StringField(plans.LIMITS["api_requests_per_hour"][0])
    bandwidth_bytes_per_month = StringField(plans.LIMITS["bandwidth_bytes_per_month"][0])

    @classmethod
    def of(cls, plan=None) -> "PlanForm":
        """A fresh form: the plan's values, or zeros (unlimited) for a new one."""
        if plan is None:
            return cls(formdata=None, **{field: "0" for field in plans.LIMITS})
        values = {field: size_text(getattr(plan, field)) if is_size else str(getattr(plan, field))
                  for field, (_label, is_size) in plans.LIMITS.items()}
        return cls(formdata=None, name=plan.name, description=plan.description, **values)

    def values(self) -> dict:
        """What was sent, as the service takes it."""
        return {"name": self.name.data, "description": self.description.data or "",
                **{field: self[field].data for field in plans.LIMITS}}


class GroupForm(FlaskForm):
    name = StringField(_l("Name"))
    description = TextAreaField(_l("Description"))
    permissions = SelectMultipleField(_l("Permissions"), choices=[SelectChoice(code, code) for code in PERMISSIONS],
                                      validate_choice=False)
