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
    with op.batch_alter_table('sites') as batch:
        batch.add_column(sa.Column('from_policy', sa.String(16), nullable=False,
                                   server_default='rewrite'))
        batch.add_column(sa.Column('default_from', sa.String(320), nullable=True))
        batch.add_column(sa.Column('subdomains', sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column('last_rewritten_from', sa.String(320), nullable=True))
    with op.batch_alter_table('stats') as batch:
        batch.add_column(sa.Column('rewritten', sa.Integer(), nullable=True, server_default='0'))
    with op.batch_alter_table('site_status_settings') as batch:
        batch.add_column(sa.Column('reported_origins', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('site_status_settings') as batch:
        batch.drop_column('reported_origins')
    with op.batch_alter_table('stats') as batch:
        batch.drop_column('rewritten')
    with op.batch_alter_table('sites') as batch:
        for name in ('last_rewritten_from', 'subdomains', 'default_from', 'from_policy'):
            batch.drop_column(name)
