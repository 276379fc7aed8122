"""index for the message log's address search (issue 7)

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_recipients_site_address', 'recipients',
                    ['site_id', sa.text('lower(address)')], unique=False)
    op.create_index('ix_recipients_site_domain', 'recipients', ['site_id', 'domain'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_recipients_site_domain', table_name='recipients')
    op.drop_index('ix_recipients_site_address', table_name='recipients')
