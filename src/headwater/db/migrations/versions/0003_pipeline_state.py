"""Pipeline state: pipeline and model runs, incremental watermarks, quality test results.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("run_uuid", sa.String(length=36), nullable=False),
        sa.Column("project", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("full_refresh", sa.Boolean(), nullable=False),
        sa.Column("selection", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_uuid", name=op.f("pk_pipeline_runs")),
    )
    op.create_index(
        op.f("ix_pipeline_runs_project_started_at"), "pipeline_runs", ["project", "started_at"]
    )
    op.create_table(
        "model_runs",
        sa.Column("run_uuid", sa.String(length=36), nullable=False),
        sa.Column("pipeline_run_uuid", sa.String(length=36), nullable=False),
        sa.Column("project", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_before", sa.BigInteger(), nullable=True),
        sa.Column("snapshot_after", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_uuid", name=op.f("pk_model_runs")),
    )
    op.create_index(op.f("ix_model_runs_pipeline_run_uuid"), "model_runs", ["pipeline_run_uuid"])
    op.create_index(
        op.f("ix_model_runs_project_model_started_at"),
        "model_runs",
        ["project", "model", "started_at"],
    )
    op.create_table(
        "model_watermarks",
        sa.Column("project", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("input", sa.String(length=512), nullable=False),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=False),
        sa.Column("model_run_uuid", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("project", "model", "input", name=op.f("pk_model_watermarks")),
    )
    op.create_table(
        "test_results",
        sa.Column("id", BigId, nullable=False),
        sa.Column("model_run_uuid", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("sample", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_results")),
    )
    op.create_index(op.f("ix_test_results_model_run_uuid"), "test_results", ["model_run_uuid"])


def downgrade() -> None:
    for table in ("test_results", "model_watermarks", "model_runs", "pipeline_runs"):
        op.drop_table(table)
