"""An index on when lineage events were received: the UI's events-per-hour counts by it.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_lineage_events_received_at"), "lineage_events", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lineage_events_received_at"), table_name="lineage_events")
