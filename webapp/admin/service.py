"""What the admin pages do: instance settings, the mail outbox and the jobs list (invites are auth.invites).
No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import audit, instance, jobs
from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..models import Job, OutboxMessage, User

OUTBOX_PAGE_SIZE = 50
JOBS_SHOWN = 50  # of each state on the jobs page


def save_registration(admin: User, registration: str, unverified_may_upload: bool) -> bool:
    """Set who may sign up and whether unverified accounts may upload; returns whether anything changed.
    (Which files are accepted is on the Settings page, webapp/admin/instance_settings.py.)"""
    if registration not in instance.REGISTRATION_MODES:
        raise InvalidInput(_("Choose open, invite only or closed."), code="invalid_registration",
                           field="registration")
    wanted = {"registration": registration, "unverified_may_upload": bool(unverified_may_upload)}
    changes = {key: [instance.get(key), value] for key, value in wanted.items() if instance.get(key) != value}
    if not changes:
        return False
    for key, (_old, new) in changes.items():
        instance.put(key, new)
    audit.record("settings_changed", admin.id, target="registration", changes=changes)
    db.session.commit()
    return True


def outbox_page(before: int | None = None, size: int = OUTBOX_PAGE_SIZE) -> tuple[list[OutboxMessage], int | None]:
    """One page of the outbox, newest first, and the `before` cursor of the next page (None on the last)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(size + 1)
    if before is not None:
        query = query.where(OutboxMessage.id < before)
    messages = db.session.scalars(query).all()
    if len(messages) > size:
        messages = messages[:size]
        return messages, messages[-1].id
    return messages, None


def get_outbox_message(message_id: int) -> OutboxMessage:
    """One outbox message; NotFound if there is none with that id."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(_("There is no such message in the outbox."), code="message_not_found")
    return message


# --- jobs ---------------------------------------------------------------------------------------

@dataclass
class JobsOverview:
    """What the jobs page shows: the jobs of each state, how many there are, and who asked for them."""

    running: list[Job]
    queued: list[Job]
    failed: list[Job]
    finished: list[Job]  # done or cancelled, the latest first
    counts: dict[str, int]
    people: dict[int, User]

    @property
    def active(self) -> bool:
        """Whether anything is queued or running (the page then keeps itself up to date)."""
        return bool(self.running or self.queued)

    @staticmethod
    def title(job: Job) -> str:
        return jobs.title_of(job.name)


def jobs_overview(shown: int = JOBS_SHOWN) -> JobsOverview:
    """Running and queued jobs in the order they run, failed and finished ones the latest first."""
    def listed(states, *order):
        return list(db.session.scalars(select(Job).where(Job.state.in_(states)).order_by(*order).limit(shown)))

    overview = JobsOverview(
        running=listed(["running"], Job.started_at, Job.id),
        queued=listed(["queued"], Job.run_after, Job.id),
        failed=listed(["failed"], Job.finished_at.desc(), Job.id.desc()),
        finished=listed(["done", "cancelled"], Job.finished_at.desc(), Job.id.desc()),
        counts=dict(db.session.execute(select(Job.state, func.count()).group_by(Job.state)).all()),
        people={})
    asked = {job.user_id for part in (overview.running, overview.queued, overview.failed, overview.finished)
             for job in part if job.user_id is not None}
    if asked:
        overview.people = {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(asked)))}
    return overview


def get_job(job_id: int) -> Job:
    """Any job (admins see them all); NotFound if there is none with that id."""
    job = db.session.get(Job, job_id)
    if job is None:
        raise NotFound(_("There is no such job."), code="job_not_found")
    return job


def cancel_job(admin: User, job_id: int) -> str:
    """Cancel a queued job, or ask a running one to stop; returns its state ("cancelled" or "running")."""
    job = get_job(job_id)
    was = job.state
    if was not in ("queued", "running"):
        raise Conflict(_("This job has already ended."), code="job_ended")
    audit.record("job_cancelled", admin.id, target=f"job:{job.id}", name=job.name, state=was)
    state = jobs.cancel(job)  # commits the audit event with the change, or rolls both back
    if state not in ("cancelled", "running"):
        raise Conflict(_("This job has already ended."), code="job_ended")
    return state


def retry_job(admin: User, job_id: int) -> None:
    """Queue a failed or cancelled job again, with fresh attempts."""
    job = get_job(job_id)
    if job.state not in ("failed", "cancelled"):
        raise Conflict(_("Only a failed or cancelled job can be tried again."), code="job_not_retryable")
    audit.record("job_retried", admin.id, target=f"job:{job.id}", name=job.name, state=job.state)
    if not jobs.retry(job):  # commits the audit event with the change, or rolls both back
        raise Conflict(_("Only a failed or cancelled job can be tried again."), code="job_not_retryable")
