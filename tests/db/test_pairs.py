"""Lookups by (namespace, name) pairs: index searches, and exactly the pairs asked for."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from headwater.db import Database, only_pairs, pair_in, upgrade
from headwater.db.schema import datasets, namespaces


def test_a_pair_lookup_is_an_index_search_on_sqlite_not_a_scan(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/plan.db")
    upgrade(database)
    stmt = (
        select(datasets.c.id)
        .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
        .where(pair_in(namespaces.c.name, datasets.c.name, {("ns1", "a"), ("ns2", "b")}))
    )
    with database.read() as connection:
        sql = str(stmt.compile(connection, compile_kwargs={"literal_binds": True}))
        plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    database.dispose()
    assert any(step.startswith("SEARCH datasets") for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan


def test_only_the_pairs_asked_for_are_kept() -> None:
    rows = [("ns1", "a"), ("ns1", "b"), ("ns2", "a"), ("ns2", "b")]  # what two IN lists match
    assert only_pairs(rows, {("ns1", "a"), ("ns2", "b")}, lambda r: r) == [
        ("ns1", "a"),
        ("ns2", "b"),
    ]
