"""per-site alert thresholds and the opt-in weekly summary, set from wp-admin (issue 13)

Revision ID: 0017
Revises: 0016
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of the table on SQLite).
    op.add_column('site_status_settings', sa.Column('thresholds', sa.JSON(), nullable=True))
    op.add_column('site_status_settings', sa.Column('weekly_summary_to', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('site_status_settings', schema=None) as batch_op:
        batch_op.drop_column('weekly_summary_to')
        batch_op.drop_column('thresholds')
