"""Operations: component heartbeats, alert rule states and the notifications sent.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ops_heartbeats",
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("instance", sa.String(length=256), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("beat_at", _WHEN, nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("component", "instance", name=op.f("pk_ops_heartbeats")),
    )
    op.create_table(
        "alert_states",
        sa.Column("rule", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("since", _WHEN, nullable=False),
        sa.Column("fired_at", _WHEN, nullable=True),
        sa.Column("notified_at", _WHEN, nullable=True),
        sa.Column("evaluated_at", _WHEN, nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("rule", name=op.f("pk_alert_states")),
    )
    op.create_table(
        "alert_notifications",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("notifier", sa.String(length=256), nullable=False),
        sa.Column("sent_at", _WHEN, nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
    )
    op.create_index(
        op.f("ix_alert_notifications_rule_sent_at"), "alert_notifications", ["rule", "sent_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_notifications_rule_sent_at"), table_name="alert_notifications")
    op.drop_table("alert_notifications")
    op.drop_table("alert_states")
    op.drop_table("ops_heartbeats")
