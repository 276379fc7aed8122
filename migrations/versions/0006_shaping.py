"""shaping

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('provider_health',
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(), nullable=True),
    sa.Column('down_until', sa.DateTime(), nullable=True),
    sa.Column('backoff', sa.Float(), nullable=False),
    sa.Column('probe_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('provider')
    )
    op.create_table('shape_connections',
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('holder', sa.String(length=80), nullable=True),
    sa.Column('until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('provider', 'slot')
    )
    op.create_table('shape_counts',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('bucket', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'bucket')
    )
    op.create_table('shape_holds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('destination', sa.String(length=253), nullable=True),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('rate', sa.String(length=32), nullable=True),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('until', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('shape_holds', schema=None) as batch_op:
        batch_op.create_index('ix_shape_holds_until', ['until'], unique=False)

    op.create_table('shape_rates',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('tat', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('warmup_starts',
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('started_on', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('domain', 'provider')
    )
    op.create_table('bulk_pauses',
    sa.Column('site_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('paused_at', sa.DateTime(), nullable=False),
    sa.Column('counted_from', sa.DateTime(), nullable=True),
    sa.Column('resumed_by', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id')
    )


def downgrade() -> None:
    op.drop_table('bulk_pauses')
    op.drop_table('warmup_starts')
    op.drop_table('shape_rates')
    with op.batch_alter_table('shape_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_shape_holds_until')

    op.drop_table('shape_holds')
    op.drop_table('shape_counts')
    op.drop_table('shape_connections')
    op.drop_table('provider_health')
