"""DNS check results kept per sending domain (issue 9)

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dns_checks',
    sa.Column('site_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=True),
    sa.Column('findings', sa.JSON(), nullable=True),
    sa.Column('dmarc', sa.String(length=16), nullable=True),
    sa.Column('hold_reason', sa.Text(), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'domain')
    )
    with op.batch_alter_table('dns_checks', schema=None) as batch_op:
        batch_op.create_index('ix_dns_checks_expires', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dns_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_dns_checks_expires')

    op.drop_table('dns_checks')
