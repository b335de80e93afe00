"""Albums and their ordered items; the date-taken sort column and one index per gallery sort.

Revision ID: 0004_albums
Revises: 0003_media
Create Date: 2026-11-23 00:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004_albums"
down_revision = "0003_media"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.add_column(sa.Column('captured_at', sa.DateTime(), nullable=True))
    # Photos already stored sort by when they were taken, or by when they came in.
    op.execute("UPDATE media SET captured_at = COALESCE(taken_at, created_at)")
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.alter_column('captured_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.create_index('ix_media_user_captured', ['user_id', 'captured_at', 'id'], unique=False)
        batch_op.create_index('ix_media_user_name', ['user_id', 'original_name', 'id'], unique=False)
        batch_op.create_index('ix_media_user_size', ['user_id', 'size', 'id'], unique=False)

    op.create_table('albums',
    sa.Column('id', sa.String(length=22), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('cover_media_id', sa.String(length=22), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cover_media_id'], ['media.id'], name=op.f('fk_albums_cover_media_id_media'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_albums_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_albums'))
    )
    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.create_index('ix_albums_user_updated', ['user_id', 'updated_at', 'id'], unique=False)

    op.create_table('album_items',
    sa.Column('album_id', sa.String(length=22), nullable=False),
    sa.Column('media_id', sa.String(length=22), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['album_id'], ['albums.id'], name=op.f('fk_album_items_album_id_albums'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_album_items_media_id_media'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('album_id', 'media_id', name=op.f('pk_album_items'))
    )
    with op.batch_alter_table('album_items', schema=None) as batch_op:
        batch_op.create_index('ix_album_items_album_position', ['album_id', 'position', 'media_id'], unique=False)
        batch_op.create_index('ix_album_items_media', ['media_id'], unique=False)


def downgrade():
    with op.batch_alter_table('album_items', schema=None) as batch_op:
        batch_op.drop_index('ix_album_items_media')
        batch_op.drop_index('ix_album_items_album_position')
    op.drop_table('album_items')
    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.drop_index('ix_albums_user_updated')
    op.drop_table('albums')
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_index('ix_media_user_size')
        batch_op.drop_index('ix_media_user_name')
        batch_op.drop_index('ix_media_user_captured')
        batch_op.drop_column('captured_at')
