"""write probes: /readyz checks that the database takes writes

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('write_probes',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('written_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('write_probes')
