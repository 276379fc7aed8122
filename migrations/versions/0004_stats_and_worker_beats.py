"""stats and worker beats

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stats',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period', sa.String(length=1), nullable=False),
    sa.Column('bucket', sa.DateTime(), nullable=False),
    sa.Column('site_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('domain_group', sa.String(length=16), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('deferred', sa.Integer(), nullable=False),
    sa.Column('bounced', sa.Integer(), nullable=False),
    sa.Column('expired', sa.Integer(), nullable=False),
    sa.Column('suppressed', sa.Integer(), nullable=False),
    sa.Column('complained', sa.Integer(), nullable=False),
    sa.Column('latency_ms_sum', sa.BigInteger(), nullable=False),
    sa.Column('lat_0', sa.Integer(), nullable=False),
    sa.Column('lat_1', sa.Integer(), nullable=False),
    sa.Column('lat_2', sa.Integer(), nullable=False),
    sa.Column('lat_3', sa.Integer(), nullable=False),
    sa.Column('lat_4', sa.Integer(), nullable=False),
    sa.Column('lat_5', sa.Integer(), nullable=False),
    sa.Column('lat_6', sa.Integer(), nullable=False),
    sa.Column('lat_7', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('period', 'bucket', 'site_id', 'category', 'provider', 'domain_group', name='uq_stats_key')
    )
    with op.batch_alter_table('stats', schema=None) as batch_op:
        batch_op.create_index('ix_stats_site_bucket', ['site_id', 'period', 'bucket'], unique=False)

    op.create_table('worker_beats',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('beat_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('worker_beats')
    with op.batch_alter_table('stats', schema=None) as batch_op:
        batch_op.drop_index('ix_stats_site_bucket')

    op.drop_table('stats')
