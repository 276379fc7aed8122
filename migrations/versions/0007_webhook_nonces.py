"""webhook nonces

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_nonces',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('until', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('webhook_nonces', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_nonces_until', ['until'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('webhook_nonces', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_nonces_until')

    op.drop_table('webhook_nonces')
