"""The scheduler's runs: one row per schedule and due time.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schedule_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("schedule", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("slot", _WHEN, nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("instance", sa.String(length=256), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("ended_at", _WHEN, nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_runs")),
        sa.UniqueConstraint("schedule", "slot", name=op.f("uq_schedule_runs_schedule_slot")),
    )
    op.create_index(
        op.f("ix_schedule_runs_schedule_started_at"), "schedule_runs", ["schedule", "started_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_schedule_runs_schedule_started_at"), table_name="schedule_runs")
    op.drop_table("schedule_runs")
