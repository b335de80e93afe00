"""How many photos and files each account has, kept with each upload and delete (the gallery shows it).

Revision ID: 0005_media_count
Revises: 0004_albums
Create Date: 2026-11-23 00:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0005_media_count"
down_revision = "0004_albums"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_count', sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE users SET media_count = (SELECT count(*) FROM media WHERE media.user_id = users.id)")


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('media_count')
