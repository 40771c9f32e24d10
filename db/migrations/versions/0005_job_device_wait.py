"""job device wait

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:20:00

A worker keeps several jobs in flight (one on the device, the next decoding, the last one
uploading); the time a decoded job waits for its turn on the device is recorded apart from
the inference time itself, so that the stage breakdown still adds up.
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wait_ms', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('wait_ms')
