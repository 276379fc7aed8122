"""events: repeated reports marked as duplicates; site session epochs

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_FIRST = sa.text("duplicate_of IS NULL")


def upgrade() -> None:
    op.add_column('events', sa.Column('duplicate_of', sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                      nullable=True))
    # Repeats already stored point at their first, so the unique index below can hold.
    op.execute("""
        UPDATE events SET duplicate_of = (
            SELECT MIN(f.id) FROM events f
             WHERE f.site_id = events.site_id AND f.message_id = events.message_id
               AND f.address = events.address AND f."group" = events."group")
         WHERE message_id IS NOT NULL AND id > (
            SELECT MIN(f.id) FROM events f
             WHERE f.site_id = events.site_id AND f.message_id = events.message_id
               AND f.address = events.address AND f."group" = events."group")""")
    op.create_index('ux_events_first', 'events', ['site_id', 'message_id', 'address', 'group'],
                    unique=True, sqlite_where=_FIRST, postgresql_where=_FIRST)
    op.add_column('sites', sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    op.drop_column('sites', 'session_epoch')
    op.drop_index('ux_events_first', table_name='events')
    op.drop_column('events', 'duplicate_of')
