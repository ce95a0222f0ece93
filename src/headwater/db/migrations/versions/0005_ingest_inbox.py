"""The webhook inbox, its dead letters, landed batches, landed files and their rejects, and
the receiver's counters.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ingest_inbox",
        sa.Column("seq", _ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("webhook_id", sa.String(length=256), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ingest_inbox")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_ingest_inbox_source_event_id")),
    )
    op.create_index(op.f("ix_ingest_inbox_batch_id"), "ingest_inbox", ["batch_id"])
    waiting = sa.text("batch_id IS NULL")
    op.create_index(
        "ix_ingest_inbox_waiting",
        "ingest_inbox",
        ["source", "topic", "seq"],
        sqlite_where=waiting,
        postgresql_where=waiting,
    )
    op.create_table(
        "ingest_dead_letters",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("webhook_id", sa.String(length=256), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replayed_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_dead_letters")),
        sa.UniqueConstraint(
            "source", "event_id", name=op.f("uq_ingest_dead_letters_source_event_id")
        ),
    )
    op.create_index(
        op.f("ix_ingest_dead_letters_source_replayed_at"),
        "ingest_dead_letters",
        ["source", "replayed_at"],
    )
    op.create_table(
        "ingest_batches",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batches")),
        sa.UniqueConstraint("batch_id", name=op.f("uq_ingest_batches_batch_id")),
    )
    op.create_index(
        op.f("ix_ingest_batches_source_topic_id"), "ingest_batches", ["source", "topic", "id"]
    )
    op.create_table(
        "ingest_files",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("table_name", sa.String(length=256), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_files")),
        sa.UniqueConstraint("table_name", "sha256", name=op.f("uq_ingest_files_table_name_sha256")),
    )
    op.create_table(
        "ingest_file_rejects",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_file_rejects")),
    )
    op.create_index(op.f("ix_ingest_file_rejects_file_id"), "ingest_file_rejects", ["file_id"])
    op.create_table(
        "ingest_pulls",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("table_name", sa.String(length=256), nullable=False),
        sa.Column("mark", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_pulls")),
        sa.UniqueConstraint("batch_id", name=op.f("uq_ingest_pulls_batch_id")),
    )
    op.create_index(op.f("ix_ingest_pulls_table_name_id"), "ingest_pulls", ["table_name", "id"])
    op.create_table(
        "ingest_counters",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("counter", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "topic", "counter", name=op.f("pk_ingest_counters")),
    )


def downgrade() -> None:
    op.drop_table("ingest_counters")
    op.drop_index(op.f("ix_ingest_pulls_table_name_id"), "ingest_pulls")
    op.drop_table("ingest_pulls")
    op.drop_index(op.f("ix_ingest_file_rejects_file_id"), "ingest_file_rejects")
    op.drop_table("ingest_file_rejects")
    op.drop_table("ingest_files")
    op.drop_index(op.f("ix_ingest_batches_source_topic_id"), "ingest_batches")
    op.drop_table("ingest_batches")
    op.drop_index(op.f("ix_ingest_dead_letters_source_replayed_at"), "ingest_dead_letters")
    op.drop_table("ingest_dead_letters")
    op.drop_index("ix_ingest_inbox_waiting", "ingest_inbox")
    op.drop_index(op.f("ix_ingest_inbox_batch_id"), "ingest_inbox")
    op.drop_table("ingest_inbox")
