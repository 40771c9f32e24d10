"""watches

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 00:24:18.192242
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('watches',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('source_prefix', sa.Text(), nullable=False),
    sa.Column('output_prefix', sa.Text(), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('watch_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('intake_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('report_uri', sa.Text(), nullable=True))
        batch_op.create_unique_constraint('uq_batches_watch_intake', ['watch_id', 'intake_key'])
        batch_op.create_foreign_key('fk_batches_watch_id', 'watches', ['watch_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_constraint('fk_batches_watch_id', type_='foreignkey')
        batch_op.drop_constraint('uq_batches_watch_intake', type_='unique')
        batch_op.drop_column('report_uri')
        batch_op.drop_column('intake_key')
        batch_op.drop_column('watch_id')

    op.drop_table('watches')
