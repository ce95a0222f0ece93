"""``headwater audit`` and ``headwater token``, run as real processes on each backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from headwater import audit
from headwater.db import Database
from tests.audit.tampering import fill, tampering
from tests.conftest import Backend
from tests.test_cli import headwater

pytestmark = pytest.mark.slow


@pytest.fixture
def env(backend: Backend, tmp_path: Path) -> dict[str, str]:
    return {"HEADWATER_DATABASE_URL": backend.url, "HEADWATER_HOME": str(tmp_path)}


def test_verify_passes_on_an_intact_log_and_exits_3_on_a_tampered_one(
    database: Database, env: dict[str, str], tmp_path: Path
) -> None:
    fill(database, 5)
    intact = headwater("audit", "verify", env=env, cwd=tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert "audit log intact: 5 entries" in intact.stdout

    with tampering(database) as connection:
        connection.execute(text("UPDATE audit_log SET target = 'dataset:x:y' WHERE seq = 3"))
    tampered = headwater("audit", "verify", env=env, cwd=tmp_path)
    assert tampered.returncode == 3
    assert "TAMPERED (modified) at entry 3" in tampered.stderr
    as_json = headwater("audit", "verify", "--json", env=env, cwd=tmp_path)
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["finding"] == {
        "position": 3,
        "kind": "modified",
        "message": "entry 3 was modified: its content does not match its hash",
    }


def test_an_export_holds_a_checkpoint_and_proofs_and_anchors_a_later_verify(
    database: Database, env: dict[str, str], tmp_path: Path
) -> None:
    fill(database, 4)
    export = tmp_path / "audit.jsonl"
    made = headwater(
        "audit", "export", "--format", "jsonl", "-o", str(export), env=env, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert lines[0]["checkpoint"]["treeSize"] == 4
    assert [line["entry"]["seq"] for line in lines[1:]] == [1, 2, 3, 4]
    assert all(isinstance(line["inclusionProof"], list) for line in lines[1:])

    fill(database, 2, start=5)
    later = headwater("audit", "verify", "--from-checkpoint", str(export), env=env, cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    assert "2 checkpoints checked" in later.stdout

    with tampering(database) as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq >= 3"))
        connection.execute(text("DELETE FROM audit_checkpoints"))
    cut = headwater("audit", "verify", "--from-checkpoint", str(export), env=env, cwd=tmp_path)
    assert cut.returncode == 3
    assert "(truncated) at entry 3" in cut.stderr


def test_a_bad_checkpoint_file_exits_2_naming_the_file_and_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    kept = tmp_path / "kept.jsonl"
    kept.write_text('{"checkpoint": {"treeSize": 1}}\n')
    result = headwater("audit", "verify", "--from-checkpoint", str(kept), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{kept}: line 1: checkpoint.rootHash" in result.stderr
    kept.write_text("not json\n")
    result = headwater("audit", "verify", "--from-checkpoint", str(kept), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "line 1 is not JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_history_tells_a_targets_story(
    database: Database, env: dict[str, str], tmp_path: Path
) -> None:
    fill(database, 3)
    story = headwater("audit", "history", "dataset:shop:table_2", "--json", env=env, cwd=tmp_path)
    assert story.returncode == 0, story.stderr
    [item] = json.loads(story.stdout)["history"]
    assert (item["seq"], item["action"], item["actor"]) == (2, "dataset.delete", "token:ops")
    table = headwater("audit", "history", "dataset:shop:table_2", env=env, cwd=tmp_path)
    assert "dataset.delete" in table.stdout
    nothing = headwater("audit", "history", "dataset:shop:none", env=env, cwd=tmp_path)
    assert "no audit entries about dataset:shop:none" in nothing.stdout


def test_keygen_prints_a_key_the_server_accepts_and_a_bad_key_exits_2(
    database: Database, env: dict[str, str], tmp_path: Path
) -> None:
    made = headwater("audit", "keygen", env=env, cwd=tmp_path)
    assert made.returncode == 0
    name, _, seed = made.stdout.strip().partition("=")
    assert name == "HEADWATER_AUDIT_SIGNING_KEY"
    signed = headwater("audit", "checkpoint", "--json", env={**env, name: seed}, cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["keyId"] == audit.parse_seed(seed).key_id

    bad = headwater("audit", "checkpoint", env={**env, name: "short"}, cwd=tmp_path)
    assert bad.returncode == 2
    assert "HEADWATER_AUDIT_SIGNING_KEY" in bad.stderr
    assert "short" not in bad.stderr  # not even a wrong secret is echoed


def test_export_refuses_an_unknown_format(env: dict[str, str], tmp_path: Path) -> None:
    result = headwater("audit", "export", "--format", "csv", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "--format: 'csv' is not supported" in result.stderr


def test_tokens_are_created_listed_and_revoked_and_shown_only_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    made = headwater(
        "token", "create", "airflow", "--role", "writer", "--expires", "30d", env=env, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("hw_")
    assert "shown only now" in made.stderr

    listed = headwater("token", "list", "--json", env=env, cwd=tmp_path)
    [info] = json.loads(listed.stdout)
    assert (info["name"], info["role"], info["status"]) == ("airflow", "writer", "active")
    assert info["expiresAt"] is not None
    assert token not in listed.stdout

    revoked = headwater("token", "revoke", "airflow", env=env, cwd=tmp_path)
    assert revoked.returncode == 0
    listed = headwater("token", "list", env=env, cwd=tmp_path)
    assert "revoked" in listed.stdout

    history = headwater("audit", "history", "token:airflow", "--json", env=env, cwd=tmp_path)
    actions = [i["action"] for i in json.loads(history.stdout)["history"]]
    assert actions == ["token.create", "token.revoke"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "create", "x", "--role", "owner"), "role: must be one of reader, writer, admin"),
        (("token", "create", "x", "--expires", "soon"), "--expires: 'soon' is neither"),
        (("token", "create", "x", "--expires", "2001-01-01"), "expires: must be in the future"),
        (("token", "create", "bad name"), "name: must be"),
        (("token", "revoke", "ghost"), "token 'ghost' not found"),
    ],
)
def test_bad_token_commands_say_what_is_wrong(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = headwater(*args, env=env, cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
