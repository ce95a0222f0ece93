"""Datasets and jobs in name order: the UI's lists (``/datasets``, ``/jobs``) page through them
by name.

Without an index each page sorted every live row to keep a hundred (31,200 datasets in the
lineage benchmark's store), and counting them read every row, facets and all. The index holds
what the list filters and joins on besides the name (namespace, deleted or not), so a page's
ids and the count are read from it alone; the rows of the page are then fetched by id.

A name never changes and ``is_deleted`` rarely does. On PostgreSQL an update of a dataset or
job is never HOT (``updated_at`` is indexed already), so each one also adds an entry to this
index: docs/benchmarks.md ("Web UI") has what that costs the lineage writes.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ["name", "namespace_id", "is_deleted"]


def upgrade() -> None:
    for table in ("datasets", "jobs"):
        op.create_index(op.f(f"ix_{table}_name_namespace_id_is_deleted"), table, COLUMNS)


def downgrade() -> None:
    for table in ("datasets", "jobs"):
        op.drop_index(op.f(f"ix_{table}_name_namespace_id_is_deleted"), table_name=table)
