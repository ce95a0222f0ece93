"""Alembic environment: migrations always run on a connection handed in by headwater."""

from __future__ import annotations

from alembic import context

from headwater.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `headwater db upgrade`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
