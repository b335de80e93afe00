"""Admin → Settings: the instance's name and address, accounts, files, email (permission manage_settings).

One page of sections, each its own form: an htmx post gets its section back (errors beside the field,
status 200), a post without JavaScript gets a 303 back to the page, or the page with the errors.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectChoice

from .. import instance
from ..auth.permissions import needs
from ..errors import ShoeboxError, attach_error
from ..media import hotlinks
from ..web import is_fragment_request, render
from . import bp, instance_settings
from .forms import HotlinkForm
from .settings_schemas import FORMS, TestEmailForm

SAVED = {"general": _l("General settings saved."), "accounts": _l("Account settings saved."),
         "files": _l("File settings saved."), "email": _l("Email settings saved.")}
FRAGMENTS = {"general": "admin/_settings_general.html", "accounts": "admin/_settings_accounts.html",
             "files": "admin/_settings_files.html", "email": "admin/_settings_email.html",
             "hotlinks": "admin/_hotlinks.html"}


def _forms(given: dict) -> dict:
    """Each section's form: the one given (as submitted, with its errors), or one filled from the settings."""
    values = instance_settings.current()
    forms = {}
    for section, form_class in FORMS.items():
        forms[section] = given.get(section) or form_class(
            formdata=None, **{key: values[key] for key in instance_settings.SECTIONS[section] if key in values})
    forms["accounts"].default_plan.choices = [SelectChoice(plan.name, plan.name) for plan in instance_settings.offered_plans()]
    forms["hotlinks"] = given.get("hotlinks") or HotlinkForm(
        formdata=None, hotlink_allowed_sites="\n".join(instance.get(hotlinks.SETTING)))
    forms["test_email"] = TestEmailForm(formdata=None)
    return forms


def _page(section: str | None = None, given: dict | None = None, test_result: tuple[str, str] | None = None):
    """The settings page, or only `section`'s fragment of it for htmx."""
    fragment = FRAGMENTS[section] if section else None
    also = ("admin/_settings_address_warning.html",) if section == "general" else ()
    forms = _forms(given or {})
    return render("admin/settings.html", fragment=fragment, also=also, forms=forms, hotlink_form=forms["hotlinks"],
                  settings=instance_settings.current(), config_base_url=instance_settings.config_base_url(),
                  mail_source=instance_settings.mail_source(), test_result=test_result)


@bp.app_context_processor
def _address_warning():
    return {"public_address_mismatch": lambda: instance_settings.address_mismatch(request.host_url)}


@bp.get("/settings")
@needs("manage_settings")
def settings():
    """The instance settings."""
    return _page()


def _save(section: str):
    form = FORMS[section]()
    if form.validate_on_submit():
        try:
            instance_settings.change(current_user, instance_settings.form_values(section, request.form))
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            flash(str(SAVED[section]), "success")
            if not is_fragment_request():
                return redirect(url_for("admin.settings") + f"#settings-{section}", 303)
            return _page(section)
    return _page(section, {section: form})


@bp.post("/settings/general")
@needs("manage_settings")
def settings_general():
    return _save("general")


@bp.post("/settings/accounts")
@needs("manage_settings")
def settings_accounts():
    return _save("accounts")


@bp.post("/settings/files")
@needs("manage_settings")
def settings_files():
    return _save("files")


@bp.post("/settings/email")
@needs("manage_settings")
def settings_email():
    return _save("email")


@bp.post("/settings/hotlinks")
@needs("manage_settings")
def settings_hotlinks():
    """Which other sites may show public photos on their pages (one host name a line; none: every site)."""
    form = HotlinkForm()
    if form.validate_on_submit():
        try:
            hotlinks.save_allowed_sites(current_user, form.hotlink_allowed_sites.data)
        except ShoeboxError as error:
            attach_error(form, error)
        else:
            flash(_("Embedding settings saved."), "success")
            if not is_fragment_request():
                return redirect(url_for("admin.settings") + "#hotlinks", 303)
            return _page("hotlinks")
    return _page("hotlinks", {"hotlinks": form})


@bp.post("/settings/email/test")
@needs("manage_settings")
def settings_email_test():
    """Send a test email to the admin through the SMTP server in effect, and say how it went."""
    try:
        result = ("success", instance_settings.send_test_email(current_user))
    except ShoeboxError as error:
        result = ("error", error.message)
    if not is_fragment_request():
        flash(result[1], result[0])
        return redirect(url_for("admin.settings") + "#settings-email", 303)
    return _page("email", test_result=result)
