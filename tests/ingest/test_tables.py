"""Database tables pulled by a cursor column: every row once per version, in bounded batches,
the high-water mark in the table's snapshots, a killed pull finished by the next."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, update

from headwater import audit
from headwater.db import Database
from headwater.errors import ConfigError
from headwater.ingest import tables as tables_module
from headwater.ingest.tables import PullError, TableSource, pull_table, table_sources
from headwater.lake import Lake
from headwater.pipeline import load_project
from tests.conftest import Backend
from tests.ingest.deliveries import Killed, killed_at

SOURCE = """\
tables:
  crm_contacts:
    database:
      url_env: CRM_URL
      table: crm_contacts_src
      cursor: version
      batch_rows: 3
    columns:
      id: long
      email: string
      version: long
"""


def _source_table(url: str) -> Table:
    metadata = MetaData()
    table = Table(
        "crm_contacts_src",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("email", String(100)),
        Column("version", Integer, nullable=False),
        Column("secret", String(100)),  # not declared: never copied
    )
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    return table


def _execute(url: str, *statements: object) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[call-overload]
    engine.dispose()


def _project(root: Path, url: str, text: str = SOURCE) -> TableSource:
    (root / "sources").mkdir(parents=True, exist_ok=True)
    (root / "headwater.yml").write_text("name: pull_test\n")
    (root / "sources" / "crm.yml").write_text(text)
    [source] = table_sources(load_project(root), {"CRM_URL": url})
    return source


def _landed(lake: Lake) -> list[tuple[int, int]]:
    table = lake.load("raw.crm_contacts")
    assert table is not None
    rows = table.scan().to_arrow().to_pylist()
    return sorted((r["id"], r["version"]) for r in rows)


def test_rows_are_copied_in_batches_that_never_split_a_cursor_value(
    backend: Backend, database: Database, lake: Lake, tmp_path: Path
) -> None:
    source_table = _source_table(backend.url)
    versions = [1, 2, 3, 3, 3, 4, 5]
    _execute(
        backend.url,
        insert(source_table).values(
            [
                {"id": i, "email": f"c{i}@x.org", "version": v, "secret": "s"}
                for i, v in enumerate(versions)
            ]
        ),
    )
    source = _project(tmp_path / "project", backend.url)
    batches = pull_table(database, lake, source, actor="t") or []
    assert [(b.rows, b.mark) for b in batches] == [(5, 3), (2, 5)]
    assert _landed(lake) == sorted(enumerate(versions))
    table = lake.load("raw.crm_contacts")
    assert table is not None and "secret" not in table.schema().column_names
    assert pull_table(database, lake, source, actor="t") == []  # nothing past the mark


def test_each_run_takes_only_rows_past_the_mark_including_new_versions(
    backend: Backend, database: Database, lake: Lake, tmp_path: Path
) -> None:
    source_table = _source_table(backend.url)
    _execute(
        backend.url, insert(source_table).values([{"id": 1, "email": "a@x.org", "version": 1}])
    )
    source = _project(tmp_path / "project", backend.url)
    pull_table(database, lake, source, actor="t")
    _execute(
        backend.url,
        insert(source_table).values([{"id": 2, "email": "b@x.org", "version": 2}]),
        update(source_table).where(source_table.c.id == 1).values(email="A@x.org", version=3),
    )
    [batch] = pull_table(database, lake, source, actor="t") or []
    assert (batch.rows, batch.mark) == (2, 3)
    assert _landed(lake) == [(1, 1), (1, 3), (2, 2)]
    with database.read() as connection:
        entries, _ = audit.list_entries(connection, action="ingest.pull.land")
    assert len(entries) == 2


def test_a_pull_killed_after_its_commit_is_recorded_by_the_next_without_copying_again(
    backend: Backend,
    database: Database,
    lake: Lake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source_table = _source_table(backend.url)
    _execute(
        backend.url,
        insert(source_table).values([{"id": i, "email": "e", "version": i} for i in range(2)]),
    )
    source = _project(tmp_path / "project", backend.url)

    monkeypatch.setattr(tables_module, "fault_point", killed_at("after-append"))
    with pytest.raises(Killed):
        pull_table(database, lake, source, actor="t")
    monkeypatch.undo()
    batches = pull_table(database, lake, source, actor="t") or []
    assert [(b.recovered, b.rows) for b in batches] == [(True, 2)]
    assert _landed(lake) == [(0, 0), (1, 1)]


def test_a_source_table_without_a_declared_column_is_an_error_that_names_it(
    backend: Backend, database: Database, lake: Lake, tmp_path: Path
) -> None:
    _source_table(backend.url)
    text = SOURCE.replace("      version: long\n", "      version: long\n      phone: string\n")
    source = _project(tmp_path / "project", backend.url, text)
    with pytest.raises(PullError, match="crm_contacts_src has no column 'phone'"):
        pull_table(database, lake, source, actor="t")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("cursor: version", "cursor: updated"), "database.cursor: 'updated' is not one of"),
        (("batch_rows: 3", "batch_rows: 0"), "database.batch_rows: must be a whole number"),
        (("url_env: CRM_URL", "url_env: NOPE"), "database.url_env: environment variable NOPE"),
        (
            ("      batch_rows: 3\n", "      batch_rows: 3\n      where: x\n"),
            "database.where: unknown key",
        ),
    ],
)
def test_a_bad_database_block_names_file_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError, match=f"sources/crm.yml: tables.crm_contacts.{expected}"):
        _project(tmp_path / "project", "sqlite:///x.db", SOURCE.replace(*change))


def test_source_tables_are_named_as_openlineage_names_database_tables(tmp_path: Path) -> None:
    pg = _project(tmp_path / "a", "postgresql+psycopg://u@db.example:5433/crm")
    assert pg.dataset() == ("postgres://db.example:5433", "crm.crm_contacts_src")
    lite = _project(tmp_path / "b", "sqlite:////data/crm.db")
    assert lite.dataset() == ("sqlite", "/data/crm.db.crm_contacts_src")
