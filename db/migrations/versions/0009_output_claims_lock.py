"""a lock row for claiming output keys

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 18:45:00

Two submits (or a submit and a nightly scan) racing for the same outputs must not both win: the
check "does a live job of another source write this key?" and the insert of the new jobs run
under one lock, a row lock on this table's single row (an UPDATE of it, held until the
transaction ends), the same statement on PostgreSQL and SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    locks = op.create_table('intake_locks',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.bulk_insert(locks, [{'name': 'outputs', 'taken_at': None}])


def downgrade() -> None:
    op.drop_table('intake_locks')
