"""The admin panel: groups and permissions, plan bandwidth and retirement, richer audit events,
API requests counted per day, and the indexes the user list and the dashboard sort and sum by.

Revision ID: 0008_admin_panel
Revises: 0007_jobs_backups
Create Date: 2026-12-02 13:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008_admin_panel"
down_revision = "0007_jobs_backups"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(60), nullable=False, unique=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("builtin", sa.String(20), unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "permissions",
        sa.Column("codename", sa.String(30), primary_key=True),
    )
    op.create_table(
        "group_permissions",
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("permission", sa.String(30), sa.ForeignKey("permissions.codename", ondelete="CASCADE"),
                  primary_key=True),
    )
    op.create_table(
        "user_groups",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_user_groups_group", "user_groups", ["group_id", "user_id"])

    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bandwidth_bytes_per_month", sa.BigInteger(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("description", sa.String(200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("retired_at", sa.DateTime()))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device", sa.String(20), server_default="", nullable=False))
        batch_op.add_column(sa.Column("browser", sa.String(40), server_default="", nullable=False))
        batch_op.add_column(sa.Column("request_id", sa.String(64), server_default="", nullable=False))
    op.create_index("ix_audit_events_target", "audit_events", ["target", "id"])
    op.create_index("ix_audit_events_ip", "audit_events", ["ip", "id"])
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])
    with op.batch_alter_table("daily_usage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_requests", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_daily_usage_day", "daily_usage", ["day"])
    op.create_index("ix_users_created", "users", ["created_at", "id"])
    op.create_index("ix_users_last_login", "users", ["last_login_at", "id"])
    op.create_index("ix_users_storage", "users", ["storage_used", "id"])
    op.create_index("ix_users_media", "users", ["media_count", "id"])

    op.execute("UPDATE plans SET bandwidth_bytes_per_month = 53687091200 WHERE name = 'free'")  # 50 GiB
    op.execute("UPDATE plans SET bandwidth_bytes_per_month = 1099511627776 WHERE name = 'pro'")  # 1 TiB
    # The first admin was put on the default plan; the panel that could change it did not exist yet.
    op.execute("UPDATE users SET plan_id = (SELECT id FROM plans WHERE name = 'unlimited') "
               "WHERE id = (SELECT min(id) FROM users WHERE role = 'admin') "
               "AND EXISTS (SELECT 1 FROM plans WHERE name = 'unlimited')")


def downgrade():
    op.drop_index("ix_users_media", "users")
    op.drop_index("ix_users_storage", "users")
    op.drop_index("ix_users_last_login", "users")
    op.drop_index("ix_users_created", "users")
    op.drop_index("ix_daily_usage_day", "daily_usage")
    with op.batch_alter_table("daily_usage", schema=None) as batch_op:
        batch_op.drop_column("api_requests")
    op.drop_index("ix_audit_events_action_at", "audit_events")
    op.drop_index("ix_audit_events_ip", "audit_events")
    op.drop_index("ix_audit_events_target", "audit_events")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("request_id")
        batch_op.drop_column("browser")
        batch_op.drop_column("device")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("description")
        batch_op.drop_column("bandwidth_bytes_per_month")
    op.drop_table("user_groups")
    op.drop_table("group_permissions")
    op.drop_table("permissions")
    op.drop_table("groups")
