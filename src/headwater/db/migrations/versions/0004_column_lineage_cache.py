"""Column lineage traced from models' SQL, kept across processes.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "column_lineage_cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("lineage", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_column_lineage_cache")),
    )


def downgrade() -> None:
    op.drop_table("column_lineage_cache")
