"""Files dropped in a folder: each landed once by content, bad rows to the rejects with their
line, unreadable files refused whole, a killed lander finished by the next."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from headwater.db import Database
from headwater.db.schema import ingest_file_rejects, ingest_files, jobs
from headwater.errors import ConfigError
from headwater.ingest import files as files_module
from headwater.ingest.files import FileSource, file_sources, land_files
from headwater.lake import Lake
from headwater.pipeline import load_project
from tests.conftest import Backend
from tests.ingest.deliveries import Killed, killed_at
from tests.test_cli import headwater

POS = """\
tables:
  pos_orders:
    files: {folder: drop}
    columns:
      order_id: string
      amount_cents: long
      paid: boolean
      ordered_at: timestamp
"""
CSV = """order_id,amount_cents,paid,ordered_at
o1,1250,true,2026-12-01T10:00:00Z
o2,twelve,false,2026-12-01T10:05:00Z
o3,,yes,2026-12-01T10:10:00
o4,300,maybe,2026-12-01T10:15:00Z
"""


def _source(root: Path, text: str = POS) -> FileSource:
    (root / "sources").mkdir(parents=True, exist_ok=True)
    (root / "drop").mkdir(exist_ok=True)
    (root / "headwater.yml").write_text("name: files_test\n")
    (root / "sources" / "pos.yml").write_text(text)
    [source] = file_sources(load_project(root))
    return source


def _rows(lake: Lake) -> list[dict[str, object]]:
    table = lake.load("raw.pos_orders")
    assert table is not None
    return (
        table.scan()
        .to_arrow()
        .sort_by([("_hw_file", "ascending"), ("_hw_line", "ascending")])
        .to_pylist()
    )


def _rejects(database: Database) -> list[tuple[int, str]]:
    with database.read() as connection:
        query = select(ingest_file_rejects.c.line, ingest_file_rejects.c.reason).order_by(
            ingest_file_rejects.c.line
        )
        return [tuple(r) for r in connection.execute(query)]  # type: ignore[misc]


def test_a_csv_lands_its_good_rows_and_rejects_the_rest_with_line_and_reason(
    database: Database, lake: Lake, tmp_path: Path
) -> None:
    source = _source(tmp_path)
    (tmp_path / "drop" / "day1.csv").write_text(CSV)
    [landed] = land_files(database, lake, source, actor="t") or []
    assert (landed.status, landed.rows, landed.rejected) == ("landed", 2, 2)
    rows = _rows(lake)
    assert [(r["order_id"], r["amount_cents"], r["paid"], r["_hw_line"]) for r in rows] == [
        ("o1", 1250, True, 2),
        ("o3", None, True, 4),
    ]
    assert rows[0]["_hw_file"] == str(tmp_path / "drop" / "day1.csv")
    assert _rejects(database) == [
        (3, "amount_cents: cannot read 'twelve' as int64"),
        (5, "paid: cannot read 'maybe' as bool"),
    ]


def test_a_file_is_landed_once_by_content_whatever_its_name(
    database: Database, lake: Lake, tmp_path: Path
) -> None:
    source = _source(tmp_path)
    drop = tmp_path / "drop"
    (drop / "a.csv").write_text(CSV)
    assert len(land_files(database, lake, source, actor="t") or []) == 1
    shutil.copy(drop / "a.csv", drop / "a-copy.csv")
    assert land_files(database, lake, source, actor="t") == []
    (drop / "b.csv").write_text(CSV.replace("o1,", "o9,"))
    [again] = land_files(database, lake, source, actor="t") or []
    assert again.path.endswith("b.csv")
    assert sorted(r["order_id"] for r in _rows(lake)) == ["o1", "o3", "o3", "o9"]


def test_json_lines_and_parquet_land_too(database: Database, lake: Lake, tmp_path: Path) -> None:
    source = _source(tmp_path)
    drop = tmp_path / "drop"
    (drop / "c.jsonl").write_text(
        '{"order_id": "j1", "amount_cents": 5, "ordered_at": "2026-12-01T09:00:00Z"}\n'
        "not json\n"
        '{"order_id": "j2", "amount_cents": "5"}\n'
        "[1]\n"
    )
    table = pa.table(
        {
            "order_id": ["p1"],
            "amount_cents": pa.array([7], pa.int64()),
            "paid": [False],
            "ordered_at": pa.array([None], pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, drop / "d.parquet")
    landed = land_files(database, lake, source, actor="t") or []
    assert [(f.path.rsplit("/", 1)[1], f.rows, f.rejected) for f in landed] == [
        ("c.jsonl", 1, 3),
        ("d.parquet", 1, 0),
    ]
    assert sorted(r["order_id"] for r in _rows(lake)) == ["j1", "p1"]
    assert _rejects(database) == [
        (2, "not valid JSON"),
        (3, 'amount_cents: expected a whole number, got "5"'),
        (4, "not a JSON object"),
    ]


def test_a_file_missing_a_declared_column_is_refused_whole_and_not_retried(
    database: Database, lake: Lake, tmp_path: Path
) -> None:
    source = _source(tmp_path)
    (tmp_path / "drop" / "bad.csv").write_text("order_id,amount_cents\no1,5\n")
    [refused] = land_files(database, lake, source, actor="t") or []
    assert (refused.status, refused.reason) == (
        "refused",
        "the header has no column 'paid' (line 1)",
    )
    assert land_files(database, lake, source, actor="t") == []
    with database.read() as connection:
        assert list(connection.execute(select(ingest_files.c.status)).scalars()) == ["refused"]


def test_a_lander_killed_after_its_commit_is_finished_without_writing_again(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path)
    (tmp_path / "drop" / "day1.csv").write_text(CSV)

    monkeypatch.setattr(files_module, "fault_point", killed_at("after-append"))
    with pytest.raises(Killed):
        land_files(database, lake, source, actor="t")
    monkeypatch.undo()
    [finished] = land_files(database, lake, source, actor="t") or []
    assert (finished.recovered, finished.rows, finished.rejected) == (True, 2, 2)
    assert len(_rows(lake)) == 2
    assert len(_rejects(database)) == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("files: {folder: drop}", "files: {folder: drop, kind: csv}"), "files.kind: unknown key"),
        (("files: {folder: drop}", "files: {folder: drop, format: xml}"), "files.format: must be"),
        (("files: {folder: drop}", "files: {format: csv}"), "files.folder: is required"),
    ],
)
def test_a_bad_files_block_names_file_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError, match=f"sources/pos.yml: tables.pos_orders.{expected}"):
        _source(tmp_path, POS.replace(*change))


def test_ingest_pull_lands_new_files_and_reports_each_to_lineage(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    _source(tmp_path / "project")
    (tmp_path / "project" / "drop" / "day1.csv").write_text(CSV)
    env = {
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
        "HEADWATER_WAREHOUSE": str(tmp_path / "warehouse"),
    }
    result = headwater(
        "ingest", "pull", "--json", "-p", str(tmp_path / "project"), env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    [landed] = json.loads(result.stdout)
    assert (landed["status"], landed["rows"], landed["rejected"]) == ("landed", 2, 2)
    with database.read() as connection:
        assert set(connection.execute(select(jobs.c.name)).scalars()) == {"ingest.files.pos_orders"}
