"""Settings → Integrations: download a ShareX uploader or a screenshot script, each with a new upload-only key,
and revoke those keys. Downloads are POSTs with a CSRF token: a GET (a prefetch, a crawler, a link in a
forum post) must never mint a key."""

from __future__ import annotations

from flask import Response, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import api_keys
from ..auth.forms import EmptyForm
from ..web import is_fragment_request, render
from . import bp, integrations
from .forms import IntegrationForm, chosen_visibility


TOOLS = ("sharex", "script")


def _page(**posted: IntegrationForm):
    """The Integrations page (with the form that was posted, errors and all), or its list of keys alone for htmx."""
    forms = {tool: posted.get(tool) or IntegrationForm(formdata=None, prefix=tool) for tool in TOOLS}
    return render("settings/integrations.html", fragment="settings/_integration_keys.html", forms=forms,
                  keys=integrations.integration_keys(current_user), allowed=integrations.may_use_tools(current_user))


def _attachment(download: integrations.Download) -> Response:
    response = Response(download.content, mimetype=download.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response.headers["Cache-Control"] = "no-store"  # it holds a key
    return response


@bp.get("/integrations")
def integrations_page():
    """What each screenshot tool does, its download, and the keys they use."""
    return _page()


@bp.post("/integrations/sharex")
def download_sharex():
    """A .sxcu file for ShareX with a new upload-only key."""
    form = IntegrationForm(prefix="sharex")
    if not form.validate_on_submit():
        return _page(sharex=form)
    return _attachment(integrations.sharex_config(current_user, chosen_visibility(form.uploads_public.data)))


@bp.post("/integrations/script")
def download_script():
    """A shell script for Flameshot, grim or macOS with a new upload-only key."""
    form = IntegrationForm(prefix="script")
    if not form.validate_on_submit():
        return _page(script=form)
    return _attachment(integrations.screenshot_script(current_user, chosen_visibility(form.uploads_public.data)))


@bp.post("/integrations/keys/<int(max=2147483647):key_id>/revoke")
def revoke_integration_key(key_id: int):
    """Revoke one of the keys; the tool using it is refused from then on."""
    if EmptyForm().validate_on_submit():
        api_keys.revoke_api_key(current_user, key_id)
        flash(_("The key was revoked; the tool using it can no longer upload."), "success")
    if is_fragment_request():
        return _page()
    return redirect(url_for("settings.integrations_page"), 303)
