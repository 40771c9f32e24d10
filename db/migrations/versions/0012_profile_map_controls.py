"""the map controls of each material profile

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00

An operator's profile may set how its category's maps read the relief and roughness (relief
inverted, depth, normal strength and bits, roughness mean and range): the controls set, as one
object; NULL (every profile stored before) leaves them to the category's presets.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('material_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('map_controls', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('material_profiles', schema=None) as batch_op:
        batch_op.drop_column('map_controls')
