"""Column-level lineage of one model's SELECT, in the terms of OpenLineage's column lineage facet.

sqlglot qualifies the query against the input tables' columns (expanding stars, resolving every
column to the FROM entry it reads), then the scope tree is walked from the outermost SELECT down
to the input tables. How a column is used decides its transformation: copied as is (DIRECT
IDENTITY), computed from (DIRECT TRANSFORMATION), folded into an aggregate (DIRECT AGGREGATION),
or only influencing the value (INDIRECT CONDITIONAL / WINDOW / SORT / FILTER on that output).
Columns that shape the whole result - join keys, filters, grouping, sorting - go to ``dataset``.

A column of a CTE or subquery stands for the input fields behind it, so its lineage is composed
with the way the outer query uses it: inside an INDIRECT use everything becomes that influence,
and between two DIRECT uses the stronger transformation (identity < transformation <
aggregation) wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

DIRECT = "DIRECT"
INDIRECT = "INDIRECT"
IDENTITY = "IDENTITY"
TRANSFORMATION = "TRANSFORMATION"
AGGREGATION = "AGGREGATION"
JOIN = "JOIN"
FILTER = "FILTER"
GROUP_BY = "GROUP_BY"
SORT = "SORT"
WINDOW = "WINDOW"
CONDITIONAL = "CONDITIONAL"

_DIALECT = "duckdb"
_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}
# sqlglot counts these as aggregates, but they pick one row's value rather than fold a group.
_NAVIGATION = (exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)
_MAX_DESCRIPTION = 120
LINEAGE_CACHE_SIZE = 512  # traced queries kept per process: models of a few big projects


@dataclass(frozen=True, slots=True)
class InputField:
    """One input column and one way it contributes to an output."""

    table: str  # layer-qualified table name as written in the SQL, lower-case
    column: str
    type: str  # DIRECT or INDIRECT
    # DIRECT: IDENTITY, TRANSFORMATION, AGGREGATION
    # INDIRECT: JOIN, FILTER, GROUP_BY, SORT, WINDOW, CONDITIONAL
    subtype: str
    description: str  # short human text: the expression, or the clause the column sits in


@dataclass(frozen=True, slots=True)
class ColumnLineage:
    # each output column, in SELECT order -> what it derives from, DIRECT and INDIRECT
    fields: dict[str, tuple[InputField, ...]]
    # what affects the whole result: join keys, filters, grouping, sorting
    dataset: tuple[InputField, ...]


def column_lineage(sql: str, schemas: Mapping[str, Sequence[str]]) -> ColumnLineage:
    """The lineage of every output column of ``sql``, one DuckDB SELECT (or set operation).

    ``schemas`` maps each input table (``"layer.table"``) to its column names. Raises
    ``ValueError`` when the SQL does not parse, is not a single query, reads a table missing
    from ``schemas`` or a column that cannot be resolved.
    """
    traced = _trace(sql, tuple((table, tuple(columns)) for table, columns in schemas.items()))
    # The cached result is shared: the caller gets a dict of its own (the rest is immutable).
    return replace(traced, fields=dict(traced.fields))


# Tracing parses and qualifies the SQL with sqlglot, tens of milliseconds a model, and a model's
# SQL and input columns rarely change from one run to the next: a process that runs a pipeline
# again (the demo, a scheduler, the server) traces each model once. Failures are not cached.
@lru_cache(maxsize=LINEAGE_CACHE_SIZE)
def _trace(sql: str, tables: tuple[tuple[str, tuple[str, ...]], ...]) -> ColumnLineage:
    schemas = dict(tables)
    query = _parse(sql)
    _check_tables(query, schemas)
    try:
        qualified = qualify(
            query,
            dialect=_DIALECT,
            schema=_nested_schema(schemas),
            quote_identifiers=False,
        )
        root = build_scope(qualified)
        if root is None:
            raise ValueError("the query has no SELECT to trace")
        traced = _Tracer().lineage(root)
    except SqlglotError as exc:
        raise ValueError(f"cannot trace column lineage: {exc}") from exc
    return ColumnLineage(
        fields={name: _ordered(fields) for name, fields in traced.columns.items()},
        dataset=_ordered(traced.dataset),
    )


def to_facet(lineage: ColumnLineage, datasets: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The ``columnLineage`` facet body (without ``_producer``/``_schemaURL``).

    ``datasets`` maps each table name of the lineage to its OpenLineage (namespace, name).
    """
    return {
        "fields": {
            output: {"inputFields": _facet_fields(fields, datasets)}
            for output, fields in lineage.fields.items()
        },
        "dataset": _facet_fields(lineage.dataset, datasets),
    }


def _facet_fields(
    fields: Iterable[InputField], datasets: Mapping[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in fields:
        grouped.setdefault((item.table, item.column), []).append(
            {
                "type": item.type,
                "subtype": item.subtype,
                "description": item.description,
                "masking": False,
            }
        )
    result = []
    for (table, column), transformations in grouped.items():
        if table not in datasets:
            raise ValueError(f"no OpenLineage dataset given for table {table!r}")
        namespace, name = datasets[table]
        result.append(
            {
                "namespace": namespace,
                "name": name,
                "field": column,
                "transformations": transformations,
            }
        )
    return result


def _parse(sql: str) -> exp.Select | exp.SetOperation:
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=_DIALECT) if s is not None]
    except ParseError as exc:
        # str(exc) carries terminal colour codes around the offending token; the structured
        # error reads better in a log or an API answer.
        first = exc.errors[0] if exc.errors else None
        detail = (
            f"{first['description']} (line {first['line']}, column {first['col']})"
            if first
            else str(exc)
        )
        raise ValueError(f"the SQL does not parse: {detail}") from exc
    except SqlglotError as exc:
        raise ValueError(f"the SQL does not parse: {exc}") from exc
    if len(statements) != 1:
        raise ValueError(f"expected exactly one SQL statement, found {len(statements)}")
    query = statements[0]
    # A query wrapped in bare parentheses is still that query.
    while isinstance(query, exp.Subquery) and not any(
        value for key, value in query.args.items() if key != "this"
    ):
        query = query.this
    if not isinstance(query, exp.Select | exp.SetOperation):
        raise ValueError(f"expected a SELECT query, found {query.key.upper()}")
    return query


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name.lower() for part in table.parts)


def _check_tables(query: exp.Expr, schemas: Mapping[str, Sequence[str]]) -> None:
    # Checked before qualifying so that a misspelt table is reported as such, not as the
    # columns that qualify would then fail to find.
    known = {name.lower() for name in schemas}
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function such as range(10): not an input table
        name = _table_name(table)
        if name not in known and name not in ctes:
            raise ValueError(f"table {name!r} is not among the input tables: {sorted(known)}")


def _nested_schema(schemas: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for table, columns in schemas.items():
        *path, name = table.lower().split(".")
        level = nested
        for part in path:
            level = level.setdefault(part, {})
        # Types do not matter for lineage; sqlglot only needs the column names.
        level[name] = {column.lower(): "unknown" for column in columns}
    return nested


def _ordered(fields: Iterable[InputField]) -> tuple[InputField, ...]:
    return tuple(
        sorted(set(fields), key=lambda f: (f.table, f.column, f.type, f.subtype, f.description))
    )


def _describe(expression: exp.Expr) -> str:
    bare = expression.copy()
    # Table aliases are internal to the query; the column names alone read better.
    for column in list(bare.find_all(exp.Column)):
        column.set("table", None)
    # ``bare`` is this function's own copy: no need for sql() to copy it again.
    text = bare.sql(dialect=_DIALECT, normalize_functions="lower", copy=False)
    if len(text) > _MAX_DESCRIPTION:
        return text[: _MAX_DESCRIPTION - 3] + "..."
    return text


@dataclass(frozen=True, slots=True)
class _Use:
    """How the expression being walked feeds the output it belongs to."""

    type: str
    subtype: str
    description: str

    def direct(self, subtype: str) -> _Use:
        if self.type == INDIRECT or _RANK[subtype] <= _RANK[self.subtype]:
            return self
        return _Use(DIRECT, subtype, self.description)

    def indirect(self, subtype: str, description: str) -> _Use:
        # An influence stays the one it was first seen as: a column in a CASE condition of a
        # join key is a join key.
        if self.type == INDIRECT:
            return self
        return _Use(INDIRECT, subtype, description)

    def apply(self, source: InputField) -> InputField:
        """``source``, which feeds a column used this way, as seen from this use's output."""
        if self.type == INDIRECT:
            return replace(
                source, type=INDIRECT, subtype=self.subtype, description=self.description
            )
        if source.type == INDIRECT or _RANK[self.subtype] <= _RANK[source.subtype]:
            # On a tie the inner description wins: it is written in the input's own columns.
            return source
        return replace(source, subtype=self.subtype, description=self.description)

    def through(self, sources: Iterable[InputField]) -> set[InputField]:
        return {self.apply(source) for source in sources}


_JOIN = _Use(INDIRECT, JOIN, "join condition")
_WHERE = _Use(INDIRECT, FILTER, "where")
_HAVING = _Use(INDIRECT, FILTER, "having")
_QUALIFY = _Use(INDIRECT, FILTER, "qualify")
_GROUP = _Use(INDIRECT, GROUP_BY, "group by")
_ORDER = _Use(INDIRECT, SORT, "order by")


@dataclass(slots=True)
class _Lineage:
    """What one scope's output columns and its result as a whole derive from."""

    columns: dict[str, set[InputField]] = field(default_factory=dict)
    dataset: set[InputField] = field(default_factory=set)


class _Tracer:
    def __init__(self) -> None:
        # Keyed by the scope's query node: a CTE read twice is traced once, a SELECT's ORDER BY
        # can refer to its own output columns while the rest is being traced, and a recursive
        # CTE's self-reference (which sqlglot scopes anew over the anchor query) finds the
        # anchor already traced.
        self._traced: dict[int, _Lineage] = {}

    def lineage(self, scope: Scope) -> _Lineage:
        known = self._traced.get(id(scope.expression))
        if known is not None:
            return known
        node = scope.expression
        if isinstance(node, exp.Select):
            return self._select(scope, node)
        if isinstance(node, exp.SetOperation):
            return self._set_operation(scope, node)
        return self._table_function(scope, node)

    def _select(self, scope: Scope, select: exp.Select) -> _Lineage:
        result = _Lineage()
        self._traced[id(scope.expression)] = result
        for projection in select.selects:
            expression = projection.unalias()
            if expression.is_star or expression.find(exp.Columns):
                # Left by qualify when it cannot list the columns, e.g. of a table function.
                raise ValueError(f"cannot expand {expression.sql(dialect=_DIALECT)}")
            # A column copied as is keeps the description of the field it copies, so describing
            # it (a copy of the expression and SQL generation) would be wasted work.
            if isinstance(expression, exp.Column):
                description = expression.name
            else:
                description = _describe(expression)
            fields = self._fields(scope, expression, _Use(DIRECT, IDENTITY, description))
            result.columns[_unique(projection.alias_or_name.lower(), result.columns)] = fields

        dataset = result.dataset
        # A source's own filters, joins and grouping shape this result too.
        for name, _ in scope.references:
            source = scope.sources.get(name)
            if isinstance(source, Scope):
                dataset |= self.lineage(source).dataset
        for join in select.args.get("joins") or ():
            dataset |= self._fields(scope, join.args.get("on"), _JOIN)
        dataset |= self._fields(scope, select.args.get("where"), _WHERE)
        group = select.args.get("group")
        if group is not None:
            dataset |= self._fields(scope, list(group.iter_expressions()), _GROUP)
            if group.args.get("all"):
                for projection, fields in zip(select.selects, result.columns.values(), strict=True):
                    if not projection.find(exp.AggFunc):
                        dataset |= _GROUP.through(fields)
        dataset |= self._fields(scope, select.args.get("having"), _HAVING)
        dataset |= self._fields(scope, select.args.get("qualify"), _QUALIFY)
        distinct = select.args.get("distinct")
        if distinct is not None:
            on = distinct.args.get("on")
            if on is not None:
                dataset |= self._fields(scope, on, _Use(INDIRECT, GROUP_BY, "distinct on"))
            else:
                dataset |= _distinct(result, "distinct")
        dataset |= self._order(scope, select.args.get("order"), result)
        return result

    def _set_operation(self, scope: Scope, node: exp.SetOperation) -> _Lineage:
        left, right = (self.lineage(branch) for branch in scope.set_operation_scopes)
        result = _Lineage(dataset=left.dataset | right.dataset)
        self._traced[id(scope.expression)] = result
        if not isinstance(node, exp.Union):
            # INTERSECT and EXCEPT return left rows; the right side only decides which.
            result.columns = dict(left.columns)
            result.dataset |= _Use(INDIRECT, FILTER, node.key).through(_all_fields(right))
        elif node.args.get("by_name"):
            for name in [*left.columns, *(n for n in right.columns if n not in left.columns)]:
                result.columns[name] = left.columns.get(name, set()) | right.columns.get(
                    name, set()
                )
        elif len(left.columns) != len(right.columns):
            raise ValueError(
                f"set operation branches select {len(left.columns)} and "
                f"{len(right.columns)} columns"
            )
        else:
            for (name, fields), more in zip(
                left.columns.items(), right.columns.values(), strict=True
            ):
                result.columns[name] = fields | more
        if node.args.get("distinct"):
            result.dataset |= _distinct(result, f"{node.key} distinct")
        result.dataset |= self._order(scope, node.args.get("order"), result)
        return result

    def _table_function(self, scope: Scope, node: exp.Expr) -> _Lineage:
        if isinstance(node, exp.Lateral) and scope.subquery_scopes:
            return self.lineage(scope.subquery_scopes[0])
        alias = node.args.get("alias")
        names = [column.name.lower() for column in alias.columns] if alias else []
        result = _Lineage(columns={name: set() for name in names})
        self._traced[id(scope.expression)] = result
        if isinstance(node, exp.Unnest):
            values = [
                self._fields(scope, value, _Use(DIRECT, TRANSFORMATION, _describe(value)))
                for value in node.expressions
            ]
            if len(values) == len(names):
                result.columns = dict(zip(names, values, strict=True))
            else:
                # DuckDB names an unaliased unnest column "unnest".
                merged = set().union(*values)
                result.columns = {name: set(merged) for name in names or ["unnest"]}
        return result

    def _order(self, scope: Scope, order: exp.Order | None, output: _Lineage) -> set[InputField]:
        if order is None:
            return set()
        fields: set[InputField] = set()
        for ordered in order.expressions:
            if isinstance(ordered.this, exp.Var) and ordered.this.name.upper() == "ALL":
                fields |= _ORDER.through(_output_fields(output))
            else:
                fields |= self._fields(scope, ordered, _ORDER)
        return fields

    def _fields(
        self, scope: Scope, node: exp.Expr | list[exp.Expr] | None, use: _Use
    ) -> set[InputField]:
        """The input fields ``node`` reads, each as ``use`` and the path down to it make it."""
        if node is None:
            return set()
        if isinstance(node, list):
            return set().union(*(self._fields(scope, item, use) for item in node))
        if isinstance(node, exp.Column):
            return self._column(scope, node, use)
        if isinstance(node, exp.Select | exp.SetOperation):
            return self._subquery(scope, node, use)
        if isinstance(node, exp.Paren | exp.Subquery | exp.Alias):
            return self._fields(scope, node.this, use)
        if isinstance(node, exp.Case):
            return (
                self._fields(scope, node.this, use.indirect(CONDITIONAL, "case operand"))
                | self._fields(scope, node.args.get("ifs"), use)
                | self._fields(scope, node.args.get("default"), use)
            )
        if isinstance(node, exp.If):
            # The branch taken is the value, unchanged: a bare column there stays an identity.
            return (
                self._fields(scope, node.this, use.indirect(CONDITIONAL, "case condition"))
                | self._fields(scope, node.args.get("true"), use)
                | self._fields(scope, node.args.get("false"), use)
            )
        if isinstance(node, exp.Window):
            return self._window(scope, node, use)
        if isinstance(node, exp.Filter):
            return self._fields(scope, node.this, use) | self._fields(
                scope, node.expression, use.indirect(FILTER, "aggregate filter")
            )
        if isinstance(node, exp.WithinGroup):
            # percentile_cont(0.5) WITHIN GROUP (ORDER BY x) aggregates x; it does not sort by it.
            aggregated = use.direct(AGGREGATION)
            return self._fields(scope, node.this, aggregated) | self._fields(
                scope, [o.this for o in node.expression.expressions], aggregated
            )
        if isinstance(node, exp.Order):
            # ORDER BY inside an aggregate, as in string_agg(x, ',' ORDER BY y).
            return self._fields(scope, node.this, use) | self._fields(
                scope, node.expressions, use.indirect(SORT, "aggregate order by")
            )
        if isinstance(node, exp.AggFunc) and not isinstance(node, _NAVIGATION):
            inner = use.direct(AGGREGATION)
        else:
            inner = use.direct(TRANSFORMATION)
        return self._fields(scope, list(node.iter_expressions()), inner)

    def _window(self, scope: Scope, window: exp.Window, use: _Use) -> set[InputField]:
        specs = [window]
        if window.alias:
            # OVER w refers to a WINDOW clause definition of this SELECT.
            named = scope.expression.args.get("windows") or []
            specs += [spec for spec in named if spec.name == window.alias]
        fields = self._fields(scope, window.this, use)
        for spec in specs:
            fields |= self._fields(
                scope, spec.args.get("partition_by"), use.indirect(WINDOW, "window partition by")
            )
            fields |= self._fields(
                scope, spec.args.get("order"), use.indirect(WINDOW, "window order by")
            )
            fields |= self._fields(
                scope, spec.args.get("spec"), use.indirect(WINDOW, "window frame")
            )
        return fields

    def _column(self, scope: Scope, column: exp.Column, use: _Use) -> set[InputField]:
        if not column.table:
            # What qualify leaves unqualified are references to the query's own output
            # columns, as in ORDER BY total or a set operation's ORDER BY.
            output = self._traced.get(id(scope.expression))
            if output is None or column.name not in output.columns:
                raise ValueError(f"cannot resolve column {column.sql(dialect=_DIALECT)}")
            return use.through(output.columns[column.name])
        source = _source(scope, column.table)
        if source is None:
            raise ValueError(f"cannot resolve column {column.sql(dialect=_DIALECT)}")
        if isinstance(source, Scope):
            return use.through(self.lineage(source).columns.get(column.name, set()))
        if not isinstance(source.this, exp.Identifier):
            return set()  # a table function's columns come from no input table
        return {
            use.apply(InputField(_table_name(source), column.name, DIRECT, IDENTITY, column.name))
        }

    def _subquery(
        self, scope: Scope, query: exp.Select | exp.SetOperation, use: _Use
    ) -> set[InputField]:
        inner = next((s for s in scope.subquery_scopes if s.expression is query), None)
        if inner is None:
            raise ValueError(f"cannot place subquery {_describe(query)}")
        return use.through(_all_fields(self.lineage(inner)))


def _source(scope: Scope, name: str) -> exp.Table | Scope | None:
    """The FROM entry ``name`` of ``scope`` or, for a correlated subquery, of an outer scope."""
    level: Scope | None = scope
    while level is not None:
        # Only this level's own FROM/JOIN entries count: the CTE names every scope inherits
        # must not shadow an outer query's alias of the same name.
        if any(reference == name for reference, _ in level.references):
            return level.sources.get(name)
        level = level.parent
    return None


def _unique(name: str, taken: Mapping[str, object]) -> str:
    # DuckDB's naming of repeated output columns: a, a_1, a_2...
    candidate, number = name, 0
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    return candidate


def _all_fields(lineage: _Lineage) -> set[InputField]:
    return set().union(lineage.dataset, *lineage.columns.values())


def _output_fields(lineage: _Lineage) -> set[InputField]:
    return set().union(*lineage.columns.values())


def _distinct(output: _Lineage, description: str) -> set[InputField]:
    # DISTINCT groups by every output column, so what feeds them decides which rows remain.
    return _Use(INDIRECT, GROUP_BY, description).through(_output_fields(output))
