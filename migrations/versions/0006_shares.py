"""Share links (a photo, an album or a selection), their photos, guest uploads and view events.

Revision ID: 0006_shares
Revises: 0005_media_count
Create Date: 2026-12-02 03:20:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = "0006_shares"
down_revision = "0005_media_count"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "share_links",
        sa.Column("id", sa.String(22), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("media_id", sa.String(22), sa.ForeignKey("media.id", ondelete="CASCADE"), index=True),
        sa.Column("album_id", sa.String(22), sa.ForeignKey("albums.id", ondelete="CASCADE"), index=True),
        sa.Column("label", sa.String(80), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("password_version", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("max_views", sa.Integer()),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("max_downloads", sa.Integer()),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("password_failures", sa.Integer(), nullable=False),
        sa.Column("allow_download", sa.Boolean(), nullable=False),
        sa.Column("show_metadata", sa.Boolean(), nullable=False),
        sa.Column("allow_upload", sa.Boolean(), nullable=False),
        sa.Column("upload_max_files", sa.Integer()),
        sa.Column("upload_max_bytes", sa.BigInteger()),
        sa.Column("uploaded_files", sa.Integer(), nullable=False),
        sa.Column("uploaded_bytes", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_viewed_at", sa.DateTime()),
    )
    op.create_index("ix_share_links_user_created", "share_links", ["user_id", "created_at", "id"])
    op.create_table(
        "share_items",
        sa.Column("share_id", sa.String(22), sa.ForeignKey("share_links.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("media_id", sa.String(22), sa.ForeignKey("media.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_share_items_share_position", "share_items", ["share_id", "position", "media_id"])
    op.create_index("ix_share_items_media", "share_items", ["media_id"])
    op.create_table(
        "view_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("media_id", sa.String(22), sa.ForeignKey("media.id", ondelete="CASCADE")),
        sa.Column("share_id", sa.String(22), sa.ForeignKey("share_links.id", ondelete="CASCADE")),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False, index=True),
        sa.Column("visitor", sa.String(16), nullable=False),
        sa.Column("referrer_host", sa.String(253), nullable=False),
        sa.Column("device", sa.String(20), nullable=False),
        sa.Column("browser", sa.String(40), nullable=False),
        sa.Column("os", sa.String(40), nullable=False),
    )
    op.create_index("ix_view_events_media_at", "view_events", ["media_id", "at"])
    op.create_index("ix_view_events_share_at", "view_events", ["share_id", "at"])
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guest_name", sa.String(80)))
        batch_op.add_column(sa.Column("guest_share_id", sa.String(22)))


def downgrade():
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_column("guest_share_id")
        batch_op.drop_column("guest_name")
    op.drop_table("view_events")
    op.drop_table("share_items")
    op.drop_table("share_links")
