"""Backup pages: Settings → Backups for a person, Admin → Backups for the instance, restoring an empty
instance from the setup page, and downloads.

Long work is a job; its page shows a component that polls itself every second until the job ends.
Every form posts without JavaScript too; htmx swaps only the section a form belongs to.
"""

from __future__ import annotations

import functools

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..auth import permissions
from ..auth.forms import EmptyForm
from ..auth.service import has_users
from ..errors import NotFound, ShoeboxError, attach_error
from ..extensions import csrf
from ..models import Backup, BackupSchedule
from ..web import is_fragment_request, render
from . import bp, downloads, service
from .forms import ArchiveUploadForm, ScheduleForm, StoredArchiveForm

PAGES = {"account": "backups.account_page", "instance": "backups.admin_page"}
SCHEDULES = {"account": "backups.account_schedule", "instance": "backups.admin_schedule"}
STARTS = {"account": "backups.account_start", "instance": "backups.admin_start"}
SETUP_JOB = "setup_restore_job"  # the session remembers the setup restore this browser started

bp.add_app_template_global(service.latest_failure, "latest_backup_failure")


def _admins_only(view):
    """Admin → Backups: 404 for anyone without manage_backups, and the CSRF check only after that, so that
    a stranger's post without a token learns nothing either."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        permissions.require(current_user, "manage_backups")
        if request.method == "POST" and current_app.config["WTF_CSRF_ENABLED"]:
            csrf.protect()
        return view(*args, **kwargs)

    return csrf.exempt(guarded)


def _page(scope: str, fragment: str | None = None, watching: Backup | None = None, also: tuple[str, ...] = (),
          **forms):
    """The backups page of `scope`, or only `fragment` of it for htmx; forms not given start fresh."""
    schedule = service.schedule_of(current_user, scope)
    watching = watching or service.in_progress(current_user, scope)
    context = dict(scope=scope, backups=service.backups_of(current_user, scope), watching=watching,
                   active=watching is not None and service.being_made(watching), schedule=schedule,
                   schedule_form=forms.get("schedule_form") or _schedule_form(schedule),
                   upload_form=forms.get("upload_form") or ArchiveUploadForm(formdata=None),
                   archive_settings=service.archive_settings(), upload_limit=current_app.config["MAX_CONTENT_LENGTH"],
                   start_url=url_for(STARTS[scope]), schedule_url=url_for(SCHEDULES[scope]))
    template = "backups/account.html" if scope == "account" else "backups/admin.html"
    return render(template, fragment=fragment, also=also, **context)


def _schedule_form(schedule: BackupSchedule) -> ScheduleForm:
    return ScheduleForm(formdata=None, frequency=schedule.frequency, hour=str(schedule.hour),
                        weekday=str(schedule.weekday), keep_daily=schedule.keep_daily,
                        keep_weekly=schedule.keep_weekly, keep_monthly=schedule.keep_monthly)


def _back_to(scope: str, anchor: str = ""):
    return redirect(url_for(PAGES[scope]) + anchor, 303)


# --- Settings → Backups and Admin → Backups ---------------------------------------------------

@bp.get("/settings/backups")
@login_required
def account_page():
    """The signed-in person's backups: make one (their data export), restore, schedule."""
    return _page("account")


@bp.get("/admin/backups")
@_admins_only
def admin_page():
    """Backups of the whole instance."""
    return _page("instance")


@bp.post("/settings/backups")
@login_required
def account_start():
    return _start("account")


@bp.post("/admin/backups")
@_admins_only
def admin_start():
    return _start("instance")


def _start(scope: str):
    """Queue a backup; htmx gets the component that follows it, a plain post the page."""
    watching = None
    if EmptyForm().validate_on_submit():
        try:
            watching = service.start_backup(current_user, scope)
        except ShoeboxError as error:
            flash(error.message, "error")
    if is_fragment_request():
        return _page(scope, fragment="backups/_job.html", watching=watching)
    return _back_to(scope)


@bp.get("/backups/<backup_id>/progress")
@login_required
def progress(backup_id: str):
    """The component that follows one backup being made (it polls this address until the backup ends)."""
    backup = service.get_backup_for(current_user, backup_id)
    if not is_fragment_request():
        return _back_to(backup.scope)
    finished = not service.being_made(backup)
    return _page(backup.scope, fragment="backups/_job.html", watching=backup,
                 also=("backups/_list.html",) if finished else ())


@bp.get("/backups/<backup_id>/download")
@login_required
def download(backup_id: str):
    """The archive itself (Range and conditional requests work, so a cut download can resume)."""
    return downloads.send_archive(service.get_backup_for(current_user, backup_id))


@bp.post("/backups/<backup_id>/delete")
@login_required
def delete(backup_id: str):
    backup = service.get_backup_for(current_user, backup_id)
    scope = backup.scope
    if EmptyForm().validate_on_submit():
        try:
            service.delete_backup(current_user, backup)
        except ShoeboxError as error:
            flash(error.message, "error")
        else:
            flash(_("The backup was deleted."), "success")
    return _back_to(scope, "#backup-list")


@bp.post("/settings/backups/schedule")
@login_required
def account_schedule():
    return _save_schedule("account")


@bp.post("/admin/backups/schedule")
@_admins_only
def admin_schedule():
    return _save_schedule("instance")


def _save_schedule(scope: str):
    form = ScheduleForm()
    if form.validate_on_submit():
        values = service.ScheduleInput(frequency=form.frequency.data, hour=int(form.hour.data),
                                       weekday=int(form.weekday.data), keep_daily=form.keep_daily.data,
                                       keep_weekly=form.keep_weekly.data, keep_monthly=form.keep_monthly.data)
        try:
            service.save_schedule(current_user, scope, values)
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            flash(_("Schedule saved."), "success")
            if not is_fragment_request():
                return _back_to(scope, "#backup-schedule")
            return _page(scope, fragment="backups/_schedule.html")
    return _page(scope, fragment="backups/_schedule.html", schedule_form=form)


# --- restoring into an account ------------------------------------------------------------------

@bp.post("/settings/backups/upload")
@login_required
def upload():
    """Keep an uploaded account archive, then show what restoring it would add."""
    form = ArchiveUploadForm()
    if form.validate_on_submit():
        try:
            backup = service.receive_archive(current_user, "account", _stream(form))
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            return redirect(url_for("backups.preview", backup_id=backup.id), 303)
    return _page("account", upload_form=form)


def _stream(form: ArchiveUploadForm):
    return form.file.data.stream if form.file.data else None


@bp.get("/backups/<backup_id>/restore")
@login_required
def preview(backup_id: str):
    """What restoring this account backup would add, with the button that does it."""
    backup = service.get_backup_for(current_user, backup_id)
    return render("backups/preview.html", backup=backup, preview=service.preview(current_user, backup))


@bp.post("/backups/<backup_id>/restore")
@login_required
def restore(backup_id: str):
    backup = service.get_backup_for(current_user, backup_id)
    if not EmptyForm().validate_on_submit():
        return _back_to(backup.scope)
    job = service.start_restore(current_user, backup)
    return redirect(url_for("backups.restore_progress", backup_id=backup.id, job_id=job.id), 303)


@bp.get("/backups/<backup_id>/restores/<int(max=2147483647):job_id>")
@login_required
def restore_progress(backup_id: str, job_id: int):
    """The restore as it runs (the component polls this address until it ends)."""
    backup = service.get_backup_for(current_user, backup_id)
    job = service.restore_job_for(backup.id, job_id)
    return render("backups/restore.html", fragment="backups/_restore_job.html", backup=backup, job=job)


# --- restoring an empty instance from the setup page --------------------------------------------

def _empty_instance_only() -> None:
    if has_users():
        raise NotFound()


def _setup_page(upload_form: ArchiveUploadForm | None = None, stored_form: StoredArchiveForm | None = None):
    archives = service.stored_instance_archives()
    stored_form = stored_form or StoredArchiveForm(formdata=None)
    stored_form.key.choices = [(stored.key, stored.key) for stored in archives]
    return render("backups/setup.html", upload_form=upload_form or ArchiveUploadForm(formdata=None),
                  stored_form=stored_form, archives=archives, running=service.setup_restore_running(),
                  archive_settings=service.archive_settings(), upload_limit=current_app.config["MAX_CONTENT_LENGTH"])


@bp.get("/setup/restore")
def setup_restore():
    """An empty instance: restore it from an uploaded instance archive or one in the backup folder."""
    _empty_instance_only()
    return _setup_page()


@bp.post("/setup/restore/upload")
def setup_upload():
    _empty_instance_only()
    form = ArchiveUploadForm()
    if form.validate_on_submit():
        try:
            service.check_setup_restore()
            backup = service.receive_archive(None, "instance", _stream(form), setup=True)
            return _setup_started(service.start_restore(None, backup, setup=True))
        except ShoeboxError as error:
            attach_error(form, error)
    return _setup_page(upload_form=form)


@bp.post("/setup/restore/stored")
def setup_stored():
    _empty_instance_only()
    form = StoredArchiveForm()
    if form.validate_on_submit():
        try:
            service.check_setup_restore()
            backup = service.adopt_stored_archive(form.key.data)
            return _setup_started(service.start_restore(None, backup, setup=True))
        except ShoeboxError as error:
            attach_error(form, error)
    return _setup_page(stored_form=form)


def _setup_started(job):
    session[SETUP_JOB] = job.id
    return redirect(url_for("backups.setup_progress", job_id=job.id), 303)


@bp.get("/setup/restore/<int(max=2147483647):job_id>")
def setup_progress(job_id: int):
    """The setup restore as it runs. Once accounts exist it answers only for an hour after the restore,
    with the counts for the browser that started it and no more than "done, sign in" for anyone else."""
    job = service.setup_restore_job(job_id)
    shown = service.setup_restore_shown(job, started_here=session.get(SETUP_JOB) == job.id)
    return render("backups/setup_progress.html", fragment="backups/_setup_job.html", job=job, shown=shown)
