"""Database models. Times are stored as UTC and always come back timezone-aware."""

from __future__ import annotations

from datetime import date, datetime, timezone

from flask_login import UserMixin
from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        TypeDecorator, UniqueConstraint)
from sqlalchemy import false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC (portable across SQLite and PostgreSQL) and read back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Plan(db.Model):
    """What an account may do: sizes, daily counts and hourly API requests (0 means unlimited)."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    max_upload_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    uploads_per_day: Mapped[int] = mapped_column(Integer, default=0)
    transforms_per_day: Mapped[int] = mapped_column(Integer, default=20)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    api_requests_per_hour: Mapped[int] = mapped_column(Integer, default=0)
    bandwidth_bytes_per_month: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    description: Mapped[str] = mapped_column(String(200), default="", server_default="")
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # kept by its people, offered to no one new
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Group(db.Model):
    """A named set of permissions. Built-in groups (`builtin` set) stand for the roles: every account has
    exactly one role (users.role) and may belong to any number of the admin's own groups."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    builtin: Mapped[str | None] = mapped_column(String(20), unique=True)  # "admin", "user" or "guest": a role
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Permission(db.Model):
    """One of the fixed permission codenames (webapp.auth.permissions.PERMISSIONS), seeded by the migration."""

    __tablename__ = "permissions"

    codename: Mapped[str] = mapped_column(String(30), primary_key=True)


class GroupPermission(db.Model):
    """A permission a group grants."""

    __tablename__ = "group_permissions"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    permission: Mapped[str] = mapped_column(ForeignKey("permissions.codename", ondelete="CASCADE"), primary_key=True)


class UserGroup(db.Model):
    """An account's membership of one of the admin's own groups (roles are users.role)."""

    __tablename__ = "user_groups"
    __table_args__ = (Index("ix_user_groups_group", "group_id", "user_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)


class User(UserMixin, db.Model):
    """An account. `session_epoch` is bumped to log the account out everywhere."""

    __tablename__ = "users"
    # The admin's user list sorts by each of these; every index ends in id, the keyset cursor's tie-break.
    __table_args__ = (Index("ix_users_created", "created_at", "id"),
                      Index("ix_users_last_login", "last_login_at", "id"),
                      Index("ix_users_storage", "storage_used", "id"),
                      Index("ix_users_media", "media_count", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80), default="")
    first_name: Mapped[str] = mapped_column(String(80), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(80), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10), default="user")  # "admin", "user" or "guest": a built-in group
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"), index=True)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # no TOTP code is accepted twice
    locale: Mapped[str | None] = mapped_column(String(10))
    keep_location: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    uploads_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    storage_used: Mapped[int] = mapped_column(BigInteger, default=0)
    media_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # kept with each upload and delete
    delete_scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plan: Mapped[Plan | None] = relationship()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users everywhere
        return not self.is_blocked

    def get_id(self) -> str:
        # The epoch travels in the session: bumping it invalidates every existing session.
        return f"{self.id}:{self.session_epoch}"

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


class Setting(db.Model):
    """One instance-wide setting the admin edits; defaults live in webapp.settings."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AuditEvent(db.Model):
    """Something that happened that an admin may need to know about later."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target", "target", "id"),
                      Index("ix_audit_events_ip", "ip", "id"),
                      Index("ix_audit_events_action_at", "action", "at"))  # the dashboard's failed sign-ins

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    device: Mapped[str] = mapped_column(String(20), default="", server_default="")
    browser: Mapped[str] = mapped_column(String(40), default="", server_default="")
    request_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class JobRun(db.Model):
    """The last run of each scheduled job, written by whichever instance holds the scheduler lock."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    instance: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="")
    error: Mapped[str] = mapped_column(Text, default="")


class AccountToken(db.Model):
    """A single-use emailed token (email verification, password reset, email change); only its hash is kept."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BrowserSession(db.Model):
    """One logged-in browser; the session cookie names it, and revoking it logs that browser out."""

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TokenFamily(db.Model):
    """One API login: the refresh tokens that descend from it and the access tokens they issued."""

    __tablename__ = "token_families"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str] = mapped_column(String(40), default="")


class RefreshToken(db.Model):
    """A refresh token (its jti); used once, then replaced. A second use revokes the family."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("token_families.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Identity(db.Model):
    """An account at a single sign-on provider, linked to one Shoebox account: (issuer, subject), never the email."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(254), default="", server_default="")  # as the provider last said
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(db.Model):
    """A long-lived key for scripts; only a hash is stored, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    rate_limit_per_hour: Mapped[int] = mapped_column(Integer, default=0)
    # What the key may do: "upload" (add photos, nothing else), "read" (look, never change) or "full".
    scope: Mapped[str] = mapped_column(String(10), default="full", server_default="full")
    # Whether uploads through this key are public when the request does not say; None follows the account.
    uploads_public: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecoveryCode(db.Model):
    """A one-time code that stands in for a TOTP code when the phone is lost."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Invite(db.Model):
    """A single-use sign-up code an admin hands out while registration is invite-only."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(120), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class OutboxMessage(db.Model):
    """Every email Shoebox sends: delivered over SMTP, or kept here for the admin when no SMTP is set."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10))  # "queued", "sent", "failed", or "kept" (no SMTP configured)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Media(db.Model):
    """An uploaded photo or file. The id is random and unguessable: it is the public name in URLs."""

    __tablename__ = "media"
    # One index per gallery sort order, each ending in id: the keyset cursor is (sort value, id).
    __table_args__ = (Index("ix_media_user_created", "user_id", "created_at", "id"),
                      Index("ix_media_user_captured", "user_id", "captured_at", "id"),
                      Index("ix_media_user_name", "user_id", "original_name", "id"),
                      Index("ix_media_user_size", "user_id", "size", "id"))

    id: Mapped[str] = mapped_column(String(22), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # "image" or "file"
    original_name: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    ext: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer, default=1)
    duration: Mapped[float | None] = mapped_column(Float)  # seconds, for videos
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    camera: Mapped[str] = mapped_column(String(120), default="")
    lens: Mapped[str] = mapped_column(String(120), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    placeholder: Mapped[str] = mapped_column(String(9), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When it was taken, or uploaded when the file does not say: what "sort by date taken" orders by.
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a guest added it through an album link's "upload to me": the name they gave, and the link.
    guest_name: Mapped[str | None] = mapped_column(String(80))
    guest_share_id: Mapped[str | None] = mapped_column(String(22))  # no foreign key: the link may go first
    # SHA-256 of the secret in the upload's deletion link (ShareX's DeletionURL); None when it has none.
    deletion_key_hash: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)


class Album(db.Model):
    """A named, ordered collection of one person's photos; a photo may be in many albums."""

    __tablename__ = "albums"
    __table_args__ = (Index("ix_albums_user_updated", "user_id", "updated_at", "id"),)

    id: Mapped[str] = mapped_column(String(22), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    cover_media_id: Mapped[str | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlbumItem(db.Model):
    """One photo's place in one album. Positions leave gaps, so a move usually changes one row."""

    __tablename__ = "album_items"
    __table_args__ = (Index("ix_album_items_album_position", "album_id", "position", "media_id"),
                      Index("ix_album_items_media", "media_id"))

    album_id: Mapped[str] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Variant(db.Model):
    """A derived image (thumbnail, preset size or transformation), cached in storage under its spec."""

    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("media_id", "spec"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    spec: Mapped[str] = mapped_column(String(200))
    storage_key: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyUsage(db.Model):
    """What one account used on one UTC day; each counter only ever changes by one conditional UPDATE."""

    __tablename__ = "daily_usage"
    __table_args__ = (Index("ix_daily_usage_day", "day"),)  # the dashboard sums each day over everyone

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    uploads: Mapped[int] = mapped_column(Integer, default=0)
    transforms: Mapped[int] = mapped_column(Integer, default=0)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)  # served from the account's photos
    api_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ShareLink(db.Model):
    """A link that shows one photo, an album or a selection to people without an account.

    The token is the secret in the URL; `id` names the link in the owner's pages and the API.
    Views and downloads only ever change by one conditional UPDATE, so limits hold under races.
    """

    __tablename__ = "share_links"
    __table_args__ = (Index("ix_share_links_user_created", "user_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(22), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # what a request's token is looked up by
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # "photo", "album" or "selection"
    media_id: Mapped[str | None] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    album_id: Mapped[str | None] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_version: Mapped[int] = mapped_column(Integer, default=0)  # bumped to void remembered passwords
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_views: Mapped[int | None] = mapped_column(Integer)
    views: Mapped[int] = mapped_column(Integer, default=0)
    max_downloads: Mapped[int | None] = mapped_column(Integer)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    password_failures: Mapped[int] = mapped_column(Integer, default=0)
    allow_download: Mapped[bool] = mapped_column(Boolean, default=True)
    show_metadata: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_upload: Mapped[bool] = mapped_column(Boolean, default=False)
    upload_max_files: Mapped[int | None] = mapped_column(Integer)
    upload_max_bytes: Mapped[int | None] = mapped_column(BigInteger)
    uploaded_files: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[User] = relationship()


class ShareItem(db.Model):
    """One photo of a selection link, in the order the owner chose."""

    __tablename__ = "share_items"
    __table_args__ = (Index("ix_share_items_share_position", "share_id", "position", "media_id"),
                      Index("ix_share_items_media", "media_id"))

    share_id: Mapped[str] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class ViewEvent(db.Model):
    """One view of a photo page, an original or a share link. No address is kept: only a daily-salted hash."""

    __tablename__ = "view_events"
    __table_args__ = (Index("ix_view_events_media_at", "media_id", "at"),
                      Index("ix_view_events_share_at", "share_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    media_id: Mapped[str | None] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    share_id: Mapped[str | None] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # "view", "download" or "password_failed"
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    visitor: Mapped[str] = mapped_column(String(16), default="")
    referrer_host: Mapped[str] = mapped_column(String(253), default="")
    device: Mapped[str] = mapped_column(String(20), default="")
    browser: Mapped[str] = mapped_column(String(40), default="")
    os: Mapped[str] = mapped_column(String(40), default="")


class Job(db.Model):
    """One unit of background work. A worker claims it with a lease it keeps renewing; a job whose
    worker died is taken again once the lease has run out. Scheduled runs carry a unique slot key."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_after", "state", "run_after"),
                      Index("ix_jobs_created", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    slot: Mapped[str | None] = mapped_column(String(120), unique=True)  # "name@time" for scheduled runs
    state: Mapped[str] = mapped_column(String(10), default="queued")  # queued running done failed cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # items and bytes done and to do, a message
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Backup(db.Model):
    """One backup archive in the backup store: a person's account or the whole instance."""

    __tablename__ = "backups"
    __table_args__ = (Index("ix_backups_scope_user_created", "scope", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(22), primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # "account" or "instance"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))  # the account's owner
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    origin: Mapped[str] = mapped_column(String(10), default="manual")  # "manual", "scheduled" or "uploaded"
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending running done failed
    storage_key: Mapped[str] = mapped_column(String(200), default="")
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job: Mapped[Job | None] = relationship()


class BackupSchedule(db.Model):
    """When a person's account (user_id set) or the instance (user_id empty) is backed up, and what is kept."""

    __tablename__ = "backup_schedules"
    __table_args__ = (UniqueConstraint("scope", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    frequency: Mapped[str] = mapped_column(String(10), default="off")  # "off", "daily" or "weekly"
    hour: Mapped[int] = mapped_column(Integer, default=3)  # UTC
    weekday: Mapped[int] = mapped_column(Integer, default=0)  # 0 = Monday
    keep_daily: Mapped[int] = mapped_column(Integer, default=7)
    keep_weekly: Mapped[int] = mapped_column(Integer, default=4)
    keep_monthly: Mapped[int] = mapped_column(Integer, default=6)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
