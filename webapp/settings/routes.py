"""The settings page: profile, email, password, two-factor, API keys, sessions and the danger zone.

Each section is a fragment with its own form. An htmx post gets its section back (errors inline,
status 200); a post without JavaScript gets the whole page.
"""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..admin import auditlog
from ..errors import NotFound, ShoeboxError, attach_error
from ..extensions import db
from ..auth import api_keys, deletion, logins, service, sessions, twofactor
from ..auth.forms import EmptyForm
from ..web import is_fragment_request, page_redirect, render
from . import bp, integrations
from .forms import (ApiKeyForm, ChangeEmailForm, ChangePasswordForm, ConfirmTwoFactorForm, DisableTwoFactorForm,
                    PasswordConfirmForm, PhotoSettingsForm, ProfileForm, chosen_visibility)


@bp.before_request
@login_required
def _logged_in():
    """Every settings page needs a logged-in user."""


def _forms(**posted) -> dict:
    """A form for every section: the posted one as it came (with its errors), the others fresh."""
    profile = ProfileForm(formdata=None, obj=current_user, locale=current_user.locale or "")
    forms = {"profile": profile, "photos": PhotoSettingsForm(formdata=None, obj=current_user),
             "email": ChangeEmailForm(formdata=None), "password": ChangePasswordForm(formdata=None),
             "api_key": ApiKeyForm(formdata=None), "delete": PasswordConfirmForm(formdata=None),
             "disable": DisableTwoFactorForm(formdata=None), "empty": EmptyForm(formdata=None)}
    forms.update(posted)
    return forms


def _section(name: str, new_key: str | None = None, also: tuple[str, ...] = (), **posted):
    """The section `name` alone for htmx, else the whole settings page."""
    context = dict(forms=_forms(**posted), new_key=new_key, keys=api_keys.list_api_keys(current_user),
                   browser_sessions=sessions.active(current_user), current_session=sessions.current_id(),
                   recovery_left=twofactor.remaining_recovery_codes(current_user) if current_user.has_two_factor else 0,
                   security_events=auditlog.security_events_for(current_user))
    return render("settings/index.html", fragment=f"settings/_{name}.html", also=also, **context)


@bp.get("/")
def index():
    """All settings on one page."""
    return _section("profile")


@bp.post("/profile")
def profile():
    form = ProfileForm()
    language = current_user.locale
    if form.validate_on_submit():
        try:
            service.update_profile(current_user, display_name=form.display_name.data,
                                   first_name=form.first_name.data, last_name=form.last_name.data,
                                   username=form.username.data, locale=form.locale.data)
        except ShoeboxError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            flash(_("Profile saved."), "success")
            if not is_fragment_request():
                return redirect(url_for("settings.index"))
            if current_user.locale != language:  # the whole page changes language, and perhaps direction
                return page_redirect(url_for("settings.index"))
    return _section("profile", profile=form)


@bp.post("/photos")
def photos():
    """Whether new uploads keep their location, and whether they are public."""
    form = PhotoSettingsForm()
    if form.validate_on_submit():
        service.set_keep_location(current_user, form.keep_location.data)
        integrations.set_uploads_public(current_user, form.uploads_public.data)
        flash(_("Photo settings saved."), "success")
        if not is_fragment_request():
            return redirect(url_for("settings.index"), 303)
    return _section("photos", photos=form)


@bp.post("/email")
def email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            service.request_email_change(current_user, form.email.data, form.password.data)
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            flash(_("We sent a link to %(email)s. Your address changes when you open it.", email=form.email.data),
                  "success")
            return _section("email")
    return _section("email", email=form)


@bp.post("/password")
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(current_user, form.current_password.data, form.new_password.data)
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            sessions.start(current_user)  # this browser stays logged in; every other one is logged out
            flash(_("Password changed. Every other session and token was logged out."), "success")
            return _section("password")
    return _section("password", password=form)


@bp.get("/two-factor")
def two_factor():
    """Set up two-factor login: scan the QR code, then confirm with a code."""
    if current_user.has_two_factor:
        return redirect(url_for("settings.index") + "#two-factor")
    service.begin_two_factor(current_user)
    uri = twofactor.provisioning_uri(current_user)
    return render("settings/two_factor.html", form=ConfirmTwoFactorForm(), qr=twofactor.qr_data_uri(uri),
                  secret=current_user.totp_pending_secret)


@bp.post("/two-factor")
def confirm_two_factor():
    form = ConfirmTwoFactorForm()
    if form.validate_on_submit() and not current_user.has_two_factor:
        try:
            codes = service.enable_two_factor(current_user, form.code.data)
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            return render("settings/recovery_codes.html", codes=codes)
    if current_user.has_two_factor:
        return redirect(url_for("settings.index"))
    uri = twofactor.provisioning_uri(current_user)
    return render("settings/two_factor.html", form=form, qr=twofactor.qr_data_uri(uri),
                  secret=current_user.totp_pending_secret)


@bp.post("/two-factor/disable")
def disable_two_factor():
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        if not service.password_matches(current_user, form.password.data):
            form.password.errors.append(_("The password is not right."))
        elif not twofactor.verify(current_user, form.code.data):
            form.code.errors.append(_("That code is not right. Use the newest code from your app."))
        else:
            service.disable_two_factor(current_user)
            flash(_("Two-factor login is off."), "success")
            return _section("two_factor")
    return _section("two_factor", disable=form)


@bp.post("/api-keys")
def create_api_key():
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            _key, raw = api_keys.create_api_key(current_user, form.name.data, scope=form.scope.data,
                                                uploads_public=chosen_visibility(form.uploads_public.data))
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            return _section("api_keys", new_key=raw)
    return _section("api_keys", api_key=form)


@bp.post("/api-keys/<int(max=2147483647):key_id>/revoke")
def revoke_api_key(key_id: int):
    if EmptyForm().validate_on_submit():
        api_keys.revoke_api_key(current_user, key_id)
        flash(_("The key was revoked; programs using it are refused from now on."), "success")
    return _section("api_keys")


@bp.post("/sessions/<session_id>/revoke")
def revoke_session(session_id: str):
    if EmptyForm().validate_on_submit():
        if session_id == sessions.current_id():
            sessions.end()
            return page_redirect(url_for("auth.login"))
        if not sessions.revoke(current_user, session_id):
            raise NotFound()
        flash(_("That browser was logged out."), "success")
    return _section("sessions")


@bp.post("/sessions/revoke-all")
def revoke_all_sessions():
    """Log out every browser and API login of this account, then log this browser back in."""
    if EmptyForm().validate_on_submit():
        logins.log_out_everywhere(current_user)
        sessions.start(current_user)
        flash(_("Every other browser and API login was logged out."), "success")
    return _section("sessions")


@bp.post("/delete")
def request_deletion():
    form = PasswordConfirmForm()
    if form.validate_on_submit():
        try:
            deletion.request_deletion(current_user, form.password.data)
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            return _section("danger", also=("_account_banner.html",))
    return _section("danger", delete=form)


@bp.post("/delete/cancel")
def cancel_deletion():
    if EmptyForm().validate_on_submit():
        deletion.cancel_deletion(current_user)
        flash(_("Your account will not be deleted."), "success")
    if is_fragment_request():
        return _section("danger", also=("_account_banner.html",))
    return redirect(url_for("settings.index"), 303)
