"""Admin pages for registration and invites, the mail outbox and background jobs. Each route needs
its permission (404 without it, see the package), checked before anything else.

Each section of a page is a fragment with its own form. An htmx post gets its section back
(errors inline, status 200); a post without JavaScript gets the whole page.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import instance
from ..mail import smtp_settings
from ..auth import invites
from ..auth.permissions import needs
from ..errors import ShoeboxError, attach_error
from ..web import absolute_url, is_fragment_request, render
from . import bp, service
from .forms import InviteForm, RegistrationForm

# --- registration and invites -----------------------------------------------------------------

def _registration_page(fragment: str | None = None, settings_form: RegistrationForm | None = None,
                       invite_form: InviteForm | None = None, new_invite: dict | None = None):
    """The registration page, or only `fragment` of it for htmx; forms not given start fresh."""
    settings_form = settings_form or RegistrationForm(
        formdata=None, registration=instance.get("registration"),
        unverified_may_upload=instance.get("unverified_may_upload"))
    listed = [(invite, invites.invite_state(invite)) for invite in invites.list_invites()]
    return render("admin/registration.html", fragment=fragment, settings_form=settings_form,
                  invite_form=invite_form or InviteForm(formdata=None), invites=listed, new_invite=new_invite)


@bp.get("/registration")
@needs("manage_settings")
def registration():
    """Who may sign up, and the invite codes."""
    return _registration_page()


@bp.post("/registration")
@needs("manage_settings")
def save_registration():
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            service.save_registration(current_user, form.registration.data, form.unverified_may_upload.data)
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            flash(_("Registration settings saved."), "success")
            if not is_fragment_request():
                return redirect(url_for("admin.registration"), 303)
            return _registration_page("admin/_registration_settings.html")
    return _registration_page("admin/_registration_settings.html", settings_form=form)


@bp.post("/invites")
@needs("manage_settings")
def create_invite():
    """Make an invite code and show it this once, with a sign-up link that carries it."""
    form = InviteForm()
    if form.validate_on_submit():
        raw = invites.create_invite(current_user, (form.note.data or "").strip(), form.days.data)
        new_invite = {"code": raw, "link": absolute_url("auth.signup", invite=raw)}
        return _registration_page("admin/_invites.html", new_invite=new_invite)
    return _registration_page("admin/_invites.html", invite_form=form)


@bp.post("/invites/<int(max=2147483647):invite_id>/revoke")
@needs("manage_settings")
def revoke_invite(invite_id: int):
    invites.revoke_invite(current_user, invite_id)
    flash(_("The invite was revoked; its code no longer works."), "success")
    if not is_fragment_request():
        return redirect(url_for("admin.registration") + "#invites", 303)
    return _registration_page("admin/_invites.html")


# --- mail outbox ------------------------------------------------------------------------------

@bp.get("/outbox")
@needs("manage_settings")
def outbox():
    """Every email Shoebox sent or kept, newest first, 50 to a page."""
    messages, next_before = service.outbox_page(request.args.get("before", type=int))
    return render("admin/outbox.html", messages=messages, next_before=next_before,
                  is_first_page="before" not in request.args,
                  mail_host=smtp_settings()["host"])


@bp.get("/outbox/<int(max=2147483647):message_id>")
@needs("manage_settings")
def outbox_message(message_id: int):
    """One message with its text body."""
    return render("admin/outbox_message.html", message=service.get_outbox_message(message_id), part="text")


@bp.get("/outbox/<int(max=2147483647):message_id>/html")
@needs("manage_settings")
def outbox_message_html(message_id: int):
    """One message with its HTML body as escaped source: it holds user-chosen names, so it never renders here."""
    return render("admin/outbox_message.html", message=service.get_outbox_message(message_id), part="html")


# --- jobs -------------------------------------------------------------------------------------

def _jobs_page():
    """The jobs page; for htmx its running-and-queued section, with the failed and finished ones out of band."""
    return render("admin/jobs.html", fragment="admin/_jobs_active.html", also=("admin/_jobs_finished.html",),
                  overview=service.jobs_overview())


@bp.get("/jobs")
@needs("manage_backups")
def jobs():
    """Background work: running, queued, failed and recently finished jobs."""
    return _jobs_page()


@bp.post("/jobs/<int(max=2147483647):job_id>/cancel")
@needs("manage_backups")
def cancel_job(job_id: int):
    if service.cancel_job(current_user, job_id) == "cancelled":
        flash(_("The job was cancelled."), "success")
    else:
        flash(_("The job will stop at its next step."), "success")
    if not is_fragment_request():
        return redirect(url_for("admin.jobs"), 303)
    return _jobs_page()


@bp.post("/jobs/<int(max=2147483647):job_id>/retry")
@needs("manage_backups")
def retry_job(job_id: int):
    service.retry_job(current_user, job_id)
    flash(_("The job was queued again."), "success")
    if not is_fragment_request():
        return redirect(url_for("admin.jobs"), 303)
    return _jobs_page()
