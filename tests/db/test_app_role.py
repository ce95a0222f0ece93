"""On PostgreSQL the application role can do its work but cannot rewrite the audit log, as
docs/security.md sets it up with ``headwater db app-role``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from headwater import audit
from headwater.db import Database
from headwater.lineage import LineageWriter, validate_event
from tests.audit.tampering import fill
from tests.conftest import PG_URL
from tests.lineage.events_factory import dataset, run_event
from tests.test_cli import headwater

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_role(pg_database: Database, tmp_path: Path) -> Iterator[Database]:
    """A login role granted what `headwater db app-role` grants, connected as that role."""
    role = f"hw_app_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    owner_url = make_url(pg_database.url)
    schema = owner_url.query["options"].removeprefix("-csearch_path=")
    env = {"HEADWATER_DATABASE_URL": pg_database.url}
    granted = headwater(
        "db", "app-role", role, "--schema", schema, "--execute", env=env, cwd=tmp_path
    )
    assert granted.returncode == 0, granted.stderr
    as_app = Database(owner_url.set(username=role).render_as_string(hide_password=False))
    try:
        yield as_app
    finally:
        as_app.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_the_dry_run_prints_the_grants_and_changes_nothing(
    pg_database: Database, tmp_path: Path
) -> None:
    env = {"HEADWATER_DATABASE_URL": pg_database.url}
    printed = headwater("db", "app-role", "headwater_app", env=env, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert "REVOKE UPDATE, DELETE, TRUNCATE ON public.audit_log" in printed.stdout
    assert "dry run" in printed.stderr


def test_the_app_role_writes_lineage_and_audit_but_cannot_change_the_log(
    app_role: Database,
) -> None:
    event = validate_event(run_event("START", job="j", outputs=[dataset("d")]))
    assert LineageWriter(app_role).write(event, "token:ci").stored
    fill(app_role, 2)
    with app_role.read() as connection:
        assert audit.verify_log(connection).ok
        assert audit.log_size(connection) == 4  # the grant itself, the event, two more
    with app_role.write() as connection:
        connection.exec_driver_sql("UPDATE datasets SET description = 'fine'")
    for statement in (
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DELETE FROM audit_checkpoints",
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "UPDATE alembic_version SET version_num = '0001'",
    ):
        refused = pytest.raises(DBAPIError, match=r"permission denied|must be owner")
        with refused, app_role.write() as connection:
            connection.exec_driver_sql(statement)


def test_app_role_refuses_sqlite(tmp_path: Path) -> None:
    env = {"HEADWATER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = headwater("db", "app-role", "someone", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr
