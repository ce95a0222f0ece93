"""Column-level lineage of a model's SELECT, as OpenLineage's ColumnLineageDatasetFacet has it.

Specification: every output column, in SELECT order, lists the input fields it derives from -
DIRECT (IDENTITY when copied, TRANSFORMATION when computed, AGGREGATION when aggregated) and
INDIRECT (CONDITIONAL for CASE conditions, WINDOW for PARTITION BY / ORDER BY of its window).
What shapes the whole result goes to ``dataset``: JOIN keys, WHERE / HAVING / QUALIFY filters,
GROUP BY, ORDER BY. CTEs and subqueries are traced through to the real input tables, whose names
are layer-qualified and lower-case. Fields are deduplicated and sorted by table, column, type,
subtype. SQL that does not parse, or is not one query, raises ValueError.
"""

from __future__ import annotations

import json
import re
import uuid
from functools import cache
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from sqlglot.optimizer.qualify import qualify

from headwater.pipeline.column_lineage import (
    ColumnLineage,
    InputField,
    column_lineage,
    to_facet,
)
from tests.conftest import REFERENCE

SCHEMAS = {
    "staging.stg_orders": ["order_id", "customer_id", "amount", "status", "ordered_at"],
    "staging.stg_customers": ["customer_id", "name", "country"],
    "raw.events": ["event_id", "payload", "received_at"],
    "raw.shop_orders": ["id", "total_cents"],
}
ORDERS = "staging.stg_orders"
CUSTOMERS = "staging.stg_customers"
EVENTS = "raw.events"
SHOP = "raw.shop_orders"

Row = tuple[str, str, str, str]


def rows(fields: tuple[InputField, ...]) -> list[Row]:
    """The fields without their descriptions, in the order the lineage gives them."""
    return [(f.table, f.column, f.type, f.subtype) for f in fields]


def lineage(sql: str) -> ColumnLineage:
    return column_lineage(sql, SCHEMAS)


def test_a_plain_projection_copies_renames_and_casts() -> None:
    result = lineage(
        "SELECT order_id AS id, CAST(amount AS DOUBLE) AS amount, 'eur' AS currency "
        "FROM staging.stg_orders"
    )

    assert list(result.fields) == ["id", "amount", "currency"]
    assert result.fields["id"] == (
        InputField(ORDERS, "order_id", "DIRECT", "IDENTITY", "order_id"),
    )
    assert result.fields["amount"] == (
        InputField(ORDERS, "amount", "DIRECT", "TRANSFORMATION", "CAST(amount AS DOUBLE)"),
    )
    assert result.fields["currency"] == ()  # a literal comes from no input
    assert result.dataset == ()


def test_a_join_with_a_filter_puts_keys_and_predicates_in_dataset() -> None:
    result = lineage(
        """
        SELECT o.order_id, c.name AS customer_name, o.amount
        FROM staging.stg_orders AS o
        JOIN staging.stg_customers AS c ON c.customer_id = o.customer_id
        WHERE o.status = 'paid' AND c.country = 'NL'
        """
    )

    assert {name: rows(fields) for name, fields in result.fields.items()} == {
        "order_id": [(ORDERS, "order_id", "DIRECT", "IDENTITY")],
        "customer_name": [(CUSTOMERS, "name", "DIRECT", "IDENTITY")],
        "amount": [(ORDERS, "amount", "DIRECT", "IDENTITY")],
    }
    assert result.dataset == (
        InputField(CUSTOMERS, "country", "INDIRECT", "FILTER", "where"),
        InputField(CUSTOMERS, "customer_id", "INDIRECT", "JOIN", "join condition"),
        InputField(ORDERS, "customer_id", "INDIRECT", "JOIN", "join condition"),
        InputField(ORDERS, "status", "INDIRECT", "FILTER", "where"),
    )


def test_aggregates_with_group_by_and_having() -> None:
    result = lineage(
        """
        SELECT customer_id, sum(amount) AS revenue, count(order_id) AS orders,
               count(*) AS n, avg(amount) AS mean
        FROM staging.stg_orders
        GROUP BY customer_id
        HAVING sum(amount) > 100
        """
    )

    assert result.fields == {
        "customer_id": (InputField(ORDERS, "customer_id", "DIRECT", "IDENTITY", "customer_id"),),
        "revenue": (InputField(ORDERS, "amount", "DIRECT", "AGGREGATION", "sum(amount)"),),
        "orders": (InputField(ORDERS, "order_id", "DIRECT", "AGGREGATION", "count(order_id)"),),
        "n": (),  # count(*) reads no column
        "mean": (InputField(ORDERS, "amount", "DIRECT", "AGGREGATION", "avg(amount)"),),
    }
    assert result.dataset == (
        InputField(ORDERS, "amount", "INDIRECT", "FILTER", "having"),
        InputField(ORDERS, "customer_id", "INDIRECT", "GROUP_BY", "group by"),
    )


def test_case_conditions_are_conditional_and_branches_direct() -> None:
    result = lineage(
        """
        SELECT order_id,
               CASE WHEN status = 'refunded' THEN -amount
                    WHEN status = 'paid' THEN amount
                    ELSE 0 END AS net,
               CASE WHEN amount > 100 THEN 'big' ELSE 'small' END AS size
        FROM staging.stg_orders
        """
    )

    assert rows(result.fields["net"]) == [
        (ORDERS, "amount", "DIRECT", "IDENTITY"),  # THEN amount: the value itself
        (ORDERS, "amount", "DIRECT", "TRANSFORMATION"),  # THEN -amount
        (ORDERS, "status", "INDIRECT", "CONDITIONAL"),
    ]
    assert result.fields["size"] == (
        InputField(ORDERS, "amount", "INDIRECT", "CONDITIONAL", "case condition"),
    )
    assert result.dataset == ()


def test_window_functions_depend_on_their_partition_and_order() -> None:
    result = lineage(
        """
        SELECT order_id,
               row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at) AS nth,
               sum(amount) OVER (PARTITION BY customer_id ORDER BY ordered_at) AS running_total
        FROM staging.stg_orders
        """
    )

    assert result.fields["nth"] == (
        InputField(ORDERS, "customer_id", "INDIRECT", "WINDOW", "window partition by"),
        InputField(ORDERS, "ordered_at", "INDIRECT", "WINDOW", "window order by"),
    )
    assert rows(result.fields["running_total"]) == [
        (ORDERS, "amount", "DIRECT", "AGGREGATION"),
        (ORDERS, "customer_id", "INDIRECT", "WINDOW"),
        (ORDERS, "ordered_at", "INDIRECT", "WINDOW"),
    ]
    assert result.dataset == ()


def test_a_cte_chain_is_traced_to_the_input_tables() -> None:
    result = lineage(
        """
        WITH paid AS (
            SELECT order_id, customer_id, amount FROM staging.stg_orders WHERE status = 'paid'
        ), per_customer AS (
            SELECT customer_id, sum(amount) AS revenue FROM paid GROUP BY customer_id
        ), ranked AS (
            SELECT customer_id, revenue, revenue * 1.21 AS revenue_gross FROM per_customer
        )
        SELECT r.customer_id, c.name, r.revenue, r.revenue_gross
        FROM ranked AS r JOIN staging.stg_customers AS c ON c.customer_id = r.customer_id
        """
    )

    assert result.fields == {
        "customer_id": (InputField(ORDERS, "customer_id", "DIRECT", "IDENTITY", "customer_id"),),
        "name": (InputField(CUSTOMERS, "name", "DIRECT", "IDENTITY", "name"),),
        "revenue": (InputField(ORDERS, "amount", "DIRECT", "AGGREGATION", "sum(amount)"),),
        # An aggregate stays an aggregation under later arithmetic.
        "revenue_gross": (InputField(ORDERS, "amount", "DIRECT", "AGGREGATION", "sum(amount)"),),
    }
    # The filter and grouping inside the CTEs shape the final result too.
    assert rows(result.dataset) == [
        (CUSTOMERS, "customer_id", "INDIRECT", "JOIN"),
        (ORDERS, "customer_id", "INDIRECT", "GROUP_BY"),
        (ORDERS, "customer_id", "INDIRECT", "JOIN"),
        (ORDERS, "status", "INDIRECT", "FILTER"),
    ]


def test_stars_are_expanded_through_ctes_in_column_order() -> None:
    result = lineage(
        """
        WITH orders AS (SELECT * FROM staging.stg_orders)
        SELECT o.*, c.name
        FROM orders AS o JOIN staging.stg_customers AS c USING (customer_id)
        """
    )

    assert list(result.fields) == [*SCHEMAS[ORDERS], "name"]
    for column in SCHEMAS[ORDERS]:
        assert result.fields[column] == (InputField(ORDERS, column, "DIRECT", "IDENTITY", column),)
    assert result.fields["name"] == (InputField(CUSTOMERS, "name", "DIRECT", "IDENTITY", "name"),)
    assert rows(result.dataset) == [
        (CUSTOMERS, "customer_id", "INDIRECT", "JOIN"),
        (ORDERS, "customer_id", "INDIRECT", "JOIN"),
    ]

    plain = lineage("WITH e AS (SELECT * FROM raw.events) SELECT * FROM e")
    assert {name: rows(fields) for name, fields in plain.fields.items()} == {
        "event_id": [(EVENTS, "event_id", "DIRECT", "IDENTITY")],
        "payload": [(EVENTS, "payload", "DIRECT", "IDENTITY")],
        "received_at": [(EVENTS, "received_at", "DIRECT", "IDENTITY")],
    }


def test_union_all_gives_each_column_the_fields_of_every_branch() -> None:
    result = lineage(
        """
        SELECT order_id AS id, amount, 'web' AS channel FROM staging.stg_orders
        UNION ALL
        SELECT id, total_cents / 100.0, 'shop' FROM raw.shop_orders
        """
    )

    assert list(result.fields) == ["id", "amount", "channel"]  # named by the first branch
    assert rows(result.fields["id"]) == [
        (SHOP, "id", "DIRECT", "IDENTITY"),
        (ORDERS, "order_id", "DIRECT", "IDENTITY"),
    ]
    assert result.fields["amount"] == (
        InputField(SHOP, "total_cents", "DIRECT", "TRANSFORMATION", "total_cents / 100.0"),
        InputField(ORDERS, "amount", "DIRECT", "IDENTITY", "amount"),
    )
    assert result.fields["channel"] == ()
    assert result.dataset == ()


def test_qualify_dedup_filters_on_the_window_columns() -> None:
    result = lineage(
        """
        SELECT event_id, payload, received_at
        FROM raw.events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_at) = 1
        """
    )

    assert {name: rows(fields) for name, fields in result.fields.items()} == {
        "event_id": [(EVENTS, "event_id", "DIRECT", "IDENTITY")],
        "payload": [(EVENTS, "payload", "DIRECT", "IDENTITY")],
        "received_at": [(EVENTS, "received_at", "DIRECT", "IDENTITY")],
    }
    assert result.dataset == (
        InputField(EVENTS, "event_id", "INDIRECT", "FILTER", "qualify"),
        InputField(EVENTS, "received_at", "INDIRECT", "FILTER", "qualify"),
    )


def test_a_subquery_in_from_is_traced_through() -> None:
    result = lineage(
        """
        SELECT t.customer_id, t.revenue
        FROM (
            SELECT customer_id, sum(amount) AS revenue FROM staging.stg_orders GROUP BY 1
        ) AS t
        WHERE t.revenue > 100
        """
    )

    assert {name: rows(fields) for name, fields in result.fields.items()} == {
        "customer_id": [(ORDERS, "customer_id", "DIRECT", "IDENTITY")],
        "revenue": [(ORDERS, "amount", "DIRECT", "AGGREGATION")],
    }
    # Filtering on an aggregate filters on what it aggregates.
    assert rows(result.dataset) == [
        (ORDERS, "amount", "INDIRECT", "FILTER"),
        (ORDERS, "customer_id", "INDIRECT", "GROUP_BY"),
    ]


def test_a_correlated_subquery_in_where_filters_the_result() -> None:
    result = lineage(
        """
        SELECT c.customer_id, c.name
        FROM staging.stg_customers AS c
        WHERE EXISTS (
            SELECT 1 FROM staging.stg_orders AS o
            WHERE o.customer_id = c.customer_id AND o.status = 'paid'
        )
        """
    )

    assert rows(result.fields["name"]) == [(CUSTOMERS, "name", "DIRECT", "IDENTITY")]
    assert rows(result.dataset) == [
        (CUSTOMERS, "customer_id", "INDIRECT", "FILTER"),
        (ORDERS, "customer_id", "INDIRECT", "FILTER"),
        (ORDERS, "status", "INDIRECT", "FILTER"),
    ]


def test_order_by_an_output_alias_and_distinct() -> None:
    ordered = lineage(
        "SELECT customer_id, sum(amount) AS revenue FROM staging.stg_orders "
        "GROUP BY ALL ORDER BY revenue DESC"
    )
    assert ordered.dataset == (
        InputField(ORDERS, "amount", "INDIRECT", "SORT", "order by"),
        InputField(ORDERS, "customer_id", "INDIRECT", "GROUP_BY", "group by"),
    )

    distinct = lineage("SELECT DISTINCT country FROM staging.stg_customers")
    assert rows(distinct.fields["country"]) == [(CUSTOMERS, "country", "DIRECT", "IDENTITY")]
    assert rows(distinct.dataset) == [(CUSTOMERS, "country", "INDIRECT", "GROUP_BY")]


def test_names_are_lower_case_and_repeated_outputs_named_as_duckdb_does() -> None:
    result = lineage(
        "SELECT O.Order_ID, P.ORDER_ID FROM Staging.Stg_Orders AS O "
        "JOIN STAGING.STG_ORDERS AS P ON P.Order_Id = O.Order_Id"
    )

    assert list(result.fields) == ["order_id", "order_id_1"]
    assert rows(result.fields["order_id_1"]) == [(ORDERS, "order_id", "DIRECT", "IDENTITY")]
    # The same column on both sides of the join is one field.
    assert rows(result.dataset) == [(ORDERS, "order_id", "INDIRECT", "JOIN")]


def test_identical_fields_are_reported_once() -> None:
    result = lineage("SELECT amount + amount * 2 AS x FROM staging.stg_orders")

    assert rows(result.fields["x"]) == [(ORDERS, "amount", "DIRECT", "TRANSFORMATION")]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT FROM WHERE (", "does not parse"),
        ("SELECT (1", "does not parse"),
        ("SELECT 1; SELECT 2", "exactly one SQL statement"),
        ("INSERT INTO staging.stg_orders SELECT * FROM staging.stg_orders", "SELECT"),
        ("SELECT * FROM staging.nowhere", "staging.nowhere"),
        ("SELECT missing FROM staging.stg_orders", "missing"),
    ],
)
def test_unusable_sql_raises_value_error(sql: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        lineage(sql)


DATASETS = {
    ORDERS: ("duckdb://lake", "staging.stg_orders"),
    CUSTOMERS: ("duckdb://lake", "staging.stg_customers"),
}


@cache
def facet_validator() -> jsonschema.protocols.Validator:
    """The facet's schema from the OpenLineage spec, its $ref to the core spec served locally."""
    spec = REFERENCE / "openlineage-spec"
    facet = json.loads((spec / "facets" / "ColumnLineageDatasetFacet.json").read_text())
    core = json.loads((spec / "OpenLineage.json").read_text())
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in (facet, core)
    )
    validator_class = jsonschema.validators.validator_for(facet)
    validator: jsonschema.protocols.Validator = validator_class(facet, registry=registry)
    return validator


def as_facet(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "columnLineage": {
            "_producer": "https://github.com/headwater/headwater",
            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"
            "#/$defs/ColumnLineageDatasetFacet",
            **body,
        }
    }


def test_to_facet_matches_the_column_lineage_facet_schema() -> None:
    result = lineage(
        """
        SELECT o.order_id,
               CASE WHEN o.amount > 0 THEN o.amount END AS positive,
               c.name
        FROM staging.stg_orders AS o
        JOIN staging.stg_customers AS c ON c.customer_id = o.customer_id
        """
    )

    facet = to_facet(result, DATASETS)

    facet_validator().validate(as_facet(facet))
    assert list(facet["fields"]) == ["order_id", "positive", "name"]
    # One input field per column, carrying every way the column is used.
    assert facet["fields"]["positive"] == {
        "inputFields": [
            {
                "namespace": "duckdb://lake",
                "name": "staging.stg_orders",
                "field": "amount",
                "transformations": [
                    {
                        "type": "DIRECT",
                        "subtype": "IDENTITY",
                        "description": "amount",
                        "masking": False,
                    },
                    {
                        "type": "INDIRECT",
                        "subtype": "CONDITIONAL",
                        "description": "case condition",
                        "masking": False,
                    },
                ],
            }
        ]
    }
    assert [(f["name"], f["field"]) for f in facet["dataset"]] == [
        ("staging.stg_customers", "customer_id"),
        ("staging.stg_orders", "customer_id"),
    ]
    assert facet["dataset"][0]["transformations"] == [
        {"type": "INDIRECT", "subtype": "JOIN", "description": "join condition", "masking": False}
    ]


def test_the_schema_check_is_not_vacuous() -> None:
    assert not facet_validator().is_valid(as_facet({"dataset": []}))  # "fields" is required
    assert not facet_validator().is_valid(
        as_facet({"fields": {"x": {"inputFields": [{"namespace": "n", "field": "f"}]}}})
    )  # an input field needs its dataset name


def test_to_facet_needs_a_dataset_for_every_table() -> None:
    result = lineage("SELECT event_id FROM raw.events")

    with pytest.raises(ValueError, match=re.escape("raw.events")):
        to_facet(result, DATASETS)


def _counting_qualify(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the traces (each qualifies the query once) from now on."""
    calls: list[str] = []

    def counted(expression: Any, **kwargs: Any) -> Any:
        calls.append(expression.sql())
        return qualify(expression, **kwargs)

    monkeypatch.setattr("headwater.pipeline.column_lineage.qualify", counted)
    return calls


def _unique_query(select: str) -> str:
    # The cache lives as long as the process: a query no other test traced.
    return f"SELECT {select}, '{uuid.uuid4()}' AS marker FROM staging.stg_orders"


def test_a_query_over_the_same_columns_is_traced_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traces = _counting_qualify(monkeypatch)
    sql = _unique_query("order_id, amount * 2 AS doubled")

    first = lineage(sql)
    again = lineage(sql)

    assert again == first
    assert len(traces) == 1
    assert rows(again.fields["doubled"]) == [(ORDERS, "amount", "DIRECT", "TRANSFORMATION")]


def test_other_input_columns_are_traced_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    traces = _counting_qualify(monkeypatch)
    sql = _unique_query("*")

    before = column_lineage(sql, SCHEMAS)
    after = column_lineage(sql, {**SCHEMAS, ORDERS: [*SCHEMAS[ORDERS], "channel"]})

    assert len(traces) == 2
    assert "channel" not in before.fields
    assert rows(after.fields["channel"]) == [(ORDERS, "channel", "DIRECT", "IDENTITY")]


def test_changing_a_result_does_not_change_the_next_one() -> None:
    sql = _unique_query("order_id")

    first = lineage(sql)
    first.fields.clear()

    assert list(lineage(sql).fields) == ["order_id", "marker"]


def test_a_query_that_cannot_be_traced_fails_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    traces = _counting_qualify(monkeypatch)
    sql = _unique_query("no_such_column")

    for _ in range(2):
        with pytest.raises(ValueError, match="no_such_column"):
            lineage(sql)
    assert len(traces) == 2
