"""PostgreSQL's own tools for backups: ``pg_dump``, ``pg_restore`` and ``psql``.

The tools get the URL's connection parameters as a libpq connection string and the password
in ``PGPASSWORD``, so that no secret is on a command line (where ``ps`` shows it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from psycopg.conninfo import make_conninfo
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from headwater.ops.backup_archive import CHUNK, BackupError

# Tables a verification reads back from a dump (catalog pointers, migration state, audit).
STATE_TABLES = ("alembic_version", "iceberg_tables", "audit_log", "audit_checkpoints")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH: install the PostgreSQL client programs (the server's major "
            "version or newer)"
        )
    return found


def connection_args(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url`` (without the password) and the environment
    that carries the password."""
    parsed = make_url(url)
    params: dict[str, str] = {}
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    for name, given in (
        ("host", parsed.host),
        ("port", parsed.port),
        ("user", parsed.username),
        ("dbname", parsed.database),
    ):
        if given is not None:
            params[name] = str(given)
    env = {**os.environ}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return make_conninfo(**params), env


def target_schema(connection: Connection) -> str:
    """The schema a URL's connection puts new tables in: the first one its ``search_path``
    names (``$user`` aside), whether or not it exists yet."""
    path = str(connection.execute(text("SHOW search_path")).scalar_one())
    for item in path.split(","):
        name = item.strip()
        if name.startswith('"') and name.endswith('"'):
            name = name[1:-1].replace('""', '"')
        if name and name != "$user":
            return name
    return "public"


def _run(arguments: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(arguments, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = (result.stderr.strip() or f"exit status {result.returncode}").splitlines()
        raise BackupError(f"{what} failed: {' '.join(reason[:3])}")
    return result.stdout


def dump_schema(url: str, schema: str, snapshot: str, path: Path) -> None:
    """``pg_dump`` of ``schema`` as of the exported ``snapshot``, uncompressed (the archive
    compresses it once)."""
    conninfo, env = connection_args(url)
    _run(
        [
            _tool("pg_dump"),
            "--format=custom",
            "--compress=0",
            f"--schema={_quoted(schema)}",  # quoted: pg_dump reads a pattern, case-folded
            f"--snapshot={snapshot}",
            f"--file={path}",
            f"--dbname={conninfo}",
        ],
        env,
        "pg_dump",
    )


def list_dump(path: Path) -> list[str]:
    """The dump's table of contents (``pg_restore --list``), one entry a line: proves the
    dump parses to its end."""
    listing = _run([_tool("pg_restore"), "--list", str(path)], {**os.environ}, "pg_restore --list")
    return [line for line in listing.splitlines() if line and not line.startswith(";")]


_COPY = re.compile(
    r"^COPY (?:\"?[^\s.]+\"?\.)?\"?([A-Za-z_][A-Za-z0-9_]*)\"? \(([^)]*)\) FROM stdin;$"
)
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")
_SIMPLE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code.startswith(b"x") and len(code) > 1:
        return bytes([int(code[1:], 16)])
    if code[:1].isdigit():
        return bytes([int(code, 8) & 0xFF])
    return _SIMPLE.get(code, code)


def copy_field(raw: bytes) -> str | None:
    """One field of PostgreSQL's COPY text format: ``\\N`` is NULL, backslash escapes."""
    if raw == b"\\N":
        return None
    return _ESCAPE.sub(_unescape, raw).decode()


def dump_rows(
    path: Path, schema: str, tables: tuple[str, ...]
) -> Iterator[tuple[str, dict[str, str | None]]]:
    """``(table, row)`` for every row of ``tables`` in the dump, as text, streamed from
    ``pg_restore --data-only`` (no server needed)."""
    command = [_tool("pg_restore"), "--data-only", f"--schema={schema}", "--file=-"]
    command += [f"--table={name}" for name in tables]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([*command, str(path)], stdout=subprocess.PIPE, stderr=errors)
        assert process.stdout is not None
        table: str | None = None
        columns: list[str] = []
        for line in process.stdout:
            line = line.rstrip(b"\n")
            if table is None:
                found = _COPY.match(line.decode(errors="replace"))
                if found:
                    table = found.group(1)
                    columns = [c.strip().strip('"') for c in found.group(2).split(",")]
                continue
            if line == b"\\.":
                table = None
                continue
            yield table, dict(zip(columns, map(copy_field, line.split(b"\t")), strict=True))
        if process.wait() != 0:
            errors.seek(0)
            reason = errors.read().decode(errors="replace").strip().splitlines()
            raise BackupError(f"pg_restore --data-only failed: {' '.join(reason[:3])}")


def _skip_schema_creation(path: Path, schema: str, list_file: Path) -> None:
    """A ``--use-list`` file of the dump without the entries that create ``schema``: it exists
    already (empty) and keeps its owner and grants."""
    kept = [
        line
        for line in list_dump(path)
        if not re.search(rf" (SCHEMA - |COMMENT - SCHEMA ){re.escape(schema)} ", line + " ")
    ]
    list_file.write_text("\n".join(kept) + "\n")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def _stderr_file() -> Iterator[IO[bytes]]:
    with tempfile.TemporaryFile() as errors:
        yield errors


def _first_lines(stream: IO[bytes]) -> str:
    stream.seek(0)
    lines = [line for line in stream.read().decode(errors="replace").splitlines() if line.strip()]
    return " ".join(lines[:3])


def load_dump(
    path: Path,
    url: str,
    dumped: str,
    target: str,
    *,
    target_exists: bool,
    before_commit: Callable[[], None],
    progress: Callable[[int], None],
) -> None:
    """Load the dump of schema ``dumped`` into schema ``target`` of ``url``'s database, in
    one transaction that only this process can commit.

    The SQL goes from ``pg_restore`` through this process to ``psql``, framed by this
    process's own ``BEGIN`` and ``COMMIT``: if this process dies on the way, ``psql`` reads
    the end of its input with the transaction open, and the server rolls it all back (a
    ``pg_restore --single-transaction`` child would outlive its parent and commit). The
    same transaction renames the schema when ``target`` differs: pg_restore cannot.
    """
    conninfo, env = connection_args(url)
    pg_restore = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-"]
    epilogue = ""
    with (
        tempfile.TemporaryDirectory() as scratch,
        _stderr_file() as dump_errors,
        _stderr_file() as sql_errors,
    ):
        if dumped == target and target_exists:
            list_file = Path(scratch) / "restore.list"
            _skip_schema_creation(path, dumped, list_file)
            pg_restore.append(f"--use-list={list_file}")
        elif dumped != target:
            if target_exists:  # empty (checked): replaced by the restored schema
                epilogue += f"DROP SCHEMA {_quoted(target)};\n"
            epilogue += f"ALTER SCHEMA {_quoted(dumped)} RENAME TO {_quoted(target)};\n"
        source = subprocess.Popen(
            [*pg_restore, str(path)], stdout=subprocess.PIPE, stderr=dump_errors, env=env
        )
        sink = subprocess.Popen(
            [
                _tool("psql"),
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={conninfo}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=sql_errors,
            env=env,
        )
        assert source.stdout is not None and sink.stdin is not None
        try:
            sink.stdin.write(b"BEGIN;\n")
            while chunk := source.stdout.read(CHUNK):
                sink.stdin.write(chunk)
                progress(len(chunk))
            if source.wait() != 0:
                raise BackupError(f"pg_restore failed: {_first_lines(dump_errors)}")
            sink.stdin.write(epilogue.encode())
            before_commit()
            sink.stdin.write(b"COMMIT;\n")
            sink.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped at an error: its exit status and message follow
        except BaseException:
            source.kill()
            sink.kill()  # without COMMIT: the server rolls the transaction back
            source.wait()
            sink.wait()
            raise
        source.wait()
        if sink.wait() != 0:
            raise BackupError(f"psql failed loading the dump: {_first_lines(sql_errors)}")
