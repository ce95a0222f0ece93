"""Column lineage of the shop's models, against expectations worked out by hand from the SQL.

Each model's input schemas are the sources' declared columns and, downstream, the output
columns lineage found for the models they read, so these checks follow the real project.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.pipeline import build_graph, load_project
from headwater.pipeline.column_lineage import ColumnLineage, column_lineage

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
# The Python model's output, from its docstring contract (it has no SQL to trace).
ENTITY_COLUMNS = ["customer_id", "customer_key", "email", "phone", "source"]


@pytest.fixture(scope="module")
def lineage() -> dict[str, ColumnLineage]:
    project = load_project(SHOP)
    graph = build_graph(project)
    schemas: dict[str, list[str]] = {
        name: list(source.schema.names) for name, source in project.sources.items()
    }
    schemas["semantic.customer_entities"] = ENTITY_COLUMNS
    found = {}
    for name in graph.order:
        sql = graph.inline_views(name)
        if sql is None or graph.is_view(name):
            continue
        result = column_lineage(sql, {t: schemas[t] for t in graph.stored_inputs(name)})
        found[name] = result
        schemas[name] = list(result.fields)
    return found


def _kinds(result: ColumnLineage, column: str) -> set[tuple[str, str, str, str]]:
    return {(f.table, f.column, f.type, f.subtype) for f in result.fields[column]}


def test_order_facts_copies_ids_transforms_dates_and_joins_customers(
    lineage: dict[str, ColumnLineage],
) -> None:
    facts = lineage["analytics.order_facts"]
    assert _kinds(facts, "order_id") == {("staging.stg_orders", "order_id", "DIRECT", "IDENTITY")}
    assert _kinds(facts, "order_date") == {
        ("staging.stg_orders", "ordered_at", "DIRECT", "TRANSFORMATION")
    }
    key_sources = {(t, c, k) for t, c, k, _s in _kinds(facts, "customer_key")}
    assert ("semantic.customer_entities", "customer_key", "DIRECT") in key_sources
    # CASE WHEN a.customer_id IS NOT NULL ...: the condition decides the value, indirectly.
    assert ("semantic.customer_entities", "customer_id", "INDIRECT", "CONDITIONAL") in _kinds(
        facts, "linked_by"
    )
    joins = {(f.table, f.column) for f in facts.dataset if f.subtype == "JOIN"}
    assert {
        ("staging.stg_orders", "customer_id"),
        ("staging.stg_orders", "email"),
        ("staging.stg_orders", "phone"),
        ("semantic.customer_entities", "customer_id"),
    } <= joins


def test_daily_revenue_aggregates_amounts_through_ctes_and_a_full_join(
    lineage: dict[str, ColumnLineage],
) -> None:
    revenue = lineage["marts.daily_revenue"]
    assert list(revenue.fields) == ["day", "orders", "gross", "refunds", "net"]
    assert _kinds(revenue, "gross") == {
        ("analytics.order_facts", "amount", "DIRECT", "AGGREGATION")
    }
    assert _kinds(revenue, "net") == {
        ("analytics.order_facts", "amount", "DIRECT", "AGGREGATION"),
        ("staging.stg_refunds", "amount", "DIRECT", "AGGREGATION"),
    }
    # count(*) reads no column directly
    assert not [f for f in revenue.fields["orders"] if f.type == "DIRECT"]
    dataset = {(f.table, f.column, f.subtype) for f in revenue.dataset}
    assert ("analytics.order_facts", "order_date", "GROUP_BY") in dataset
    assert ("staging.stg_refunds", "order_id", "FILTER") in dataset


def test_staging_orders_trace_through_the_union_of_both_sources(
    lineage: dict[str, ColumnLineage],
) -> None:
    orders = lineage["staging.stg_orders"]
    assert {(t, c) for t, c, _k, _s in _kinds(orders, "order_id")} == {
        ("raw.web_orders", "order_id"),
        ("raw.pos_orders", "order_id"),
    }
    amount = {(t, c, k) for t, c, k, _s in _kinds(orders, "amount")}
    assert ("raw.web_orders", "amount", "DIRECT") in amount
    assert ("raw.pos_orders", "amount_cents", "DIRECT") in amount
    # The view parsed_orders is inlined: lineage reaches the raw tables through it.
    # QUALIFY row_number() OVER (PARTITION BY event_id ...) filters the whole result
    assert ("raw.web_orders", "event_id") in {(f.table, f.column) for f in orders.dataset}


def test_a_models_lineage_is_keyed_by_its_sql_and_that_of_the_views_it_reads() -> None:
    # What the stored column lineage is looked up by, without building the inlined SQL.
    project = load_project(SHOP)
    graph = build_graph(project)
    sql = {name: model.sql for name, model in project.models.items()}
    assert graph.lineage_sources("staging.stg_orders") == (
        sql["staging.stg_orders"],
        "staging.parsed_orders",
        sql["staging.parsed_orders"],
    )
    assert graph.lineage_sources("marts.daily_revenue") == (sql["marts.daily_revenue"],)
    assert graph.lineage_sources("semantic.customer_entities") is None  # a Python model
