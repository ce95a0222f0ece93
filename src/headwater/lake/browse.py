"""The read side of the lake for people: which table a lineage dataset is, its snapshots with
the run that made each, and its rows at any snapshot (time travel)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from headwater.errors import BadRequestError
from headwater.lake.changes import MAINTENANCE_PROPERTY, RUN_PROPERTY
from headwater.lake.lake import Lake, dataset_id, summary_rows

PREVIEW_ROWS = 100  # the most rows a preview shows


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    rows: int
    added_rows: int
    run: str | None  # the headwater model run that committed it, if one did
    maintenance: str | None  # compact, rollback...: a rewrite that changed files, not data


class TableBrowser:
    """Opens the lake on first use: an app serving only lineage never touches the catalog."""

    def __init__(self, open_lake: Callable[[], Lake]) -> None:
        self._open = open_lake
        self._lake: Lake | None = None

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = self._open()
        return self._lake

    def close(self) -> None:
        if self._lake is not None:
            self._lake.close()

    def find(self, namespace: str, name: str) -> str | None:
        """The ``layer.table`` whose OpenLineage dataset id is (``namespace``, ``name``)."""
        for table_name in self.lake.table_names():
            table = self.lake.load(table_name)
            if table is not None and dataset_id(table.location()) == (namespace, name):
                return table_name
        return None

    def snapshots(self, table_name: str) -> list[SnapshotInfo]:
        """Every snapshot of the table, newest first."""
        table = self.lake.load(table_name)
        if table is None:
            return []
        found = []
        for snapshot in table.snapshots():
            summary = snapshot.summary
            properties = summary.additional_properties if summary is not None else {}
            found.append(
                SnapshotInfo(
                    snapshot_id=snapshot.snapshot_id,
                    parent_id=snapshot.parent_snapshot_id,
                    committed_at=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC),
                    operation=summary.operation.value if summary is not None else "",
                    rows=summary_rows(properties),
                    added_rows=int(properties.get("added-records", 0)),
                    run=properties.get(RUN_PROPERTY),
                    maintenance=properties.get(MAINTENANCE_PROPERTY),
                )
            )
        return sorted(found, key=lambda s: (s.committed_at, s.snapshot_id), reverse=True)

    def preview(self, table_name: str, snapshot_id: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` rows of the table as of ``snapshot_id``."""
        table = self.lake.load(table_name)
        if table is None or table.snapshot_by_id(snapshot_id) is None:
            raise BadRequestError(f"{table_name} has no snapshot {snapshot_id}", "version")
        rows: list[dict[str, Any]] = (
            table.scan(snapshot_id=snapshot_id, limit=min(limit, PREVIEW_ROWS))
            .to_arrow()
            .to_pylist()
        )
        return rows
