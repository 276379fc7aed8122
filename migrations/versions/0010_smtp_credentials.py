"""separate SMTP credentials per site (issue 5)

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('smtp_credentials',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('site_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    with op.batch_alter_table('smtp_credentials', schema=None) as batch_op:
        batch_op.create_index('ix_smtp_credentials_site', ['site_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('smtp_credentials', schema=None) as batch_op:
        batch_op.drop_index('ix_smtp_credentials_site')

    op.drop_table('smtp_credentials')
