"""job output key, warnings and material maps

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 07:00:00

Two sources must never write one output object: each job records its output URI as file
systems and sync tools compare names (case-folded, one slash, .jpeg as .jpg), indexed, so that
a new job is checked against every existing one. A job that succeeded with something to say (a
colour profile it could not read, a flat material) keeps its warnings; a job that made a PBR
material set lists its files.
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Here, not at the top: every command reads this file to find the head revision, and the
    # storage module brings boto3.
    from upscaler.storage import collision_key

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('output_key', sa.Text(), nullable=True))
        batch_op.create_index('ix_jobs_output_key', ['output_key'], unique=False)
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('maps', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('maps_ms', sa.Integer(), nullable=True))
    jobs = sa.table('jobs', sa.column('id', sa.Uuid()), sa.column('output_uri', sa.Text()),
                    sa.column('output_key', sa.Text()))
    connection = op.get_bind()
    rows = connection.execute(sa.select(jobs.c.id, jobs.c.output_uri).where(jobs.c.output_uri != '')).all()
    for job_id, uri in rows:
        connection.execute(jobs.update().where(jobs.c.id == job_id).values(output_key=collision_key(uri)))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('maps_ms')
        batch_op.drop_column('maps')
        batch_op.drop_column('warnings')
        batch_op.drop_index('ix_jobs_output_key')
        batch_op.drop_column('output_key')
