"""headwater's Iceberg transactions, on SQLite and PostgreSQL.

Specification: a transaction commits what PyIceberg's own would; the metadata it shows is
computed once per state (its base and the updates staged so far), not once per look, and
reflects each update as soon as it is staged.
"""

from __future__ import annotations

import pyarrow as pa

from headwater.lake import Lake, transaction

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])


def test_the_metadata_is_computed_again_only_when_an_update_is_staged(lake: Lake) -> None:
    table = lake.create("staging.t", SCHEMA)
    with transaction(table) as staged:
        before = staged.table_metadata
        assert staged.table_metadata is before  # looked at twice, computed once
        staged.append(pa.table({"id": [1], "name": ["a"]}, schema=SCHEMA))
        after = staged.table_metadata
        assert after is not before
        assert len(after.snapshots) == len(before.snapshots) + 1
        assert staged.table_metadata is after
    loaded = lake.load("staging.t")
    assert loaded is not None
    assert loaded.scan().to_arrow().to_pylist() == [{"id": 1, "name": "a"}]


def test_appends_and_overwrites_commit_as_pyiceberg_would(lake: Lake) -> None:
    table = lake.create("staging.t", SCHEMA)
    lake.append(table, pa.table({"id": [1, 2], "name": ["a", "b"]}, schema=SCHEMA), {"k": "1"})
    lake.append(table, pa.table({"id": [3], "name": ["c"]}, schema=SCHEMA), {"k": "2"})
    lake.overwrite(table, pa.table({"id": [9], "name": ["z"]}, schema=SCHEMA), {"k": "3"})
    loaded = lake.load("staging.t")
    assert loaded is not None
    operations = [
        (s.summary.operation.value, s.summary.additional_properties["k"])
        for s in loaded.snapshots()
        if s.summary is not None
    ]
    assert operations == [("append", "1"), ("append", "2"), ("delete", "3"), ("append", "3")]
    assert loaded.scan().to_arrow().to_pylist() == [{"id": 9, "name": "z"}]
    first = loaded.snapshots()[1].snapshot_id
    assert sorted(r["id"] for r in loaded.scan(snapshot_id=first).to_arrow().to_pylist()) == [
        1,
        2,
        3,
    ]
