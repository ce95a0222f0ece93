"""The audit API: the log with filters, the signed checkpoint, proofs, one target's history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from headwater.audit.checkpoints import Checkpoint, TreeCache, serve_checkpoint
from headwater.audit.entries import AuditEntry
from headwater.audit.history import target_history
from headwater.audit.log import get_entry, list_entries, log_size
from headwater.audit.signing import SigningKey
from headwater.db import Database
from headwater.errors import BadRequestError, NotFoundError
from headwater.responses import OrjsonResponse as _Json


class AuditService:
    """What the audit routes need: the database and the checkpoint signing key."""

    def __init__(self, database: Database, key: SigningKey) -> None:
        self.database = database
        self.key = key
        self.trees = TreeCache()

    def checkpoint(self) -> Checkpoint:
        return serve_checkpoint(self.database, self.key, self.trees)


def _service(request: Request) -> AuditService:
    service: AuditService = request.app.state.audit
    return service


router = APIRouter(prefix="/api/v1/audit", tags=["Audit"], default_response_class=_Json)


def _entries(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    return [e.as_json() for e in entries]


@router.get("")
def get_audit_log(
    request: Request,
    actor: str | None = None,
    action: Annotated[
        str | None, Query(description="An action, or a family: `lineage` matches lineage.*")
    ] = None,
    target: Annotated[
        str | None, Query(description="e.g. dataset:<ns>:<name>; also matches entries naming it")
    ] = None,
    after: datetime | None = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> _Json:
    """Entries newest first, with ``totalCount`` of all that match the filters."""
    with _service(request).database.read() as connection:
        entries, total = list_entries(
            connection,
            actor=actor,
            action=action,
            target=target,
            after=after,
            before=before,
            limit=limit,
            offset=offset,
        )
    return _Json({"entries": _entries(entries), "totalCount": total})


@router.get("/checkpoint")
def get_checkpoint(request: Request) -> _Json:
    """A signed checkpoint of the whole log (made now if the log grew) and the public key."""
    return _Json(_service(request).checkpoint().as_json())


def _tree_size(connection: Any, requested: int | None, field: str) -> int:
    size = log_size(connection)
    if requested is None:
        return size
    if requested > size:
        raise BadRequestError(f"must be at most the log's size, {size}", field)
    return requested


@router.get("/proof/inclusion")
def get_inclusion_proof(
    request: Request,
    seq: Annotated[int, Query(ge=1, description="The entry to prove.")],
    tree_size: Annotated[
        int | None, Query(alias="treeSize", ge=1, description="Default: the whole log.")
    ] = None,
) -> _Json:
    """RFC 6962 audit path of entry ``seq`` in the tree of the first ``treeSize`` entries."""
    service = _service(request)
    with service.database.read() as connection:
        size = _tree_size(connection, tree_size, "treeSize")
        if seq > size:
            raise BadRequestError(f"must be at most treeSize ({size})", "seq")
        entry = get_entry(connection, seq)
        if entry is None:
            raise NotFoundError("audit entry", str(seq))
        tree = service.trees.tree(connection, size)
    return _Json(
        {
            "seq": seq,
            "leafIndex": seq - 1,
            "treeSize": size,
            "entryHash": entry.hash,
            "rootHash": tree.root(size).hex(),
            "auditPath": [p.hex() for p in tree.inclusion_proof(seq - 1, size)],
        }
    )


@router.get("/proof/consistency")
def get_consistency_proof(
    request: Request,
    first: Annotated[int, Query(ge=0, description="The older tree size.")],
    second: Annotated[int | None, Query(ge=0, description="Default: the whole log.")] = None,
) -> _Json:
    """RFC 6962 proof that the tree of ``second`` entries extends the tree of ``first``."""
    service = _service(request)
    with service.database.read() as connection:
        size = _tree_size(connection, second, "second")
        if first > size:
            raise BadRequestError(f"must be at most second ({size})", "first")
        tree = service.trees.tree(connection, size)
    return _Json(
        {
            "first": first,
            "second": size,
            "firstRootHash": tree.root(first).hex(),
            "secondRootHash": tree.root(size).hex(),
            "proof": [p.hex() for p in tree.consistency_proof(first, size)],
        }
    )


@router.get("/history")
def get_history(
    request: Request,
    target: Annotated[str, Query(min_length=1, description="e.g. dataset:<ns>:<name>")],
) -> _Json:
    """The story of one target, oldest first: runs that wrote it (with versions), deletes..."""
    with _service(request).database.read() as connection:
        items = target_history(connection, target)
    return _Json({"target": target, "history": [i.as_json() for i in items]})
