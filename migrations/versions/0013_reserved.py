"""senders a site may use (from_policy, default_from, subdomains), From rewrites counted,
frame origins the site's own signed requests reported

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch copy: on SQLite that drops and re-creates the table, and
    # with foreign keys on, dropping sites would cascade to every site's rows.
    op.add_column('sites', sa.Column('from_policy', sa.String(16), nullable=False,
                                     server_default='rewrite'))
    op.add_column('sites', sa.Column('default_from', sa.String(320), nullable=True))
    op.add_column('sites', sa.Column('subdomains', sa.Boolean(), nullable=False,
                                     server_default=sa.true()))
    op.add_column('sites', sa.Column('last_rewritten_from', sa.String(320), nullable=True))
    op.add_column('stats', sa.Column('rewritten', sa.Integer(), nullable=True, server_default='0'))
    op.add_column('site_status_settings', sa.Column('reported_origins', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('site_status_settings', 'reported_origins')
    op.drop_column('stats', 'rewritten')
    for name in ('last_rewritten_from', 'subdomains', 'default_from', 'from_policy'):
        op.drop_column('sites', name)
