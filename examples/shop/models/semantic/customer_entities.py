"""Entity resolution: which source customers are one person.

Two source customers are the same person when they share a normalised email or a normalised
phone, transitively: web account A and loyalty account B share an email, B and loyalty account
C share a phone, so A, B and C are one customer. That transitive closure is a union-find over
the customers, which SQL can only express as an iterated self-join; here it is one pass.

One row per source customer. ``customer_key`` is the smallest ``customer_id`` of the cluster:
a member's own id, so it is readable and deterministic. It is not stable forever: when a later
customer bridges two clusters, one cluster's key changes. Marts re-resolve facts through this
table (by ``customer_id``) rather than trust the key stored on an old fact.

Incrementally (a ``merge`` by ``customer_id``), only the clusters the new and changed customers
touch are resolved again: the clusters they were in and the clusters sharing an email or a
phone with their new contacts. Clusters are closed under shared contacts, so no customer
outside those clusters can be linked to one inside; resolving them alone gives what resolving
everyone would. Every member of those clusters is returned, and the merge writes only the rows
whose key or cluster size changed.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

INPUTS = ["staging.stg_customers"]
CONFIG = {
    "materialized": "merge",
    "unique_key": "customer_id",
    "tags": ["customers", "semantic"],
    "description": "One row per source customer with the key of the person it belongs to.",
}

SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("customer_key", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("source", pa.string()),
        ("cluster_size", pa.int64()),
    ]
)


COLUMNS = "customer_id, email, phone, source"
Row = tuple[str, str | None, str | None, str]


def _touched_members(previous: duckdb.DuckDBPyRelation) -> list[Row]:
    """The members, as last resolved, of every cluster the changed customers touch: one pass
    over the entities finds the clusters sharing an id, email or phone with a changed
    customer, a second one fetches their members."""
    changed = INPUTS[0]  # this run's rows of the input, as a view of the same connection
    return previous.query(
        "e",
        f"SELECT {COLUMNS} FROM e WHERE customer_key IN ("
        "SELECT customer_key FROM e "
        f"WHERE customer_id IN (SELECT customer_id FROM {changed}) "
        f"OR email IN (SELECT email FROM {changed}) "
        f"OR phone IN (SELECT phone FROM {changed}))",
    ).fetchall()


def model(inputs: dict[str, duckdb.DuckDBPyRelation]) -> pa.Table:
    changed = inputs["staging.stg_customers"].project(COLUMNS)
    # fetchall: the same on every supported duckdb, where .arrow() changed its return type.
    latest: dict[str, Row] = {}
    if "this" in inputs:  # an incremental run: the table as the last run left it
        latest = {row[0]: row for row in _touched_members(inputs["this"])}
    for row in changed.fetchall():
        latest[row[0]] = row  # a changed customer's new contacts replace the old ones
    rows = sorted(latest.values())  # the input's order is not defined; the output's is

    parent = list(range(len(rows)))

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression keeps later finds short
            parent[i], i = root, parent[i]
        return root

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            # Rows are sorted, so the smaller index is the smaller customer_id: the root is
            # always the cluster's key.
            parent[max(a, b)] = min(a, b)

    # Email first, then phone, as the docs of the model promise; with a transitive closure the
    # order does not change the clusters, only which union happens first.
    for column in (1, 2):
        first_with: dict[str, int] = {}
        for i, row in enumerate(rows):
            value = row[column]
            if value is None:
                continue
            seen = first_with.setdefault(value, i)
            if seen != i:
                union(seen, i)

    roots = [find(i) for i in range(len(rows))]
    sizes: dict[int, int] = {}
    for root in roots:
        sizes[root] = sizes.get(root, 0) + 1
    return pa.Table.from_pydict(
        {
            "customer_id": [row[0] for row in rows],
            "customer_key": [rows[root][0] for root in roots],
            "email": [row[1] for row in rows],
            "phone": [row[2] for row in rows],
            "source": [row[3] for row in rows],
            "cluster_size": [sizes[root] for root in roots],
        },
        schema=SCHEMA,
    )
