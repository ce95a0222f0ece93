"""Readiness: one check per component, each saying what it found and how long it took.

A check is ``ok``, ``down`` (something needs doing: the detail says what) or ``off`` (a
component that is not running and is not expected to be: no webhook sources means no
consumer is needed). Details name no paths, URLs or secrets: the endpoint serving them is
public, for load balancers and orchestrators.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyiceberg.io import load_file_io

from headwater.db import Database, current_revision, head_revision
from headwater.lake import Lake, local_path
from headwater.ops.heartbeat import STALE_AFTER_S, beats

CONSUMER = "ingest-consumer"
SCHEDULER = "scheduler"
OK, DOWN, OFF = "ok", "down", "off"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str
    ms: float = 0.0


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: list[Check]
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def status(self) -> str:
        return DOWN if any(c.status == DOWN for c in self.checks) else OK

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checkedAt": self.checked_at.isoformat(),
            "checks": [asdict(c) for c in self.checks],
        }


@dataclass(frozen=True, slots=True)
class HealthTargets:
    """What readiness looks at. ``lake`` opens (or returns the open) warehouse catalog."""

    database: Database
    lake: Callable[[], Lake]
    warehouse: str
    home: Path
    min_free_disk_bytes: int
    expect_consumer: bool = False
    expect_scheduler: bool = False
    stale_after_s: float = STALE_AFTER_S


def _timed(name: str, probe: Callable[[], tuple[str, str]]) -> Check:
    started = time.perf_counter()
    try:
        status, detail = probe()
    except Exception as exc:  # whatever broke is the finding
        status, detail = (
            DOWN,
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        )
    return Check(name, status, detail, round((time.perf_counter() - started) * 1000, 1))


def _database(database: Database) -> tuple[str, str]:
    with database.read() as connection:
        connection.exec_driver_sql("SELECT 1").scalar_one()
    current, head = current_revision(database), head_revision()
    if current != head:
        return DOWN, f"at migration {current or 'none'}, needs {head}: run headwater db upgrade"
    return OK, f"{database.backend}, migration {head}"


def _catalog(lake: Callable[[], Lake]) -> tuple[str, str]:
    catalog = lake().catalog
    namespaces = catalog.list_namespaces()
    tables = sum(len(catalog.list_tables(namespace)) for namespace in namespaces)
    return OK, f"{tables} tables in {len(namespaces)} namespaces"


def _warehouse(warehouse: str) -> tuple[str, str]:
    """Write, read back and delete a small file where the tables' files go."""
    io = load_file_io({}, warehouse)
    probe = f"{warehouse.rstrip('/')}/.headwater-health/{uuid.uuid4().hex}"
    with io.new_output(probe).create(overwrite=True) as out:
        out.write(b"headwater")
    try:
        with io.new_input(probe).open() as back:
            if back.read() != b"headwater":
                return DOWN, "a file written to the warehouse read back different"
    finally:
        io.delete(probe)
    return OK, "writable"


def _component(
    targets: HealthTargets, component: str, expected: bool, how_to_start: str
) -> tuple[str, str]:
    now = datetime.now(UTC)
    with targets.database.read() as connection:
        found = beats(connection, component)
    live = [b for b in found if b.age_s(now) <= targets.stale_after_s]
    if live:
        return OK, f"{len(live)} running, last beat {live[0].age_s(now):.0f}s ago"
    if found:
        return DOWN, (
            f"no beat for {found[0].age_s(now):.0f}s from {found[0].instance}: it stopped "
            f"without saying so; {how_to_start}"
        )
    if expected:
        return DOWN, f"not running; {how_to_start}"
    return OFF, "not running, and nothing configured needs it"


def _existing(path: Path) -> Path:
    path = path.expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _disk(targets: HealthTargets) -> tuple[str, str]:
    places = {"home": targets.home}
    if targets.warehouse.startswith("file://"):
        places["warehouse"] = Path(local_path(targets.warehouse))
    findings, low = [], []
    seen: set[int] = set()
    for label, path in places.items():
        existing = _existing(path)
        device = existing.stat().st_dev
        if device in seen:
            continue
        seen.add(device)
        usage = shutil.disk_usage(existing)
        findings.append(f"{label}: {usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.0f}")
        if usage.free < targets.min_free_disk_bytes:
            low.append(label)
    if low:
        limit = targets.min_free_disk_bytes / 2**20
        return DOWN, f"below {limit:,.0f} MiB free on {', '.join(low)}; " + "; ".join(findings)
    return OK, "; ".join(findings)


def check_health(targets: HealthTargets) -> HealthReport:
    """Run every check; none raises."""
    database = targets.database
    return HealthReport(
        [
            _timed("database", lambda: _database(database)),
            _timed("catalog", lambda: _catalog(targets.lake)),
            _timed("warehouse", lambda: _warehouse(targets.warehouse)),
            _timed(
                "consumer",
                lambda: _component(
                    targets,
                    CONSUMER,
                    targets.expect_consumer,
                    "webhook deliveries are stored but not landed: start headwater ingest "
                    "consume or headwater up",
                ),
            ),
            _timed(
                "scheduler",
                lambda: _component(
                    targets,
                    SCHEDULER,
                    targets.expect_scheduler,
                    "scheduled runs do not start: start headwater up",
                ),
            ),
            _timed("disk", lambda: _disk(targets)),
        ]
    )
