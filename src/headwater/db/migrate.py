"""Alembic migrations run from code, and the start-up check that they have been applied."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from headwater.db.engine import Database
from headwater.errors import DatabaseNotReadyError

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None, "the migrations folder holds no revision"
    return head


@contextmanager
def reachable(database: Database) -> Iterator[None]:
    """Turn "cannot connect" into one readable line instead of a driver traceback."""
    try:
        yield
    except OperationalError as exc:
        url = database.write_engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseNotReadyError(f"cannot reach the metadata database {url}: {reason}") from exc


def current_revision(database: Database) -> str | None:
    with reachable(database), database.write_engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (idempotent)."""
    config = _alembic_config(database.url)
    with reachable(database), database.write_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_migrated(database: Database) -> None:
    """Refuse to serve an un-migrated or out-of-date database, saying what to run."""
    current = current_revision(database)
    head = head_revision()
    if current != head:
        state = "has no schema" if current is None else f"is at revision {current}, not {head}"
        raise DatabaseNotReadyError(
            f"the metadata database {database.write_engine.url.render_as_string()} {state}: "
            "run `headwater db upgrade` first"
        )
