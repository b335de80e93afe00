"""Reach: people's names, single sign-on identities, API key scopes and upload defaults,
a secret deletion link per upload, and a video's duration.

Revision ID: 0009_reach
Revises: 0008_admin_panel
Create Date: 2026-12-03 08:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009_reach"
down_revision = "0008_admin_panel"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_name", sa.String(80), server_default="", nullable=False))
        batch_op.add_column(sa.Column("last_name", sa.String(80), server_default="", nullable=False))
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(254), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime()),
        sa.UniqueConstraint("issuer", "subject", name="uq_identities_issuer_subject"),
    )
    op.create_index("ix_identities_user_id", "identities", ["user_id"])
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(10), server_default="full", nullable=False))
        batch_op.add_column(sa.Column("uploads_public", sa.Boolean()))
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duration", sa.Float()))
        batch_op.add_column(sa.Column("deletion_key_hash", sa.String(64)))
        batch_op.create_index("ix_media_deletion_key_hash", ["deletion_key_hash"], unique=True)


def downgrade():
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index("ix_media_deletion_key_hash")
        batch_op.drop_column("deletion_key_hash")
        batch_op.drop_column("duration")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("uploads_public")
        batch_op.drop_column("scope")
    op.drop_index("ix_identities_user_id", table_name="identities")
    op.drop_table("identities")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_name")
        batch_op.drop_column("first_name")
