"""an index over queued jobs, for the sweeper

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 18:00:00

The sweeper pages through queued jobs in (queued_at, id) order to find those whose message the
broker lost. A partial index holds only the queued rows, so each page is a short range read
however many finished jobs the table keeps.
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    queued = sa.text("status = 'queued'")
    op.create_index('ix_jobs_queued', 'jobs', ['queued_at', 'id'], unique=False,
                    postgresql_where=queued, sqlite_where=queued)


def downgrade() -> None:
    op.drop_index('ix_jobs_queued', table_name='jobs')
