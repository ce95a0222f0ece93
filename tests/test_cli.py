"""The ``headwater`` command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Backend, free_port


def headwater(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        env={**os.environ, "COLUMNS": "200", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_an_unmigrated_database_and_says_what_to_run(
    empty_backend: Backend, tmp_path: Path
) -> None:
    env = {"HEADWATER_DATABASE_URL": empty_backend.url}
    result = headwater("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "has no schema" in result.stderr
    assert "headwater db upgrade" in result.stderr


def test_db_upgrade_migrates_then_reports_nothing_to_do(
    empty_backend: Backend, tmp_path: Path
) -> None:
    env = {"HEADWATER_DATABASE_URL": empty_backend.url}
    before = headwater("db", "status", "--json", env=env, cwd=tmp_path)
    assert before.returncode == 1
    assert json.loads(before.stdout)["ready"] is False

    first = headwater("db", "upgrade", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "upgraded empty ->" in first.stdout
    second = headwater("db", "upgrade", env=env, cwd=tmp_path)
    assert second.returncode == 0
    assert "already at revision" in second.stdout

    after = headwater("db", "status", "--json", env=env, cwd=tmp_path)
    assert after.returncode == 0
    status = json.loads(after.stdout)
    assert status["ready"] is True and status["current"] == status["head"]


def test_the_default_database_is_sqlite_under_dot_headwater(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    result = subprocess.run(
        [sys.executable, "-m", "headwater", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".headwater" / "headwater.db").is_file()


def test_an_invalid_setting_exits_2_naming_the_setting(tmp_path: Path) -> None:
    result = headwater("serve", env={"HEADWATER_PORT": "seventy"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid setting port" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_postgresql_url_is_a_one_line_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {"HEADWATER_DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{port}/none"}
    result = headwater("db", "status", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot reach the metadata database" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = headwater("--help", env={}, cwd=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "demo", "db"):
        assert command in result.stdout
