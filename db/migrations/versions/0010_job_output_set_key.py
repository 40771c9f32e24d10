"""the material set folder each job writes, in its collision key

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:00:00

A job that makes a PBR material set writes a folder beside its image (``slate.png`` ->
``slate/``): that folder, and everything in it, is the job's too. Two jobs clash when one's image
or folder lies in the other's folder, or their folders are one (``slate.png`` and ``slate.jpg``).
The folder's key is kept beside the image's, indexed; both compare byte by byte (C collation on
PostgreSQL, SQLite's default), so "everything inside this folder" is one index range.
Collision keys now also compare Unicode names in NFC (``café`` composed or decomposed is one
name on macOS): the keys of live jobs are made again.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

LIVE = ('queued', 'running', 'succeeded')


def upgrade() -> None:
    # Here, not at the top: every command reads this file to find the head revision, and the
    # storage module brings boto3.
    from upscaler.storage import collision_key, folder_key, set_folder

    connection = op.get_bind()
    postgresql = connection.dialect.name == 'postgresql'
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('output_set_key', sa.Text(), nullable=True))
    if postgresql:  # byte order, so that a folder's contents are one range of the index
        op.drop_index('ix_jobs_output_key', table_name='jobs')
        op.execute('ALTER TABLE jobs ALTER COLUMN output_key TYPE text COLLATE "C"')
        op.execute('ALTER TABLE jobs ALTER COLUMN output_set_key TYPE text COLLATE "C"')
        op.create_index('ix_jobs_output_key', 'jobs', ['output_key'], unique=False)
    op.create_index('ix_jobs_output_set_key', 'jobs', ['output_set_key'], unique=False)
    jobs = sa.table('jobs', sa.column('id', sa.Uuid()), sa.column('output_uri', sa.Text()),
                    sa.column('output_key', sa.Text()), sa.column('output_set_key', sa.Text()),
                    sa.column('params', sa.JSON()), sa.column('status', sa.String()))
    rows = connection.execute(sa.select(jobs.c.id, jobs.c.output_uri, jobs.c.params)
                              .where(jobs.c.output_uri != '', jobs.c.status.in_(LIVE))).all()
    for job_id, uri, params in rows:
        maps = (params or {}).get('maps')
        connection.execute(jobs.update().where(jobs.c.id == job_id).values(
            output_key=collision_key(uri), output_set_key=folder_key(set_folder(uri)) if maps else None))


def downgrade() -> None:
    op.drop_index('ix_jobs_output_set_key', table_name='jobs')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('output_set_key')
