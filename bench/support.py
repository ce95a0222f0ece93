"""What the benchmarks share: the machine's description, PostgreSQL scratch schemas, CPU meters."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max of durations given in seconds, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {}
    return {
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "p99": round(percentile(ms, 99), 2),
        "mean": round(sum(ms) / len(ms), 2),
        "max": round(max(ms), 2),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- the machine -----------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def machine_info() -> dict[str, Any]:
    import headwater

    write_path = [ROOT / "src/headwater/lineage" / f for f in ("writer.py", "apply.py")]
    load = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_bytes": _ram_bytes(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "headwater": headwater.__version__,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty_files": (_git("status", "--porcelain", "--", "src") or "").splitlines(),
        # The writer is being tuned while this benchmark exists: say exactly which one ran.
        "writer_sha256": hashlib.sha256(b"".join(p.read_bytes() for p in write_path)).hexdigest()[
            :16
        ],
        "loadavg_at_start": [round(x, 2) for x in load],
    }


# -- CPU meters ------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (None once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (e.g. uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(raw.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of ``pid`` and its live descendants (None once ``pid`` is gone)."""
    own = process_cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(process_cpu_seconds(p) or 0.0 for p in process_tree(pid)[1:])


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds over all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    idle = values[3] + values[4]
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def _socket_local_ports(pid: int) -> set[int]:
    """Local TCP ports of the sockets a process holds (to find its PostgreSQL backends)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match:
                inodes.add(match.group(1))
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[9] in inodes:
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


@dataclass
class CpuMeter:
    """CPU used during a phase by the server, the load generator, PostgreSQL backends, all."""

    server_pid: int
    other_pids: dict[str, int] = field(default_factory=dict)
    pg_url: str | None = None
    _start: dict[str, float] = field(default_factory=dict)
    _pg_start: dict[int, float] = field(default_factory=dict)
    _machine_start: tuple[float, float] = (0.0, 0.0)
    _wall_start: float = 0.0

    def _pg_backends(self) -> list[int]:
        if self.pg_url is None:
            return []
        ports = set().union(*(_socket_local_ports(p) for p in process_tree(self.server_pid)))
        if not ports:
            return []
        engine = create_engine(self.pg_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT pid, client_port FROM pg_stat_activity WHERE client_port > 0")
                ).all()
        finally:
            engine.dispose()
        return [pid for pid, port in rows if port in ports]

    def start(self, wall: float) -> None:
        self._wall_start = wall
        self._machine_start = machine_cpu_seconds()
        pids = {"server": self.server_pid, **self.other_pids}
        self._start = {name: tree_cpu_seconds(pid) or 0.0 for name, pid in pids.items()}
        self._start["_self"] = sum(os.times()[:2])
        self._pg_start = {pid: process_cpu_seconds(pid) or 0.0 for pid in self._pg_backends()}

    def stop(self, wall: float) -> dict[str, float]:
        elapsed = max(wall - self._wall_start, 1e-9)
        pids = {"server": self.server_pid, **self.other_pids}
        cores: dict[str, float] = {}
        for name, pid in pids.items():
            now = tree_cpu_seconds(pid)
            if now is not None:
                cores[f"{name}_cores"] = round((now - self._start.get(name, 0.0)) / elapsed, 3)
        cores["bench_client_cores"] = round(
            (sum(os.times()[:2]) - self._start.get("_self", 0.0)) / elapsed, 3
        )
        if self.pg_url is not None:
            used = 0.0
            for pid in self._pg_backends():
                now = process_cpu_seconds(pid)
                if now is not None:
                    used += now - self._pg_start.get(pid, 0.0)
            cores["postgres_backends_cores"] = round(used / elapsed, 3)
        busy0, total0 = self._machine_start
        busy1, total1 = machine_cpu_seconds()
        cores["machine_busy_share"] = round((busy1 - busy0) / max(total1 - total0, 1e-9), 3)
        return cores


# -- PostgreSQL scratch schemas --------------------------------------------------------------


def with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def new_schema_name(prefix: str = "bench") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def _run_sql(url: str, sql: str, *, autocommit: bool = False) -> None:
    """One statement in its own transaction on a throwaway connection; ``autocommit`` for
    those that refuse a transaction (``VACUUM``)."""
    engine = create_engine(
        url, poolclass=NullPool, isolation_level="AUTOCOMMIT" if autocommit else None
    )
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(sql)
    finally:
        engine.dispose()


def create_schema(base_url: str, schema: str) -> None:
    _run_sql(base_url, f'CREATE SCHEMA "{schema}"')


def vacuum(url: str) -> None:
    """``VACUUM (ANALYZE)`` the store, as autovacuum does on a default server (this machine's
    runs with ``autovacuum = off``). Without it a bulk-loaded store keeps every dead row
    version its updates left (ten per dataset and per job after the lineage benchmark's load),
    every scan reads them, and no index-only scan is possible: the visibility map is empty."""
    _run_sql(url, "VACUUM (ANALYZE)", autocommit=True)


def analyze(url: str) -> None:
    """Refresh the planner's statistics, as autovacuum does on a live server. Right after a
    bulk load into a fresh schema PostgreSQL has none and plans the graph queries' joins as
    full scans; SQLite's planner needs no statistics for these lookups."""
    _run_sql(url, "ANALYZE")


def drop_schema(base_url: str, schema: str) -> None:
    _run_sql(base_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_version(base_url: str) -> str | None:
    engine = create_engine(base_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            value = connection.exec_driver_sql("SHOW server_version").scalar_one()
            return str(value)
    except Exception:  # the version is informative only
        return None
    finally:
        engine.dispose()


def headwater_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "headwater", *args]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a headwater subprocess: no inherited HEADWATER_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    env.update(extra)
    return env


def table_sizes(url: str, schema: str | None, tables: Iterable[str]) -> dict[str, int]:
    """Bytes per table including its indexes (PostgreSQL: with TOAST; SQLite: via dbstat)."""
    engine = create_engine(url, poolclass=NullPool)
    sizes: dict[str, int] = {}
    try:
        with engine.connect() as connection:
            if schema is not None:
                rows = connection.execute(
                    text(
                        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = :schema AND c.relkind = 'r'"
                    ),
                    {"schema": schema},
                ).all()
                sizes = {name: int(size) for name, size in rows}
            else:
                wanted = set(tables)
                try:
                    rows = connection.execute(
                        text(
                            "SELECT s.name, m.tbl_name, sum(s.pgsize) FROM dbstat s "
                            "JOIN sqlite_master m ON m.name = s.name GROUP BY s.name"
                        )
                    ).all()
                except Exception:  # dbstat is a compile-time option
                    return {}
                for _name, table, size in rows:
                    if table in wanted:
                        sizes[table] = sizes.get(table, 0) + int(size)
    finally:
        engine.dispose()
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


class PgWaitSampler:
    """Samples what the server's PostgreSQL backends are doing (pg_stat_activity), every 0.5 s.

    The histogram says whether ingest waits on locks (``Lock:transactionid``/``Lock:tuple``),
    on the client (``Client:ClientRead``: the server's Python is the bottleneck), on I/O, or
    runs on CPU (no wait event, state ``active``).
    """

    def __init__(self, pg_url: str, server_pid: int, interval: float = 0.5) -> None:
        import threading
        from collections import Counter

        self.pg_url = pg_url
        self.server_pid = server_pid
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pg-waits")

    def _run(self) -> None:
        engine = create_engine(self.pg_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                while not self._stop.wait(self.interval):
                    ports = set().union(
                        *(_socket_local_ports(p) for p in process_tree(self.server_pid))
                    )
                    rows = connection.execute(
                        text(
                            "SELECT client_port, state, wait_event_type, wait_event "
                            "FROM pg_stat_activity WHERE client_port > 0"
                        )
                    ).all()
                    connection.rollback()
                    for port, state, kind, event in rows:
                        if port not in ports:
                            continue
                        if state == "active":
                            self.counts[f"active: {kind}:{event}" if kind else "active: CPU"] += 1
                        else:
                            self.counts[f"{state}"] += 1
        except Exception as exc:  # sampling is informative only
            self.counts[f"sampler error: {type(exc).__name__}"] += 1
        finally:
            engine.dispose()

    def __enter__(self) -> PgWaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def shares(self) -> dict[str, float]:
        total = sum(self.counts.values()) or 1
        return {k: round(v / total, 3) for k, v in self.counts.most_common(12)}


# -- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


@contextmanager
def running_server(
    database_url: str,
    workdir: Path,
    workers: int,
    *,
    command: tuple[str, ...] = ("serve",),
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``headwater db upgrade`` then ``headwater serve`` (or another serving ``command``) on a
    free loopback port; stopped after."""
    env = clean_env(
        {
            "HEADWATER_DATABASE_URL": database_url,
            "HEADWATER_HOME": str(workdir / "home"),
            "HEADWATER_LOG_LEVEL": "warning",  # no access log line per request
            "HEADWATER_MAX_BODY_BYTES": str(64 * 1024 * 1024),
            "HEADWATER_WORKERS": str(workers),
            **(extra_env or {}),
        }
    )
    upgrade = subprocess.run(
        headwater_command("db", "upgrade"),
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if upgrade.returncode != 0:
        raise RuntimeError(f"headwater db upgrade failed:\n{upgrade.stdout}{upgrade.stderr}")
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            headwater_command(*command, "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the benchmark, which stops the server
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{server.base_url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /api/v1/health within 60 s")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the workers too
                process.wait(timeout=10)
