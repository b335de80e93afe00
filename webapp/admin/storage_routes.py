"""Admin → Storage (permission manage_settings): the store the files are in and what it holds, and a move to
another configured store — a dry run first, then a job that copies the files while the site keeps working.

With htmx, each button swaps the page's move section (a refusal comes back at 200 beside the field), and the
section follows a running move by asking for itself every 2 seconds until the job ends; without JavaScript a
dry run comes back as the page, and starting a job ends in a 303 to it.
"""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import jobs
from ..auth.permissions import needs
from ..errors import ShoeboxError, attach_error
from ..extensions import db
from ..models import Job
from ..stores import service
from ..web import is_fragment_request, render
from . import bp
from .storage_schemas import MoveForm

MOVE_SECTION = "admin/_storage_move.html"
CURRENT_SECTION = "admin/_storage_current.html"
UNDER_WAY = ("queued", "running")


def _page(form: MoveForm | None = None, plan=None, also: tuple[str, ...] = (), job: Job | None = None):
    """The storage page, or for htmx its move section (with the sections in `also` out of band)."""
    state = service.current()
    job = job or service.current_job()
    stores = service.configured()
    return render("admin/storage.html", fragment=MOVE_SECTION, also=also, stores=stores, state=state, job=job,
                  active_store=next((store for store in stores if store.active), None),
                  others=[store for store in stores if not store.active],
                  under_way=job is not None and job.state in UNDER_WAY, usage=service.usage,
                  job_title=jobs.title_of(job.name) if job is not None else "",
                  form=form or MoveForm(formdata=None), plan=plan)


def _started(job: Job, message: str):
    flash(message, "success")
    if not is_fragment_request():
        return redirect(url_for("admin.storage"), 303)
    return _page(also=(CURRENT_SECTION,), job=job)


@bp.get("/storage")
@needs("manage_settings")
def storage():
    """The active store, what it holds, and the other configured stores the files can move to."""
    return _page()


@bp.get("/storage/jobs/<int(max=2147483647):job_id>")
@needs("manage_settings")
def storage_job(job_id: int):
    """The move section following one move or clean-up (it asks for this every 2 seconds while the job runs);
    once the job has ended, the current store comes along out of band, since it changed."""
    job = service.get_storage_job(job_id)
    if not is_fragment_request():
        return redirect(url_for("admin.storage"))
    return _page(also=() if job.state in UNDER_WAY else (CURRENT_SECTION,), job=job)


@bp.post("/storage/plan")
@needs("manage_settings")
def storage_plan():
    """The dry run of a move: what it would copy and how long it would take; nothing is copied."""
    form = MoveForm()
    plan = None
    if form.validate_on_submit():
        try:
            plan = service.plan_move(form.target.data or "")
        except ShoeboxError as error:
            attach_error(form, error)
    return _page(form, plan)


@bp.post("/storage/move")
@needs("manage_settings")
def storage_move():
    """Start the move the dry run described."""
    form = MoveForm()
    if form.validate_on_submit():
        try:
            job = service.start_move(current_user, form.target.data or "")
        except ShoeboxError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            return _started(job, _("The move to %(store)s has started; the site keeps working meanwhile.",
                              store=form.target.data))
    return _page(form)


@bp.post("/storage/cleanup")
@needs("manage_settings")
def storage_cleanup():
    """Delete the copies a finished move left in the store it moved the files from."""
    if MoveForm().validate_on_submit():
        try:
            job = service.start_cleanup(current_user)
        except ShoeboxError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("admin.storage"), 303) if not is_fragment_request() else _page(
                also=(CURRENT_SECTION,))
        return _started(job, _("Removing the old copies has started."))
    return redirect(url_for("admin.storage"), 303)
