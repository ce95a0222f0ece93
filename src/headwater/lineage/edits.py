"""Changes made through the API rather than by events: namespaces, tags and soft deletes.

Soft-deleted datasets, jobs and namespaces disappear from lists and lookups and come back
when a new event names them, as in Marquez.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from headwater.db import insert_for, insert_ignore
from headwater.db.schema import (
    dataset_field_tags,
    dataset_tags,
    datasets,
    job_tags,
    jobs,
    namespaces,
    tags,
)
from headwater.errors import NotFoundError
from headwater.lineage import read


def put_namespace(
    connection: Connection, name: str, owner_name: str | None, description: str | None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    stmt = insert_for(connection, namespaces).values(
        name=name,
        owner_name=owner_name,
        description=description,
        created_at=now,
        updated_at=now,
        is_hidden=False,
    )
    connection.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "owner_name": owner_name,
                "description": description,
                "updated_at": now,
                "is_hidden": False,
            },
        )
    )
    return read.namespace_row(connection, name)  # type: ignore[no-any-return]


def delete_namespace(connection: Connection, name: str) -> Any:
    row = read.namespace_row(connection, name)
    now = datetime.now(UTC)
    connection.execute(
        update(namespaces).where(namespaces.c.id == row.id).values(is_hidden=True, updated_at=now)
    )
    for table in (datasets, jobs):
        connection.execute(
            update(table)
            .where(table.c.namespace_id == row.id, table.c.is_deleted.is_(False))
            .values(is_deleted=True, deleted_at=now)
        )
    return read.namespace_row(connection, name, include_hidden=True)


def delete_dataset(connection: Connection, namespace: str, name: str) -> dict[str, Any]:
    body = read.get_dataset(connection, namespace, name)
    row = read.dataset_row(connection, namespace, name)
    connection.execute(
        update(datasets)
        .where(datasets.c.id == row.id)
        .values(is_deleted=True, deleted_at=datetime.now(UTC))
    )
    return {**body, "deleted": True}


def delete_job(connection: Connection, namespace: str, name: str) -> dict[str, Any]:
    body = read.get_job(connection, namespace, name)
    row = read.job_row(connection, namespace, name)
    connection.execute(
        update(jobs)
        .where(jobs.c.id == row.id)
        .values(is_deleted=True, deleted_at=datetime.now(UTC))
    )
    return {**body, "deleted": True}


def put_tag(connection: Connection, name: str, description: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    connection.execute(
        insert_for(connection, tags)
        .values(name=name, description=description, created_at=now, updated_at=now)
        .on_conflict_do_update(
            index_elements=["name"], set_={"description": description, "updated_at": now}
        )
    )
    return read.list_tags(connection, 10_000, 0)


def _tag_id(connection: Connection, name: str) -> int:
    """Tags are created on first use, so tagging never fails for want of a PUT /tags first."""
    now = datetime.now(UTC)
    insert_ignore(
        connection,
        tags,
        [{"name": name, "description": None, "created_at": now, "updated_at": now}],
        ["name"],
    )
    return int(connection.execute(select(tags.c.id).where(tags.c.name == name)).scalar_one())


def tag_dataset(
    connection: Connection,
    namespace: str,
    name: str,
    tag: str,
    *,
    field: str | None = None,
    remove: bool = False,
) -> dict[str, Any]:
    row = read.dataset_row(connection, namespace, name)
    if field is not None and field not in {f["name"] for f in row.fields}:
        raise NotFoundError("field", f"{namespace}:{name}:{field}")
    tag_id = _tag_id(connection, tag)
    now = datetime.now(UTC)
    if field is None:
        link, keys = dataset_tags, {"dataset_id": row.id, "tag_id": tag_id}
    else:
        link, keys = (
            dataset_field_tags,
            {"dataset_id": row.id, "field_name": field, "tag_id": tag_id},
        )
    if remove:
        connection.execute(delete(link).where(*(link.c[k] == v for k, v in keys.items())))
    else:
        insert_ignore(connection, link, [{**keys, "tagged_at": now}], list(keys))
    return read.get_dataset(connection, namespace, name)


def tag_job(
    connection: Connection, namespace: str, name: str, tag: str, *, remove: bool = False
) -> dict[str, Any]:
    row = read.job_row(connection, namespace, name)
    tag_id = _tag_id(connection, tag)
    keys = {"job_id": row.id, "tag_id": tag_id}
    if remove:
        connection.execute(
            delete(job_tags).where(job_tags.c.job_id == row.id, job_tags.c.tag_id == tag_id)
        )
    else:
        insert_ignore(connection, job_tags, [{**keys, "tagged_at": datetime.now(UTC)}], list(keys))
    return read.get_job(connection, namespace, name)
