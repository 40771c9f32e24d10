"""a watch's S3 event queue and when it was last listed in full

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 05:00:00

A watch whose bucket sends its ObjectCreated events to an SQS queue is scanned nightly by
draining that queue (the night's new images) and listed in full only every few days, as a
net for events that never came.
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('watches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('events_queue', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('listed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('watches', schema=None) as batch_op:
        batch_op.drop_column('listed_at')
        batch_op.drop_column('events_queue')
