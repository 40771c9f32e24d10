"""the board-ready report of each job

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 02:00:00

Jobs that ask for a board-ready material (a tile, whole repeats, a real size, a PBR check)
record what was done: the crop, the period found in pixels and millimetres, the real size, the
PBR shares; its warnings go to the warnings column with the job's others.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('board', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('board')
