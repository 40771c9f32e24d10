"""material profiles, and the profile and detail each job ran with

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:00:00

Operators' settings of the material profiles (categories without a row run the shipped
defaults); each job records the profile its material chose and the texture detail it set.
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('material_profiles',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Float(), nullable=False),
    sa.Column('preserve_color', sa.Boolean(), nullable=False),
    sa.Column('seamless', sa.Boolean(), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('profile', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('detail', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('detail')
        batch_op.drop_column('profile')
    op.drop_table('material_profiles')
