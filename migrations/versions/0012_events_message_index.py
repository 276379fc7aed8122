"""events by message, for retention

Revision ID: 0012
Revises: 0011
"""

from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_events_message', 'events', ['message_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_message', table_name='events')
