"""When each dataset and job was soft-deleted: retention purges them a grace period later.

Rows already soft-deleted count as deleted now, so none is purged without its grace period.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("datasets", "jobs"):
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET deleted_at = CURRENT_TIMESTAMP WHERE is_deleted"))


def downgrade() -> None:
    for table in ("datasets", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("deleted_at")
