"""Plans: what each may use, created, changed, retired and deleted by people holding manage_plans. No HTTP here.

A plan's limits are read from its row on every request (users.plan), so a change binds on each of its
people's next request. Lowering a limit below what someone already uses takes nothing away: storage
above the new allowance stays, and only new uploads are refused. A retired plan stays with the people
on it but is offered to no one new and cannot be the default plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import delete, exists, func, select

from .. import audit, instance, metering
from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..i18n import human_size
from ..models import Plan, User, utcnow

# Each limit: (what the form calls it, whether it is a size in bytes). 0 means unlimited for all of them.
LIMITS = {
    "max_upload_bytes": (_l("Largest file"), True),
    "uploads_per_day": (_l("Uploads per day"), False),
    "storage_bytes": (_l("Storage"), True),
    "transforms_per_day": (_l("Transformations per day"), False),
    "api_requests_per_hour": (_l("API requests per hour"), False),
    "bandwidth_bytes_per_month": (_l("Bandwidth per month"), True),
}
NAME_LENGTH, DESCRIPTION_LENGTH = 40, 200
MOST_BYTES = 2 ** 60  # an exbibyte: larger is a typing mistake
MOST_COUNT = 2 ** 31 - 1  # the counters' column type
UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
         "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3, "t": 1024 ** 4, "tb": 1024 ** 4,
         "tib": 1024 ** 4}
_SIZE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([a-zA-Z]*)\s*$")


@dataclass
class Listed:
    """A plan as the list shows it: the row, how many people are on it, and whether it is the default."""

    plan: Plan
    people: int
    is_default: bool


def parse_size(value, field: str) -> int:
    """Bytes from 25 MB, 5 GB, 1.5 GiB, 1048576 or 0 (binary units, as Shoebox shows sizes).

    InvalidInput naming `field` for anything else.
    """
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        amount = value
    else:
        match = _SIZE.match(str(value or ""))
        if not match or match.group(2).lower() not in UNITS:
            raise InvalidInput(_("%(field)s must be a size such as 25 MB or 5 GB, or 0 for unlimited.",
                                 field=field), code="invalid_size", field=field)
        amount = int(float(match.group(1).replace(",", ".")) * UNITS[match.group(2).lower()])
    if not 0 <= amount <= MOST_BYTES:
        raise InvalidInput(_("%(field)s must be from 0 (unlimited) to %(most)s.", field=field,
                             most=human_size(MOST_BYTES)), code="invalid_size", field=field)
    return amount


def parse_count(value, field: str) -> int:
    """A whole number from 0 (unlimited) up; InvalidInput naming `field`."""
    text = str(value).strip() if value is not None and not isinstance(value, bool) else ""
    if not text.isdigit() or int(text) > MOST_COUNT:
        raise InvalidInput(_("%(field)s must be a whole number from 0 (unlimited) to %(most)s.", field=field,
                             most=MOST_COUNT), code="invalid_count", field=field)
    return int(text)


def list_plans() -> list[Listed]:
    """Every plan, the ones in use first by name, with the number of people on each."""
    people = dict(db.session.execute(select(User.plan_id, func.count()).group_by(User.plan_id)).all())
    default = instance.get("default_plan")
    plans = db.session.scalars(select(Plan).order_by(Plan.retired_at.is_not(None), Plan.name)).all()
    return [Listed(plan, people.get(plan.id, 0), plan.name == default) for plan in plans]


def offered_plans() -> list[Plan]:
    """The plans someone may be put on or made the default: every one not retired, by name."""
    return list(db.session.scalars(select(Plan).where(Plan.retired_at.is_(None)).order_by(Plan.name)))


def get_plan(plan_id: int) -> Plan:
    """One plan; NotFound if there is none with that id."""
    plan = db.session.get(Plan, plan_id) if 0 <= plan_id <= MOST_COUNT else None
    if plan is None:
        raise NotFound(_("There is no such plan."), code="plan_not_found")
    return plan


def people_on(plan: Plan) -> int:
    """How many accounts the plan holds."""
    return db.session.scalar(select(func.count()).select_from(User).where(User.plan_id == plan.id)) or 0


def describe(plan: Plan) -> Listed:
    """One plan as the list shows it."""
    return Listed(plan, people_on(plan), plan.name == instance.get("default_plan"))


def _cleaned(values: dict, plan: Plan | None) -> dict:
    """The given fields checked and converted; InvalidInput naming the first bad one."""
    cleaned = {}
    if "name" in values or plan is None:
        name = " ".join(str(values.get("name") or "").split())
        if not name or len(name) > NAME_LENGTH:
            raise InvalidInput(_("name must be 1 to %(most)s characters.", most=NAME_LENGTH), code="invalid_name",
                               field="name")
        taken = db.session.scalar(select(Plan.id).where(func.lower(Plan.name) == name.lower()))
        if taken is not None and (plan is None or taken != plan.id):
            raise Conflict(_("Another plan is already called %(name)s.", name=name), code="plan_name_taken",
                           field="name")
        cleaned["name"] = name
    if "description" in values:
        description = str(values.get("description") or "").strip()
        if len(description) > DESCRIPTION_LENGTH:
            raise InvalidInput(_("description has at most %(most)s characters.", most=DESCRIPTION_LENGTH),
                               code="invalid_description", field="description")
        cleaned["description"] = description
    for field, (_label, is_size) in LIMITS.items():
        if field in values:
            cleaned[field] = (parse_size if is_size else parse_count)(values[field], field)
    return cleaned


def _facts(plan: Plan) -> dict:
    return {"name": plan.name, "description": plan.description, **{field: getattr(plan, field) for field in LIMITS}}


def create_plan(actor: User, values: dict) -> Plan:
    """A new plan from `values` (name, description and the limits; a limit not given is 0, unlimited)."""
    cleaned = _cleaned({"description": "", **{field: 0 for field in LIMITS}, **values}, None)
    plan = Plan(**cleaned)
    db.session.add(plan)
    db.session.flush()
    audit.record("plan_created", actor.id, target=f"plan:{plan.id}", **_facts(plan))
    db.session.commit()
    return plan


def update_plan(actor: User, plan_id: int, values: dict) -> Plan:
    """Change the fields given in `values`; binds on each of its people's next request. Returns the plan."""
    plan = get_plan(plan_id)
    cleaned = _cleaned(values, plan)
    before = _facts(plan)
    changed = {key: value for key, value in cleaned.items() if before[key] != value}
    if not changed:
        return plan
    if "name" in changed and instance.get("default_plan") == plan.name:
        instance.put("default_plan", changed["name"])  # the setting names the plan: it follows the rename
    for key, value in changed.items():
        setattr(plan, key, value)
    audit.record("plan_changed", actor.id, target=f"plan:{plan.id}", name=plan.name,
                 before={key: before[key] for key in changed}, after=changed)
    db.session.commit()
    metering.forget()  # on every instance
    return plan


def retire_plan(actor: User, plan_id: int) -> Plan:
    """Offer the plan to no one new; its people keep it. The default plan cannot be retired."""
    plan = get_plan(plan_id)
    if plan.retired_at is not None:
        return plan
    if instance.get("default_plan") == plan.name:
        raise Conflict(_("%(name)s is the plan new people get; make another plan the default before retiring it.",
                         name=plan.name), code="plan_is_default")
    plan.retired_at = utcnow()
    audit.record("plan_retired", actor.id, target=f"plan:{plan.id}", name=plan.name)
    db.session.commit()
    return plan


def restore_plan(actor: User, plan_id: int) -> Plan:
    """Offer a retired plan again."""
    plan = get_plan(plan_id)
    if plan.retired_at is None:
        return plan
    plan.retired_at = None
    audit.record("plan_restored", actor.id, target=f"plan:{plan.id}", name=plan.name)
    db.session.commit()
    return plan


def delete_plan(actor: User, plan_id: int) -> None:
    """Delete a plan nobody is on that is not the default; Conflict, with the reason, otherwise."""
    plan = get_plan(plan_id)
    if instance.get("default_plan") == plan.name:
        raise Conflict(_("%(name)s is the plan new people get, so it cannot be deleted.", name=plan.name),
                       code="plan_is_default")
    audit.record("plan_deleted", actor.id, target=f"plan:{plan.id}", **_facts(plan))
    # Nobody may be put on it between the check and the delete: the statement checks again.
    deleted = db.session.execute(delete(Plan).where(Plan.id == plan.id, ~exists().where(User.plan_id == plan.id)))
    if deleted.rowcount != 1:
        db.session.rollback()
        people = people_on(plan)
        raise Conflict(ngettext("%(num)s person is on %(name)s; move them to another plan before deleting it.",
                                "%(num)s people are on %(name)s; move them to another plan before deleting it.",
                                people, name=plan.name), code="plan_in_use")
    db.session.commit()
