"""The audit log: who did what, from where, and when."""

from __future__ import annotations

from flask import g, has_request_context, request
from flask_babel import lazy_gettext as _l

from .analytics.agents import describe
from .extensions import db
from .models import AuditEvent


def origin() -> tuple[str, str]:
    """(client address, user agent) of the current request; empty outside one."""
    if not has_request_context():
        return "", ""
    return request.remote_addr or "", (request.user_agent.string or "")[:300]


def record(action: str, actor_id: int | None = None, target: str = "", *,
           origin_of: tuple[str, str] | None = None, **details) -> None:
    """Add an audit event to the session (committed with the change it describes).

    `origin_of` is the (address, user agent) for work done after its request (see origin()).
    """
    ip, user_agent = origin_of or origin()
    agent = describe(user_agent) if user_agent else None
    request_id = g.get("request_id", "") if has_request_context() else ""
    db.session.add(AuditEvent(action=action, actor_id=actor_id, target=str(target)[:200], ip=ip,
                              user_agent=user_agent, device=agent.device if agent else "",
                              browser=agent.browser if agent else "", request_id=request_id[:64],
                              details=details))


# --- what the actions are called ----------------------------------------------------------------

# Every action Shoebox writes, with the label the audit log shows beside its code. An action missing here
# still shows (as its code); add new ones here so the viewer's action list offers them.
ACTIONS = {
    "signup": _l("Signed up"),
    "signup_with_existing_email": _l("Sign-up tried with an address in use"),
    "email_verified": _l("Email address confirmed"),
    "login": _l("Signed in"),
    "login_failed": _l("Sign-in failed"),
    "login_refused_blocked": _l("Sign-in refused: account blocked"),
    "login_refused_password_off": _l("Sign-in refused: password sign-in is off"),
    "sso_linked": _l("Single sign-on joined to an account"),
    "sso_unlinked": _l("Single sign-on parted from an account"),
    "sso_refused": _l("Single sign-on refused"),
    "sso_failed": _l("Single sign-on failed a check"),
    "sso_groups_synced": _l("Groups set by single sign-on"),
    "two_factor_failed": _l("Wrong two-factor code"),
    "two_factor_enabled": _l("Two-factor login turned on"),
    "two_factor_disabled": _l("Two-factor login turned off"),
    "logout": _l("Signed out"),
    "logout_everywhere": _l("Signed out everywhere"),
    "session_revoked": _l("Browser session ended"),
    "password_changed": _l("Password changed"),
    "password_reset_requested": _l("Password reset asked for"),
    "password_reset": _l("Password reset"),
    "email_change_requested": _l("Email change asked for"),
    "email_changed": _l("Email address changed"),
    "api_key_created": _l("API key created"),
    "api_key_revoked": _l("API key revoked"),
    "profile_updated": _l("Profile changed"),
    "keep_location_changed": _l("Location setting changed"),
    "uploads_public_changed": _l("Default visibility of new uploads changed"),
    "deletion_requested": _l("Account deletion scheduled"),
    "deletion_cancelled": _l("Account deletion cancelled"),
    "account_deleted": _l("Account deleted"),
    "user_blocked": _l("Account blocked"),
    "user_unblocked": _l("Account unblocked"),
    "media_uploaded": _l("Photo or file uploaded"),
    "media_updated": _l("Photo details changed"),
    "media_made_public": _l("Photos made public"),
    "media_made_private": _l("Photos made private"),
    "media_deleted": _l("Photo or file deleted"),
    "transformation_saved": _l("Transformation saved"),
    "transformation_deleted": _l("Transformation deleted"),
    "album_created": _l("Album created"),
    "album_changed": _l("Album changed"),
    "album_photos_added": _l("Photos added to an album"),
    "album_photos_removed": _l("Photos taken out of an album"),
    "album_deleted": _l("Album deleted"),
    "share_created": _l("Share link created"),
    "share_changed": _l("Share link changed"),
    "share_revoked": _l("Share link revoked"),
    "share_deleted": _l("Share link deleted"),
    "backup_started": _l("Backup started"),
    "storage_move_started": _l("Moving the files to another store started"),
    "storage_cleanup_started": _l("Removing the old copies of the files started"),
    "backup_made": _l("Backup finished"),
    "backup_failed": _l("Backup failed"),
    "backup_uploaded": _l("Backup uploaded"),
    "backup_deleted": _l("Backup deleted"),
    "backup_schedule_changed": _l("Backup schedule changed"),
    "restore_started": _l("Restore started"),
    "backup_restored": _l("Restore finished"),
    "settings_changed": _l("Instance settings changed"),
    "invite_created": _l("Invite created"),
    "invite_revoked": _l("Invite revoked"),
    "job_cancelled": _l("Job cancelled"),
    "job_retried": _l("Job queued again"),
    "audit_pruned": _l("Old audit events deleted"),
    "plan_created": _l("Plan created"),
    "plan_changed": _l("Plan changed"),
    "plan_retired": _l("Plan retired"),
    "plan_restored": _l("Plan offered again"),
    "plan_deleted": _l("Plan deleted"),
    "group_created": _l("Group created"),
    "group_changed": _l("Group changed"),
    "group_deleted": _l("Group deleted"),
    "user_plan_changed": _l("Plan of an account changed"),
    "user_role_changed": _l("Role of an account changed"),
    "user_groups_changed": _l("Groups of an account changed"),
    "user_verified_by_admin": _l("Email address marked confirmed by an admin"),
    "password_reset_sent_by_admin": _l("Password reset email sent by an admin"),
    "two_factor_disabled_by_admin": _l("Two-factor sign-in turned off by an admin"),
    "user_signed_out_by_admin": _l("Signed out everywhere by an admin"),
    "user_deletion_scheduled_by_admin": _l("Account deletion scheduled by an admin"),
    "user_deletion_cancelled_by_admin": _l("Account deletion cancelled by an admin"),
    "user_deleted_by_admin": _l("Account deleted by an admin"),
}

# The actions a person sees among their own security events on the settings page.
SECURITY_ACTIONS = (
    "login", "login_failed", "login_refused_blocked", "two_factor_failed", "two_factor_enabled",
    "two_factor_disabled", "logout_everywhere", "session_revoked", "password_changed", "password_reset_requested",
    "password_reset", "email_change_requested", "email_changed", "api_key_created", "api_key_revoked",
    "user_blocked", "user_unblocked", "deletion_requested", "deletion_cancelled", "user_role_changed",
    "user_verified_by_admin", "password_reset_sent_by_admin", "two_factor_disabled_by_admin",
    "user_signed_out_by_admin", "user_deletion_scheduled_by_admin", "user_deletion_cancelled_by_admin",
)


def label(action: str) -> str:
    """The human label of `action`, or the code itself when it has none."""
    known = ACTIONS.get(action)
    return str(known) if known is not None else action
