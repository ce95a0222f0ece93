"""The audit API: the log with filters, signed checkpoints, proofs an auditor can check, and
the audit entries that lineage writes and edits make."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from headwater.audit import verify_log
from headwater.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from headwater.db import Database
from tests.lineage.events_factory import dataset, new_run_id, run_event, version_facet
from tests.lineage.test_transactions import install_failing_trigger, poisoned_event


def post(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post("/api/v1/lineage", json=event)
    assert response.status_code == 201, response.text


def log(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sample(client: TestClient) -> str:
    """Two runs of a job writing shop.orders (versions v1, v2), then a soft delete of it."""
    run_id = new_run_id()
    for event_type, minute, version in (("START", 0, "v1"), ("COMPLETE", 1, "v2")):
        output = dataset("orders", namespace="shop", facets={"version": version_facet(version)})
        post(
            client,
            run_event(
                event_type,
                run_id=run_id,
                job="load_orders",
                namespace="shop",
                minute=minute,
                inputs=[dataset("raw_orders", namespace="shop")],
                outputs=[output],
            ),
        )
    assert client.delete("/api/v1/namespaces/shop/datasets/orders").status_code == 200
    return run_id


def test_every_stored_lineage_event_and_edit_is_an_entry(client: TestClient) -> None:
    run_id = sample(client)
    body = log(client)
    assert body["totalCount"] == 3
    [delete, complete, start] = body["entries"]  # newest first
    assert (start["action"], start["target"]) == ("lineage.event", "job:shop:load_orders")
    assert start["details"]["run"] == run_id
    assert start["details"]["eventType"] == "START"
    assert start["details"]["outputs"] == {"dataset:shop:orders": "v1"}
    assert complete["details"]["outputs"] == {"dataset:shop:orders": "v2"}
    assert (delete["action"], delete["target"]) == ("dataset.delete", "dataset:shop:orders")
    assert {e["actor"] for e in body["entries"]} == {"anonymous"}


def test_an_exact_resend_changes_nothing_and_is_not_an_entry(client: TestClient) -> None:
    event = run_event("START", job="j", outputs=[dataset("d")])
    post(client, event)
    post(client, event)
    assert log(client)["totalCount"] == 1


def test_filters_combine_and_count_all_matches(client: TestClient) -> None:
    run_id = sample(client)
    assert log(client, action="lineage")["totalCount"] == 2  # a family: lineage.*
    assert log(client, action="lineage.event", limit=1)["totalCount"] == 2
    assert len(log(client, action="lineage.event", limit=1)["entries"]) == 1
    # The COMPLETE (which wrote it) and the delete; the START only announced it.
    assert log(client, target="dataset:shop:orders")["totalCount"] == 2
    assert log(client, target=f"run:{run_id}")["totalCount"] == 2
    assert log(client, target="dataset:shop:raw_orders")["totalCount"] == 0  # only read
    assert log(client, actor="someone")["totalCount"] == 0
    [newest] = log(client, limit=1)["entries"]
    assert log(client, after=newest["time"])["totalCount"] == 0
    assert log(client, before=newest["time"])["totalCount"] == 2
    paged = log(client, limit=2, offset=2)
    assert [e["seq"] for e in paged["entries"]] == [1]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": -1}, "limit"), ({"after": "yesterday"}, "after"), ({"offset": "x"}, "offset")],
)
def test_bad_filters_are_400_naming_the_parameter(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/v1/audit", params=params)
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_the_checkpoint_is_signed_and_publishes_its_public_key(client: TestClient) -> None:
    sample(client)
    checkpoint = client.get("/api/v1/audit/checkpoint").json()
    assert checkpoint["treeSize"] == 3
    assert checkpoint["algorithm"] == "Ed25519"
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["publicKey"]))
    signed = (
        f"headwater audit checkpoint v1\n{checkpoint['treeSize']}\n"
        f"{checkpoint['rootHash']}\n{checkpoint['time']}\n"
    )
    assert checkpoint["signedText"] == signed
    key.verify(base64.b64decode(checkpoint["signature"]), signed.encode())  # raises if bad
    assert client.get("/api/v1/audit/checkpoint").json() == checkpoint  # nothing new: same one


def test_inclusion_and_consistency_proofs_verify_against_checkpoints(client: TestClient) -> None:
    post(client, run_event("START", job="first", outputs=[dataset("a")]))
    older = client.get("/api/v1/audit/checkpoint").json()
    sample(client)
    newer = client.get("/api/v1/audit/checkpoint").json()
    assert (older["treeSize"], newer["treeSize"]) == (1, 4)

    for seq in range(1, 5):
        proof = client.get("/api/v1/audit/proof/inclusion", params={"seq": seq}).json()
        leaf = leaf_hash(bytes.fromhex(proof["entryHash"]))
        path = [bytes.fromhex(p) for p in proof["auditPath"]]
        root = bytes.fromhex(newer["rootHash"])
        assert verify_inclusion(leaf, seq - 1, 4, path, root), seq

    answer = client.get("/api/v1/audit/proof/consistency", params={"first": 1}).json()
    assert answer["secondRootHash"] == newer["rootHash"]
    assert verify_consistency(
        1,
        4,
        bytes.fromhex(older["rootHash"]),
        bytes.fromhex(newer["rootHash"]),
        [bytes.fromhex(p) for p in answer["proof"]],
    )


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/audit/proof/inclusion", {"seq": 9}, "seq"),
        ("/api/v1/audit/proof/inclusion", {"seq": 1, "treeSize": 9}, "treeSize"),
        ("/api/v1/audit/proof/inclusion", {"seq": 0}, "seq"),
        ("/api/v1/audit/proof/consistency", {"first": 9}, "first"),
        ("/api/v1/audit/proof/consistency", {"first": 1, "second": 9}, "second"),
    ],
)
def test_proofs_beyond_the_log_are_400_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    post(client, run_event("START", job="j", outputs=[dataset("a")]))
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(field)


def test_a_datasets_history_lists_the_runs_that_wrote_it_and_its_delete(
    client: TestClient,
) -> None:
    run_id = sample(client)
    story = client.get("/api/v1/audit/history", params={"target": "dataset:shop:orders"}).json()
    rows = [(h["action"], h["role"], h["run"], h["version"]) for h in story["history"]]
    assert rows == [
        ("lineage.event", "wrote", run_id, "v2"),
        ("dataset.delete", "changed", None, None),
    ]
    read_only = client.get("/api/v1/audit/history", params={"target": "dataset:shop:raw_orders"})
    assert read_only.json()["history"] == []  # reading a dataset changes nothing


def test_tag_and_namespace_edits_are_audited(client: TestClient) -> None:
    assert client.put("/api/v1/namespaces/shop", json={"ownerName": "me"}).status_code == 200
    assert client.put("/api/v1/tags/pii", json={"description": "personal"}).status_code == 200
    post(client, run_event("START", job="j", namespace="shop", outputs=[dataset("d", "shop")]))
    assert client.post("/api/v1/namespaces/shop/datasets/d/tags/pii").status_code == 200
    assert client.delete("/api/v1/namespaces/shop/jobs/j").status_code == 200
    actions = [e["action"] for e in reversed(log(client)["entries"])]
    assert actions == ["namespace.put", "tag.put", "lineage.event", "dataset.tag", "job.delete"]


def test_a_failed_edit_leaves_no_entry(client: TestClient) -> None:
    assert client.delete("/api/v1/namespaces/none/datasets/nothing").status_code == 404
    assert log(client)["totalCount"] == 0


def test_in_a_batch_with_a_failing_event_only_the_stored_events_have_entries(
    client: TestClient, database: Database
) -> None:
    """A database failure on one event sends the batch down the one-savepoint-per-event path;
    the good events get their entries, the failing one none, and the chain verifies."""
    install_failing_trigger(database, "run_io")
    good = [run_event("COMPLETE", job=f"good_{n}", outputs=[dataset(f"out_{n}")]) for n in (1, 2)]
    batch = [good[0], poisoned_event(new_run_id()), good[1]]
    body = client.post("/api/v1/lineage/batch", json=batch).json()
    assert [f["index"] for f in body["failed_events"]] == [1]
    entries = log(client)["entries"]
    assert sorted(e["target"] for e in entries) == ["job:ns:good_1", "job:ns:good_2"]
    with database.read() as connection:
        assert verify_log(connection).ok
