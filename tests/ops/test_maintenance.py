"""Table maintenance: every operation is planned, a dry run unless executed, and audited;
compaction keeps every row and is skipped by incremental readers; expiry deletes only files
nothing else needs; orphans are only files nothing refers to."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import Table
from sqlalchemy import select

from headwater import audit
from headwater.db import Database
from headwater.db.schema import audit_log
from headwater.lake import MAINTENANCE_PROPERTY, Lake, changes_since, local_path
from headwater.ops import (
    TableChangedError,
    compact_table,
    expire_table,
    orphan_files,
    rollback_table,
    table_history,
)
from headwater.pipeline import load_project
from tests.pipeline.projects import append_orders, delivered_project, orders, rows, run_project

TARGET = 128 * 2**20


def raw_orders(lake: Lake) -> Table:
    table = lake.load("raw.orders")
    assert table is not None
    return table


def files_on_disk(lake: Lake, name: str) -> set[str]:
    table = lake.load(name)
    assert table is not None
    root = Path(local_path(table.location()))
    return {str(p) for p in root.rglob("*") if p.is_file()}


def sorted_rows(lake: Lake, name: str) -> list[dict[str, object]]:
    return sorted(rows(lake, name), key=lambda r: str(sorted(r.items())))


def expire_all(database: Database, lake: Lake, *, retain_last: int, execute: bool) -> Any:
    """Expire every snapshot of raw.orders the rules let go (all are older than a second on)."""
    return expire_table(
        database,
        lake,
        "raw.orders",
        older_than=datetime.now(UTC) + timedelta(seconds=1),
        retain_last=retain_last,
        execute=execute,
        actor="t",
    )


def actions(database: Database) -> list[str]:
    with database.read() as connection:
        return [r.action for r in connection.execute(select(audit_log.c.action))]


@pytest.fixture
def project(tmp_path: Path, lake: Lake) -> Path:
    """raw.orders delivered in 12 small appends (12 data files)."""
    root = delivered_project(tmp_path / "project", lake, count=10)
    for batch in range(1, 12):
        append_orders(lake, orders(batch * 10, 10))
    return root


def test_compaction_rewrites_small_files_into_one_commit_and_keeps_every_row(
    database: Database, lake: Lake, project: Path
) -> None:
    before_rows = sorted_rows(lake, "raw.orders")
    before = raw_orders(lake).current_snapshot()
    assert before is not None and len(lake.files(raw_orders(lake), before.snapshot_id).tasks) == 12

    report = compact_table(
        database, lake, "raw.orders", target_bytes=TARGET, execute=True, actor="test"
    )
    assert report.executed
    assert report.facts["files_before"] == 12 and report.facts["files_after"] == 1
    table = raw_orders(lake)
    current = table.current_snapshot()
    assert current is not None and current.parent_snapshot_id == before.snapshot_id
    assert current.summary is not None
    assert current.summary.operation.value == "replace"
    assert current.summary.additional_properties[MAINTENANCE_PROPERTY] == "compact"
    assert sorted_rows(lake, "raw.orders") == before_rows
    # Time travel to before the compaction still reads the same rows from the old files.
    old = table.scan(snapshot_id=before.snapshot_id).to_arrow().num_rows
    assert old == len(before_rows)
    assert actions(database).count("table.compact") == 1


def test_incremental_readers_skip_a_compaction(
    database: Database, lake: Lake, project: Path
) -> None:
    assert run_project(project, database, lake).status == "COMPLETED"
    watermark = raw_orders(lake).current_snapshot()
    assert watermark is not None
    compact_table(database, lake, "raw.orders", target_bytes=TARGET, execute=True, actor="t")
    changes = changes_since(raw_orders(lake), watermark.snapshot_id)
    assert changes.append_ranges == () and len(changes.maintenance) == 1

    result = run_project(project, database, lake)
    assert result.status == "COMPLETED"
    assert result.outcomes["staging.stg_orders"].record.rows_read == 0
    assert len(rows(lake, "staging.stg_orders")) == 120


def test_compaction_applies_and_drops_position_deletes(
    database: Database, lake: Lake, project: Path
) -> None:
    """A merge leaves position delete files; compacting its table applies them."""
    assert run_project(project, database, lake).status == "COMPLETED"
    append_orders(lake, orders(0, 5, amount="999"))  # re-deliveries: stg_orders merges them
    assert run_project(project, database, lake).status == "COMPLETED"
    table = lake.load("staging.stg_orders")
    assert table is not None and table.current_snapshot() is not None
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert summary is not None and int(summary.get("total-delete-files", "0")) > 0
    before = sorted_rows(lake, "staging.stg_orders")

    report = compact_table(
        database, lake, "staging.stg_orders", target_bytes=TARGET, execute=True, actor="t"
    )
    assert report.facts["delete_files_applied"] > 0
    table = lake.load("staging.stg_orders")
    assert table is not None
    current = table.current_snapshot()
    assert current is not None and current.summary is not None
    assert current.summary.get("total-delete-files") == "0"
    assert sorted_rows(lake, "staging.stg_orders") == before
    # The model keeps merging into the compacted table.
    append_orders(lake, orders(5, 3, amount="7"))
    assert run_project(project, database, lake).status == "COMPLETED"
    amounts = {r["event_id"]: r["amount"] for r in rows(lake, "staging.stg_orders")}
    assert len(amounts) == 120 and amounts["e0"] == 999.0 and amounts["e5"] == 7.0


def test_a_dry_run_changes_nothing(database: Database, lake: Lake, project: Path) -> None:
    before = raw_orders(lake).current_snapshot()
    on_disk = files_on_disk(lake, "raw.orders")
    report = compact_table(
        database, lake, "raw.orders", target_bytes=TARGET, execute=False, actor="t"
    )
    assert not report.executed and report.facts["files_rewritten"] == 12
    assert raw_orders(lake).current_snapshot() == before
    assert files_on_disk(lake, "raw.orders") == on_disk
    assert "table.compact" not in actions(database)


def test_a_table_that_changed_since_the_plan_is_refused_and_left_as_it_was(
    database: Database, lake: Lake, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headwater.ops import maintenance

    def commit_in_between(point: str, subject: str) -> None:
        if point == "compact-before-commit":
            append_orders(lake, orders(500, 1))

    monkeypatch.setattr(maintenance, "fault_point", commit_in_between)
    with pytest.raises(TableChangedError, match="run the compaction again"):
        compact_table(database, lake, "raw.orders", target_bytes=TARGET, execute=True, actor="t")
    table = raw_orders(lake)
    current = table.current_snapshot()
    assert current is not None and current.summary is not None
    assert current.summary.operation.value == "append"
    assert len(rows(lake, "raw.orders")) == 121


def test_a_file_over_the_size_target_is_left_alone(
    database: Database, lake: Lake, project: Path
) -> None:
    report = compact_table(database, lake, "raw.orders", target_bytes=1, execute=True, actor="t")
    assert not report.executed and report.facts["files_rewritten"] == 0


def test_expiry_keeps_the_newest_and_what_readers_need_and_deletes_only_unshared_files(
    database: Database, lake: Lake, project: Path
) -> None:
    assert run_project(project, database, lake).status == "COMPLETED"  # watermark: snapshot 12
    for batch in range(12, 15):
        append_orders(lake, orders(batch * 10, 10))
    compact_table(database, lake, "raw.orders", target_bytes=TARGET, execute=True, actor="t")
    table = raw_orders(lake)
    chain = sorted(table.snapshots(), key=lambda s: s.sequence_number)
    assert len(chain) == 16
    watermark = chain[11].snapshot_id

    dry = expire_all(database, lake, retain_last=2, execute=False)
    expired = set(dry.facts["snapshots_expired"])
    assert expired == {s.snapshot_id for s in chain[:11]}
    assert dry.facts["kept_because"][str(watermark)].endswith("watermark needs it")
    assert len(raw_orders(lake).snapshots()) == 16

    on_disk = files_on_disk(lake, "raw.orders")
    report = expire_all(database, lake, retain_last=2, execute=True)
    table = raw_orders(lake)
    assert {s.snapshot_id for s in table.snapshots()} == {s.snapshot_id for s in chain[11:]}
    deleted = on_disk - files_on_disk(lake, "raw.orders")
    # The data files of the first 11 appends are still read by the watermark's snapshot.
    assert len(deleted) == report.facts["files_deleted"] == 11  # their manifest lists
    assert all(p.endswith(".avro") for p in deleted)
    # Every kept snapshot still reads completely.
    for snapshot in table.snapshots():
        table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()
    assert (
        run_project(project, database, lake).outcomes["staging.stg_orders"].record.rows_read == 30
    )


def test_expiry_deletes_the_data_files_no_kept_snapshot_reads(
    database: Database, lake: Lake, project: Path
) -> None:
    compact_table(database, lake, "raw.orders", target_bytes=TARGET, execute=True, actor="t")
    on_disk = files_on_disk(lake, "raw.orders")
    report = expire_all(database, lake, retain_last=1, execute=True)
    deleted = on_disk - files_on_disk(lake, "raw.orders")
    assert len([p for p in deleted if p.endswith(".parquet")]) == 12
    assert len(deleted) == report.facts["files_deleted"]
    assert len(rows(lake, "raw.orders")) == 120
    assert "table.expire" in actions(database)


def test_orphans_are_old_files_nothing_refers_to(
    database: Database, lake: Lake, project: Path
) -> None:
    folder = Path(local_path(raw_orders(lake).location())) / "data"
    old, new = folder / "left-by-a-crash.parquet", folder / "being-written.parquet"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"y" * 10)
    long_ago = time.time() - 4 * 86400
    os.utime(old, (long_ago, long_ago))
    cutoff = datetime.now(UTC) - timedelta(days=3)

    found = orphan_files(database, lake, "raw.orders", older_than=cutoff, execute=False, actor="t")
    assert [Path(local_path(p)).name for p in found.facts["orphans"]] == [old.name]
    assert old.exists()
    orphan_files(database, lake, "raw.orders", older_than=cutoff, execute=True, actor="t")
    assert not old.exists() and new.exists()
    # With no safety interval, only the new stray file is an orphan: nothing the table uses.
    now = orphan_files(
        database,
        lake,
        "raw.orders",
        older_than=datetime.now(UTC) + timedelta(seconds=1),
        execute=False,
        actor="t",
    )
    assert [Path(local_path(p)).name for p in now.facts["orphans"]] == [new.name]
    assert len(rows(lake, "raw.orders")) == 120
    assert "table.orphans" in actions(database)


def test_rollback_makes_an_earlier_snapshot_current_and_names_the_readers_that_rebuild(
    database: Database, lake: Lake, project: Path
) -> None:
    first = sorted(raw_orders(lake).snapshots(), key=lambda s: s.sequence_number)[0]
    assert run_project(project, database, lake).status == "COMPLETED"
    dry = rollback_table(
        database, lake, "raw.orders", to=first.snapshot_id, execute=False, actor="t"
    )
    assert (dry.facts["rows_before"], dry.facts["rows_after"]) == (120, 10)
    assert dry.facts["readers_rebuilding"] == ["shoptest:staging.stg_orders"]
    assert len(rows(lake, "raw.orders")) == 120

    rollback_table(database, lake, "raw.orders", to=first.snapshot_id, execute=True, actor="ops")
    assert len(rows(lake, "raw.orders")) == 10
    result = run_project(project, database, lake)
    assert result.status == "COMPLETED"
    assert len(rows(lake, "staging.stg_orders")) == 10
    history = table_history(database, lake, "raw.orders")
    assert history[0].current is False or history[0].snapshot.snapshot_id == first.snapshot_id
    rolled = [e for e in history if e.current]
    assert [e.snapshot.snapshot_id for e in rolled] == [first.snapshot_id]


def test_history_lists_every_snapshot_with_its_run_and_who_made_it(
    database: Database, lake: Lake, project: Path
) -> None:
    first = run_project(project, database, lake)
    append_orders(lake, orders(0, 5, amount="999"))  # a merge: two more files to compact
    run_project(project, database, lake)
    report = compact_table(
        database, lake, "staging.stg_orders", target_bytes=TARGET, execute=True, actor="ops"
    )
    assert report.executed
    history = table_history(database, lake, "staging.stg_orders")
    assert [e.current for e in history] == [True] + [False] * (len(history) - 1)
    compacted, oldest = history[0], history[-1]
    assert compacted.snapshot.maintenance == "compact"
    assert (compacted.actor, compacted.action) == ("ops", "table.compact")
    assert oldest.snapshot.run == first.outcomes["staging.stg_orders"].record.run_uuid
    assert oldest.action is not None and oldest.action.startswith("pipeline.")


def test_every_maintenance_entry_keeps_the_audit_chain_valid(
    database: Database, lake: Lake, project: Path
) -> None:
    compact_table(database, lake, "raw.orders", target_bytes=TARGET, execute=True, actor="t")
    expire_all(database, lake, retain_last=1, execute=True)
    with database.read() as connection:
        report = audit.verify_log(connection)
    assert report.ok, report


def test_unknown_tables_and_snapshots_are_named(
    database: Database, lake: Lake, project: Path
) -> None:
    from headwater.errors import BadRequestError

    with pytest.raises(BadRequestError, match=re.escape("TABLE: no table raw.nope")):
        compact_table(database, lake, "raw.nope", target_bytes=TARGET, execute=False, actor="t")
    with pytest.raises(BadRequestError, match=re.escape("--to: raw.orders has no snapshot 42")):
        rollback_table(database, lake, "raw.orders", to=42, execute=True, actor="t")


def test_a_project_loads_after_its_tables_were_maintained(
    database: Database, lake: Lake, project: Path
) -> None:
    # The project's declared schema still matches the rewritten files' schema.
    compact_table(database, lake, "raw.orders", target_bytes=TARGET, execute=True, actor="t")
    assert load_project(project).sources["raw.orders"].schema.names == list(
        raw_orders(lake).schema().as_arrow().names
    )
    assert pa.types.is_timestamp(raw_orders(lake).schema().as_arrow().field("ordered_at").type)
