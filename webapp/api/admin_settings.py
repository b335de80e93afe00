"""JSON endpoints for the instance settings (Admin → Settings): read them all, change some. Permission
manage_settings; anyone without it gets 404."""

from __future__ import annotations

from flask import g

from ..admin import instance_settings
from ..admin.settings_schemas import Settings, SettingsChanges
from ..auth import permissions
from . import bp
from .contract import operation

NOT_ADMIN = {404: "You do not hold the manage_settings permission."}


def _settings() -> Settings:
    return Settings.of(instance_settings.current(), instance_settings.effective_base_url())


@bp.get("/api/v1/admin/settings")
@operation("getInstanceSettings", (200, Settings, "Every instance setting (the SMTP password only as "
                                                  "`smtp_password_set`)."),
           tag="admin", admit=permissions.api_needs("manage_settings"), errors=NOT_ADMIN)
def get_instance_settings():
    """The instance settings: name and public address, registration and password sign-in, new accounts' plan,
    rate limits, accepted files, embedding, retention and the SMTP server."""
    return _settings()


@bp.put("/api/v1/admin/settings")
@operation("setInstanceSettings", (200, Settings, "The settings as they are now."), tag="admin",
           json=SettingsChanges, admit=permissions.api_needs("manage_settings"), errors=NOT_ADMIN)
def set_instance_settings(json: SettingsChanges):
    """Change the settings given; the others keep their value. Every value is checked first (400 naming the
    field, nothing stored), and each change is written to the audit log (the password only as "changed")."""
    instance_settings.change(g.api_user, json.given())
    return _settings()
