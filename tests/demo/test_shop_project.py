"""The shop example project, run with plain DuckDB on one generated batch.

headwater's engine is not needed: the models are executed in dependency order as
``CREATE TABLE <layer>.<name> AS <select>``, the Python model is imported and called, and the
YAML tests are evaluated by a small interpreter of docs/pipelines.md's test kinds. What is
asserted is what the demo promises: deduplication, rejects with reasons, normalised contacts,
entity resolution across sources and revenue that adds up.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
import yaml
from sqlglot import exp

from headwater.demo.shop import RAW_SCHEMAS, generate_batch

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "shop"
LAYERS = ["raw", "staging", "semantic", "analytics", "marts"]
EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}")
ORDERS = 2_000


def split_header(text: str) -> tuple[dict[str, Any], str]:
    """The model's config and its SELECT, as docs/pipelines.md (and the engine) read them: the
    leading comment and blank lines are the header, and those of the form ``-- key: value`` are
    its YAML; other comments are just comments."""
    lines = text.splitlines()
    header: list[str] = []
    while lines and (lines[0].startswith("--") or not lines[0].strip()):
        setting = re.match(r"--\s*([a-z_]+\s*:.*)$", lines.pop(0).strip())
        header.append(setting[1] if setting else "")
    config = yaml.safe_load("\n".join(header)) or {}
    assert isinstance(config, dict)
    return config, "\n".join(lines)


def references(sql: str) -> set[str]:
    """Layer-qualified tables the SELECT reads, the way the engine finds them (sqlglot)."""
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = set()
    for table in tree.find_all(exp.Table):
        if table.db:
            found.add(f"{table.db}.{table.name}")
        else:
            assert table.name in ctes, f"unqualified table {table.name}"
    return found


class Model:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.layer = path.parent.name
        self.name = f"{self.layer}.{path.stem}"
        if path.suffix == ".sql":
            self.config, self.sql = split_header(path.read_text())
            self.inputs = references(self.sql)
            self.module: Any = None
        else:
            spec = importlib.util.spec_from_file_location(f"shop_model_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            self.module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(self.module)
            self.config = dict(self.module.CONFIG)
            self.inputs = set(self.module.INPUTS)
            self.sql = ""


def load_models() -> list[Model]:
    """The project's models in a dependency order (and checks the graph's rules)."""
    models = {
        m.name: m
        for m in (
            Model(p)
            for p in sorted((PROJECT / "models").glob("*/*"))
            if p.suffix in {".sql", ".py"}
        )
    }
    sources = set(RAW_SCHEMAS)
    ordered: list[Model] = []
    done: set[str] = set(sources)
    pending = dict(models)
    while pending:
        ready = [m for m in pending.values() if m.inputs <= done]
        assert ready, f"cycle or unknown input among {sorted(pending)}"
        for model in ready:
            for name in model.inputs:
                assert LAYERS.index(name.split(".")[0]) <= LAYERS.index(model.layer), (
                    f"{model.name} reads the later layer's {name}"
                )
            ordered.append(model)
            done.add(model.name)
            del pending[model.name]
    return ordered


def load_batch(con: duckdb.DuckDBPyConnection, batch: dict[str, pa.Table]) -> None:
    for name, table in batch.items():
        tmp = "tmp_" + name.replace(".", "_")
        con.register(tmp, table)
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {tmp}")
        con.execute(f"CREATE OR REPLACE VIEW whole.{name} AS SELECT * FROM memory.{name}")


def build(con: duckdb.DuckDBPyConnection, models: list[Model]) -> None:
    for model in models:
        if model.config.get("materialized") == "view":
            con.execute(f"CREATE OR REPLACE VIEW {model.name} AS {model.sql}")
        elif model.module is None:
            # A full build leaves out the rows a merge model marks for deletion, as the engine does.
            deleted = model.config.get("delete_when")
            query = f"SELECT * FROM ({model.sql}) WHERE NOT COALESCE(({deleted}), FALSE)"
            con.execute(
                f"CREATE OR REPLACE TABLE {model.name} AS {query if deleted else model.sql}"
            )
        else:
            # As on a full run: no ``this``, so every customer is resolved.
            result = model.module.model({name: con.table(name) for name in model.inputs})
            assert isinstance(result, pa.Table)
            con.register("tmp_result", result)
            con.execute(f"CREATE OR REPLACE TABLE {model.name} AS SELECT * FROM tmp_result")
            con.unregister("tmp_result")
        if model.config.get("materialized") != "view":
            con.execute(
                f"CREATE OR REPLACE VIEW whole.{model.name} AS SELECT * FROM memory.{model.name}"
            )


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS whole")  # whole.<layer>.<table>: the same tables here
    for layer in LAYERS:
        con.execute(f"CREATE SCHEMA {layer}")
        con.execute(f"CREATE SCHEMA whole.{layer}")
    return con


@pytest.fixture(scope="module")
def models() -> list[Model]:
    return load_models()


@pytest.fixture(scope="module")
def shop(models: list[Model]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect()
    load_batch(con, generate_batch(0, orders=ORDERS))
    build(con, models)
    yield con
    con.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.execute(sql).fetchall()  # fetchall: a half-read result blocks the connection
    assert len(rows) == 1
    return rows[0][0]


# -- the YAML tests, interpreted ------------------------------------------------------------


def failing_rows(
    con: duckdb.DuckDBPyConnection, table: str, kind: str, arg: Any, column: str | None
) -> int:
    if kind == "not_null":
        return int(scalar(con, f"SELECT count(*) FROM {table} WHERE {column} IS NULL"))
    if kind == "unique":
        return int(
            scalar(
                con,
                f"SELECT count(*) FROM (SELECT {column} FROM {table} WHERE {column} IS NOT NULL "
                f"GROUP BY {column} HAVING count(*) > 1)",
            )
        )
    if kind == "accepted_values":
        values = ", ".join(f"'{v}'" for v in arg["values"])
        return int(
            scalar(
                con,
                f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND {column} NOT IN ({values})",
            )
        )
    if kind == "relationships":
        return int(
            scalar(
                con,
                f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL "
                f"AND {column} NOT IN (SELECT {arg['field']} FROM {arg['to']})",
            )
        )
    if kind == "row_count":
        count = int(scalar(con, f"SELECT count(*) FROM {table}"))
        return int(count < arg.get("min", 0) or count > arg.get("max", count))
    if kind == "freshness":
        age = {"s": "second", "m": "minute", "h": "hour", "d": "day"}[arg["max_age"][-1]]
        fresh = scalar(
            con,
            f"SELECT max({arg['column']}) >= now() - INTERVAL {int(arg['max_age'][:-1])} {age} FROM {table}",
        )
        return int(not fresh)
    if kind == "expression":
        predicate = arg["expression"]
        return int(
            scalar(con, f"SELECT count(*) FROM {table} WHERE NOT coalesce(({predicate}), false)")
        )
    if kind == "sql":
        return len(con.execute(arg["sql"]).fetchall())
    raise AssertionError(f"unknown test {kind}")


KINDS = {
    "not_null",
    "unique",
    "accepted_values",
    "relationships",
    "row_count",
    "freshness",
    "expression",
    "sql",
}


def declared_tests() -> Iterator[tuple[str, str | None, str, Any, str]]:
    """(table, column, kind, argument, severity) of every test of the project."""

    def parse(entry: Any) -> tuple[str, Any, str]:
        # A bare name, or a one-key mapping whose value holds the parameters (and name and
        # severity); expression and sql may give their query as a plain string.
        if isinstance(entry, str):
            return entry, {}, "error"
        assert isinstance(entry, dict) and len(entry) == 1, entry
        ((kind, arg),) = entry.items()
        assert kind in KINDS, kind
        if kind in ("expression", "sql") and isinstance(arg, str):
            arg = {kind: arg}
        return kind, arg, arg.get("severity", "error")

    for path in sorted((PROJECT / "models").glob("*/*.yml")):
        layer = path.parent.name
        for name, spec in yaml.safe_load(path.read_text())["models"].items():
            assert (path.parent / f"{name}.sql").exists() or (path.parent / f"{name}.py").exists()
            for column, col_spec in (spec.get("columns") or {}).items():
                for entry in col_spec.get("tests", []):
                    yield (f"{layer}.{name}", column, *parse(entry))
            for entry in spec.get("tests", []):
                yield (f"{layer}.{name}", None, *parse(entry))
    for path in sorted((PROJECT / "sources").glob("*.yml")):
        for name, spec in yaml.safe_load(path.read_text())["tables"].items():
            for entry in spec.get("tests", []):
                yield (f"raw.{name}", None, *parse(entry))


def test_the_declared_tests_pass_and_the_intended_warnings_fire(
    shop: duckdb.DuckDBPyConnection,
) -> None:
    failures = {}
    for table, column, kind, arg, severity in declared_tests():
        failing = failing_rows(shop, table, kind, arg, column)
        if failing:
            failures[(table, column, kind)] = (severity, failing)
    errors = {key: value for key, value in failures.items() if value[0] == "error"}
    assert errors == {}
    # Refunds of orders that never existed (and of rejected orders) are in the data on purpose.
    assert ("staging.stg_refunds", "order_id", "relationships") in failures


# -- the project's shape --------------------------------------------------------------------


def test_the_sources_declare_the_generators_schemas() -> None:
    names = {
        "string": pa.string(),
        "long": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    declared = {}
    for path in (PROJECT / "sources").glob("*.yml"):
        for name, spec in yaml.safe_load(path.read_text())["tables"].items():
            declared[f"raw.{name}"] = pa.schema([(c, names[t]) for c, t in spec["columns"].items()])
    assert declared.keys() == RAW_SCHEMAS.keys()
    for name, schema in RAW_SCHEMAS.items():
        assert declared[name].equals(schema), name


def test_cross_table_tests_read_only_upstream_tables(models: list[Model]) -> None:
    """A test runs right after its model's write, so a table it reads must be upstream, or it
    may not be written yet in this run. The one exception is deliberate: refunds are checked
    against orders (a warning), and the two staging models are independent."""
    inputs = {m.name: m.inputs for m in models}

    def upstream(name: str) -> set[str]:
        found: set[str] = set()
        for parent in inputs.get(name, set()):
            found |= {parent} | upstream(parent)
        return found

    reached = set()
    for table, _column, kind, arg, severity in declared_tests():
        read = {arg["to"]} if kind == "relationships" else set()
        if kind == "sql":
            read = references(arg["sql"])
        for other in read - {table} - upstream(table):
            reached.add((table, other, severity))
    assert reached == {("staging.stg_refunds", "staging.stg_orders", "warn")}


def test_the_engines_loader_accepts_the_project() -> None:
    project_module = pytest.importorskip("headwater.pipeline.project")
    project = project_module.load_project(PROJECT)
    assert {name: source.schema for name, source in project.sources.items()} == RAW_SCHEMAS
    assert set(project.models) == {m.name for m in load_models()}
    tested = {name for name, model in project.models.items() if model.tests}
    # Every stored model is tested; a view is tested through the models that store its rows.
    views = {name for name, model in project.models.items() if model.config.materialized == "view"}
    assert tested == set(project.models) - views == set(project.models) - {"staging.parsed_orders"}


def test_the_project_file_and_model_configs(models: list[Model]) -> None:
    project = yaml.safe_load((PROJECT / "headwater.yml").read_text())
    assert (
        project["name"] == "shop" and project["namespace"] == "shop" and "warehouse" not in project
    )
    config = {m.name: m.config for m in models}
    assert config["staging.stg_orders"]["materialized"] == "merge"
    assert config["staging.stg_orders"]["unique_key"] == "event_id"
    # Incremental on everything it reads: the view over both raw order tables.
    assert "incremental_on" not in config["staging.stg_orders"]
    assert config["staging.parsed_orders"]["materialized"] == "view"
    assert config["staging.stg_order_rejects"]["materialized"] == "append"
    assert config["staging.stg_customers"]["unique_key"] == "customer_id"
    assert config["semantic.customer_entities"]["materialized"] == "merge"
    assert config["semantic.customer_entities"]["unique_key"] == "customer_id"
    assert config["analytics.order_facts"] == config["analytics.order_facts"] | {
        "materialized": "append",
        "incremental_on": ["staging.stg_orders"],
    }
    # Marts recompute only what new rows touch, merged by their grain.
    assert config["marts.daily_revenue"]["unique_key"] == "day"
    assert config["marts.customer_lifetime_value"]["unique_key"] == "customer_key"
    assert config["marts.customer_lifetime_value"]["delete_when"] == "orders IS NULL"
    assert config["marts.entity_coverage"]["materialized"] == "table"
    assert all(isinstance(c.get("tags", []), list) for c in config.values())
    assert sum(1 for c in config.values() if c.get("tags")) >= 3
    allowed = {
        "materialized",
        "unique_key",
        "incremental_on",
        "delete_when",
        "sequence_by",
        "sort_by",
        "on_input_rewrite",
        "tags",
        "description",
    }
    assert all(set(c) <= allowed for c in config.values())
    # Sorted by day, for the marts that re-read the days new orders touch.
    assert config["analytics.order_facts"]["sort_by"] == ["order_date", "ordered_at"]


# -- staging ---------------------------------------------------------------------------------

RAW_ORDERS = "(SELECT event_id FROM raw.web_orders UNION ALL SELECT event_id FROM raw.pos_orders)"


def test_stg_orders_has_each_event_once_and_drops_duplicate_deliveries(
    shop: duckdb.DuckDBPyConnection,
) -> None:
    assert scalar(shop, "SELECT count(*) - count(DISTINCT event_id) FROM staging.stg_orders") == 0
    raw_rows = scalar(shop, f"SELECT count(*) FROM {RAW_ORDERS}")
    raw_events = scalar(shop, f"SELECT count(DISTINCT event_id) FROM {RAW_ORDERS}")
    assert raw_rows - raw_events > ORDERS * 0.01  # the batch does hold duplicate deliveries
    staged = scalar(shop, "SELECT count(*) FROM staging.stg_orders")
    rejected = scalar(shop, "SELECT count(*) FROM staging.stg_order_rejects")
    assert staged + rejected == raw_events == ORDERS


def test_every_raw_order_is_either_staged_or_rejected_with_a_reason(
    shop: duckdb.DuckDBPyConnection,
) -> None:
    placed = shop.execute(
        f"""
        SELECT r.event_id, (s.event_id IS NOT NULL)::INT + (j.event_id IS NOT NULL)::INT AS places
        FROM (SELECT DISTINCT event_id FROM {RAW_ORDERS}) AS r
        LEFT JOIN staging.stg_orders AS s USING (event_id)
        LEFT JOIN staging.stg_order_rejects AS j USING (event_id)
        WHERE places <> 1
        """
    ).fetchall()
    assert placed == []
    amounts = shop.execute(
        """
        SELECT w.amount, j.reason FROM staging.stg_order_rejects AS j
        JOIN raw.web_orders AS w USING (event_id)
        WHERE w.order_id IS NOT NULL AND w.ordered_at IS NOT NULL
        """
    ).fetchall()
    assert {amount for amount, _ in amounts} >= {None, "n/a", ""}
    for amount, reason in amounts:
        assert reason == (
            "missing amount" if amount is None else f"amount '{amount}' is not a number"
        )
    missing = shop.execute(
        """
        SELECT reason FROM staging.stg_order_rejects WHERE order_id IS NULL
        """
    ).fetchall()
    assert missing and all("missing order_id" in reason for (reason,) in missing)
    assert (
        scalar(
            shop,
            "SELECT count(*) FROM staging.stg_order_rejects WHERE reason IS NULL OR reason = ''",
        )
        == 0
    )


def test_messy_amounts_are_parsed(shop: duckdb.DuckDBPyConnection) -> None:
    pairs = shop.execute(
        "SELECT w.amount, s.amount FROM raw.web_orders AS w JOIN staging.stg_orders AS s USING (event_id)"
    ).fetchall()
    for text, value in pairs:
        cleaned = text.strip().lstrip("$")
        if re.fullmatch(r"[0-9]+,[0-9]{1,2}", cleaned):
            cleaned = cleaned.replace(",", ".")
        assert float(cleaned.replace(",", "")) == pytest.approx(value), text
    forms = {re.sub("[0-9]+", "9", text) for text, _ in pairs}
    assert {"9.9", "9,9", "$9.9", " 9.9 "} <= forms
    assert (
        scalar(
            shop,
            "SELECT count(*) FROM raw.pos_orders AS p JOIN staging.stg_orders AS s USING (event_id) "
            "WHERE round(s.amount * 100) <> p.amount_cents",
        )
        == 0
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12.50", 12.5),
        ("12,50", 12.5),
        ("$12.50", 12.5),
        (" 12.5 ", 12.5),
        ("12", 12.0),
        ("$1,234.50", 1234.5),
        ("1,234", 1234.0),
        ("1234,5", 1234.5),
        ("n/a", None),
        ("", None),
        ("12.5.0", None),
        ("1,2,3", None),
        ("nan", None),
        ("-5", None),
        (None, None),
    ],
)
def test_amount_spellings(models: list[Model], text: str | None, value: float | None) -> None:
    stg_orders = next(m for m in models if m.name == "staging.stg_orders")
    rejects = next(m for m in models if m.name == "staging.stg_order_rejects")
    batch = {name: schema.empty_table() for name, schema in RAW_SCHEMAS.items()}
    row = {"event_id": "e1", "order_id": "W1", "amount": text, "ordered_at": 0, "received_at": 0}
    batch["raw.web_orders"] = pa.Table.from_pylist([row], schema=RAW_SCHEMAS["raw.web_orders"])
    con = connect()
    load_batch(con, batch)
    build(con, [m for m in models if m.name == "staging.parsed_orders"])
    staged = con.execute(f"SELECT amount FROM ({stg_orders.sql})").fetchall()
    reasons = con.execute(f"SELECT reason FROM ({rejects.sql})").fetchall()
    con.close()
    if value is None:
        assert staged == []
        assert reasons == [
            ("missing amount" if text is None else f"amount '{text}' is not a number",)
        ]
    else:
        assert staged == [(value,)] and reasons == []


def test_contacts_are_normalised(shop: duckdb.DuckDBPyConnection) -> None:
    for table in ("staging.stg_orders", "staging.stg_customers"):
        emails = [
            e
            for (e,) in shop.execute(
                f"SELECT email FROM {table} WHERE email IS NOT NULL"
            ).fetchall()
        ]
        assert emails and all(EMAIL.fullmatch(e) for e in emails)
        phones = [
            p
            for (p,) in shop.execute(
                f"SELECT phone FROM {table} WHERE phone IS NOT NULL"
            ).fetchall()
        ]
        assert phones and all(re.fullmatch("[0-9]{10}", p) for p in phones)
    rows = shop.execute(
        """
        SELECT w.email, s.email FROM raw.web_customers AS w
        JOIN staging.stg_customers AS s ON s.customer_id = 'web:' || w.customer_id
        WHERE w.email IS NOT NULL
        """
    ).fetchall()
    padded = [(raw, clean) for raw, clean in rows if raw != raw.strip() or raw != raw.lower()]
    assert padded and all(
        clean == raw.strip().lower() for raw, clean in padded if "@" in raw and clean
    )
    broken = [(raw, clean) for raw, clean in rows if not EMAIL.fullmatch(raw.strip().lower())]
    assert broken and all(clean is None for _, clean in broken)
    phones = shop.execute(
        """
        SELECT p.phone, s.phone FROM raw.pos_customers AS p
        JOIN staging.stg_customers AS s ON s.customer_id = 'pos:' || p.customer_id
        WHERE p.phone IS NOT NULL
        """
    ).fetchall()
    assert len({re.sub("[0-9]", "9", raw) for raw, _ in phones}) >= 5  # many formats...
    for raw, clean in phones:  # ... one normal form
        digits = re.sub("[^0-9]", "", raw)
        assert clean == (digits[-10:] if len(digits) >= 10 else None)


# -- entity resolution and marts -------------------------------------------------------------


def test_a_customer_of_both_sources_with_differently_typed_emails_is_one_person(
    shop: duckdb.DuckDBPyConnection,
) -> None:
    pairs = shop.execute(
        """
        SELECT w.email, p.email, ew.customer_key, ep.customer_key
        FROM raw.web_customers AS w
        JOIN raw.pos_customers AS p ON lower(trim(p.email)) = lower(trim(w.email))
        JOIN semantic.customer_entities AS ew ON ew.customer_id = 'web:' || w.customer_id
        JOIN semantic.customer_entities AS ep ON ep.customer_id = 'pos:' || p.customer_id
        WHERE w.email <> p.email AND ew.email IS NOT NULL
        """
    ).fetchall()
    assert pairs, "the batch should hold cross-source customers typed differently"
    assert all(web_key == pos_key for _, _, web_key, pos_key in pairs)
    # The key is the cluster's smallest id; POS ids sort first.
    assert all(key.startswith("pos:") for _, _, key, _ in pairs)


def test_phone_only_customers_are_resolved_by_phone(shop: duckdb.DuckDBPyConnection) -> None:
    linked = scalar(
        shop,
        """
        SELECT count(*) FROM semantic.customer_entities AS p
        JOIN semantic.customer_entities AS w
          ON w.customer_key = p.customer_key AND w.source = 'web' AND p.source = 'pos'
        WHERE p.email IS NULL AND p.phone = w.phone
        """,
    )
    assert linked > 0


def test_entity_resolution_is_a_partition_by_shared_contacts(
    shop: duckdb.DuckDBPyConnection,
) -> None:
    rows = shop.execute(
        "SELECT customer_id, customer_key, email, phone, cluster_size FROM semantic.customer_entities"
    ).fetchall()
    assert len(rows) == scalar(shop, "SELECT count(*) FROM staging.stg_customers")
    key = {r[0]: r[1] for r in rows}
    for column in (2, 3):
        by_value: dict[str, set[str]] = {}
        for r in rows:
            if r[column] is not None:
                by_value.setdefault(r[column], set()).add(key[r[0]])
        assert all(len(keys) == 1 for keys in by_value.values())
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r[1]] = sizes.get(r[1], 0) + 1
    assert all(r[4] == sizes[r[1]] and key[r[1]] == r[1] and r[1] <= r[0] for r in rows)
    assert max(sizes.values()) < 10  # no runaway cluster from a shared placeholder


def test_most_orders_are_linked_to_a_customer(shop: duckdb.DuckDBPyConnection) -> None:
    orders, linked, coverage = shop.execute("SELECT * FROM marts.entity_coverage").fetchone() or ()
    assert orders == scalar(shop, "SELECT count(*) FROM staging.stg_orders")
    assert coverage == pytest.approx(linked / orders)
    assert coverage >= 0.93
    methods = dict(
        shop.execute("SELECT linked_by, count(*) FROM analytics.order_facts GROUP BY 1").fetchall()
    )
    assert methods["account"] > methods["email"] > 0 and methods["phone"] > 0


def test_daily_revenue_adds_up(shop: duckdb.DuckDBPyConnection) -> None:
    assert (
        scalar(shop, "SELECT count(*) FROM marts.daily_revenue WHERE net <> gross - refunds") == 0
    )
    gross, refunds, orders = (
        shop.execute(
            "SELECT sum(gross), sum(refunds), sum(orders) FROM marts.daily_revenue"
        ).fetchone()
        or ()
    )
    assert orders == scalar(shop, "SELECT count(*) FROM analytics.order_facts")
    assert float(gross) == pytest.approx(
        scalar(shop, "SELECT sum(amount) FROM analytics.order_facts"), abs=0.05
    )
    known = scalar(
        shop,
        "SELECT sum(amount) FROM staging.stg_refunds WHERE order_id IN (SELECT order_id FROM analytics.order_facts)",
    )
    everything = scalar(shop, "SELECT sum(amount) FROM staging.stg_refunds")
    assert float(refunds) == pytest.approx(known, abs=0.05) and known < everything
    assert scalar(shop, "SELECT count(*) FROM marts.daily_revenue WHERE orders > 0") >= 28


def test_lifetime_value_covers_every_linked_order(shop: duckdb.DuckDBPyConnection) -> None:
    assert scalar(shop, "SELECT sum(orders) FROM marts.customer_lifetime_value") == scalar(
        shop, "SELECT count(customer_key) FROM analytics.order_facts"
    )
    assert scalar(shop, "SELECT count(*) FROM marts.customer_lifetime_value WHERE channels = 2") > 0


# -- incremental behaviour -------------------------------------------------------------------


def test_a_redelivered_event_stages_to_the_identical_row(models: list[Model]) -> None:
    """The merge on event_id must find nothing to change when batch 1 replays batch 0."""
    stg_orders = next(m for m in models if m.name == "staging.stg_orders")
    staged = []
    for batch in (0, 1):
        con = connect()
        load_batch(con, generate_batch(batch, orders=ORDERS))
        build(con, [m for m in models if m.name == "staging.parsed_orders"])
        staged.append({row[0]: row for row in con.execute(stg_orders.sql).fetchall()})
        con.close()
    replayed = staged[0].keys() & staged[1].keys()
    assert len(replayed) >= ORDERS * 0.005
    assert all(staged[0][event] == staged[1][event] for event in replayed)
