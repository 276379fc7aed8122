"""request nonces (replay protection of signed API requests)

Revision ID: 0015
Revises: 0014
"""

from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('request_nonces',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table('request_nonces')
