"""The dependency graph of a project, read from the models' SQL, and dbt-style selection.

A SQL model's inputs are the tables its query reads (found with sqlglot; CTE names excluded);
a Python model's are its ``INPUTS``. References are layer-qualified (``staging.stg_orders``).
On an incremental run an input of ``incremental_on`` holds only its new rows; the same table
prefixed with the catalog ``whole`` (``whole.staging.stg_orders``) is always all of it, so a
model can find what the new rows touch and recompute just that from the whole table.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from headwater.pipeline.declarations import ProjectError, TestSpec
from headwater.pipeline.project import LAYERS, Model, Project
from headwater.pipeline.scan import WHOLE


@dataclass(frozen=True, slots=True)
class Reference:
    table: str
    line: int  # in the model's file
    whole: bool = False  # read as ``whole.<layer>.<table>``


def _python_reference(name: str) -> Reference:
    catalog, _, rest = name.lower().partition(".")
    if catalog == WHOLE and rest.count(".") == 1:
        return Reference(rest, 1, whole=True)
    return Reference(name.lower(), 1)


def parse_sql(model: Model) -> exp.Query:
    """The model's query as a sqlglot tree; a `ProjectError` at the failing line otherwise."""
    where = model.path.name
    try:
        statements = sqlglot.parse(model.sql or "", dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        line = model.sql_line + int(error.get("line") or 1) - 1
        raise ProjectError(
            f"{where}:{line}: SQL does not parse: {error.get('description') or exc}"
        ) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ProjectError(f"{where}:{model.sql_line}: a model is exactly one SELECT query")
    return statements[0]


def references(model: Model) -> list[Reference]:
    """The tables ``model`` reads, in order of first appearance."""
    if model.sql is None:
        return [_python_reference(name) for name in model.python_inputs]
    tree = parse_sql(model)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found: dict[tuple[str, bool], Reference] = {}
    for table in tree.find_all(exp.Table):
        if not table.name or isinstance(table.this, exp.Func):  # table functions
            continue
        line = model.sql_line + int(table.this.meta.get("line", 1)) - 1
        if not table.db:
            if table.name.lower() in ctes:
                continue
            raise ProjectError(
                f"{model.path.name}:{line}: table {table.name!r} has no layer; write it "
                "layer-qualified, like staging.stg_orders"
            )
        whole = table.catalog.lower() == WHOLE
        if table.catalog and not whole:
            raise ProjectError(
                f"{model.path.name}:{line}: {table.catalog}.{table.db}.{table.name}: the only "
                f"catalog is {WHOLE} (an input whole, even on an incremental run)"
            )
        name = f"{table.db}.{table.name}".lower()
        found.setdefault((name, whole), Reference(name, line, whole))
    return list(found.values())


def test_references(test: TestSpec) -> list[str]:
    """The tables a test reads besides its own: a relationship's parent, a custom query's."""
    if test.kind == "relationships":
        parent = str(test.params["to"]).lower()
        return [] if parent == test.table else [parent]
    if test.kind != "sql":
        return []
    try:
        tree = sqlglot.parse_one(str(test.params["sql"]), dialect="duckdb")
    except sqlglot.errors.ParseError:
        return []  # reported when the test runs, as that test's error
    return sorted(
        {f"{t.db}.{t.name}".lower() for t in tree.find_all(exp.Table) if t.db and t.name}
        - {test.table}
    )


@dataclass(frozen=True, slots=True)
class Graph:
    """Models and sources with their edges; ``order`` is a topological order of the models."""

    project: Project
    inputs: dict[str, tuple[str, ...]]  # model -> the tables it reads
    order: tuple[str, ...]
    # model -> the tables its tests read: they run first, but are not data inputs
    test_inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # model -> the inputs it also reads whole (``whole.<layer>.<table>``)
    whole_inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def parents(self, name: str) -> tuple[str, ...]:
        return self.inputs[name] + self.test_inputs.get(name, ())

    def is_view(self, name: str) -> bool:
        model = self.project.models.get(name)
        return model is not None and model.config.materialized == "view"

    def _behind(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """``names`` with every view replaced by the stored tables it reads, in order."""
        found: dict[str, None] = {}
        for name in names:
            for table in self._behind(self.inputs[name]) if self.is_view(name) else (name,):
                found.setdefault(table, None)
        return tuple(found)

    def stored_inputs(self, name: str) -> tuple[str, ...]:
        """The stored tables ``name`` reads, directly or through views (views are not
        stored: a model reading one reads the view's own inputs)."""
        return self._behind(self.inputs[name])

    def incremental_inputs(self, name: str) -> frozenset[str]:
        """The stored inputs read incrementally when ``name`` runs incrementally: those of
        its ``incremental_on`` (default: all), through views."""
        config = self.project.models[name].config
        return frozenset(self._behind(config.incremental_on or self.inputs[name]))

    def lineage_sources(self, name: str) -> tuple[str, ...] | None:
        """What `inline_views` builds the SQL of ``name`` from: its SQL, and the name and SQL
        of each view it reads, directly or through views; None for a Python model. The same
        sources give the same SQL, so they can key what is derived from it (column lineage)
        without building it, which costs a sqlglot parse and print per model and view."""
        model = self.project.models[name]
        if model.sql is None:
            return None
        sources = [model.sql]
        for view in self.inputs[name]:
            if self.is_view(view):
                sources += [view, *(self.lineage_sources(view) or ())]
        return tuple(sources)

    def inline_views(self, name: str) -> str | None:
        """The model's SQL with each view it reads written in as a subquery, so that column
        lineage goes through views to stored tables; None for a Python model."""
        model = self.project.models[name]
        if model.sql is None:
            return None
        tree = parse_sql(model)
        for table in list(tree.find_all(exp.Table)):
            if table.catalog.lower() == WHOLE:
                # The same dataset as the plain name, for lineage: only how much is read differs.
                table.set("catalog", None)
            reference = f"{table.db}.{table.name}".lower()
            if table.db and self.is_view(reference):
                inner = sqlglot.parse_one(self.inline_views(reference) or "", dialect="duckdb")
                alias = table.alias or table.name
                table.replace(
                    exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias)))
                )
        return tree.sql(dialect="duckdb")

    def chain_lengths(self) -> dict[str, int]:
        """For each model, how many models are on the longest path from it to the end of the
        DAG (itself included): what a scheduler should start first to finish soonest."""
        children: dict[str, list[str]] = {name: [] for name in self.order}
        for name in self.order:
            for parent in self.parents(name):
                children.setdefault(parent, []).append(name)
        lengths: dict[str, int] = {}
        for name in reversed(self.order):
            lengths[name] = 1 + max((lengths.get(c, 1) for c in children[name]), default=0)
        return lengths

    def downstream(self, name: str) -> set[str]:
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for model, inputs in self.inputs.items():
                if current in inputs and model not in found:
                    found.add(model)
                    frontier.append(model)
        return found

    def upstream(self, name: str) -> set[str]:
        found: set[str] = set()
        frontier = [name]
        while frontier:
            for parent in self.inputs.get(frontier.pop(), ()):
                if parent not in found:
                    found.add(parent)
                    frontier.append(parent)
        return found

    def select(self, selectors: list[str]) -> list[str]:
        """The models chosen by dbt-style ``selectors``, in run order (all when empty)."""
        if not selectors:
            return list(self.order)
        chosen: set[str] = set()
        for selector in selectors:
            for token in selector.split():
                chosen |= self._intersection(token)
        return [name for name in self.order if name in chosen]

    def _intersection(self, token: str) -> set[str]:
        parts = [part for part in token.split(",") if part]
        result = self._one(parts[0])
        for part in parts[1:]:
            result &= self._one(part)
        return result

    def _one(self, selector: str) -> set[str]:
        up, down = selector.startswith("+"), selector.endswith("+")
        core = selector.strip("+")
        if core.startswith("layer:"):
            layer = core.removeprefix("layer:")
            if layer not in LAYERS:
                raise ProjectError(
                    f"--select {selector}: unknown layer; layers are {', '.join(LAYERS)}"
                )
            seeds = {name for name in self.order if name.startswith(f"{layer}.")}
        elif core.startswith("tag:"):
            tag = core.removeprefix("tag:")
            seeds = {name for name in self.order if tag in self.project.models[name].config.tags}
        else:
            seeds = {self._resolve(core, selector)}
        result = set(seeds)
        for seed in seeds:
            if up:
                result |= self.upstream(seed)
            if down:
                result |= self.downstream(seed)
        return {name for name in result if name in self.project.models}

    def _resolve(self, name: str, selector: str) -> str:
        name = name.lower()
        known = set(self.project.models) | set(self.project.sources)
        if name in known:
            return name
        matches = [item for item in known if item.split(".", 1)[1] == name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ProjectError(f"--select {selector}: ambiguous; say one of {sorted(matches)}")
        raise ProjectError(f"--select {selector}: no model or source is called {name!r}")


def build_graph(project: Project) -> Graph:
    """Check every reference and the layering, and order the models; errors name file:line."""
    known = set(project.models) | set(project.sources)
    inputs: dict[str, tuple[str, ...]] = {}
    whole_inputs: dict[str, tuple[str, ...]] = {}
    lines: dict[tuple[str, str], int] = {}
    for name, model in project.models.items():
        refs = references(model)
        for ref in refs:
            where = f"{project.relative(model.path)}:{ref.line}"
            if ref.table not in known:
                raise ProjectError(
                    f"{where}: unknown table {ref.table}: it is neither a source "
                    "(sources/*.yml) nor a model (models/<layer>/<name>.sql)"
                )
            referenced = project.models.get(ref.table)
            if ref.whole and referenced is not None and referenced.config.materialized == "view":
                raise ProjectError(
                    f"{where}: {WHOLE}.{ref.table} is a view, which is never stored; read the "
                    f"tables it reads as {WHOLE}.<layer>.<table> instead"
                )
            ref_layer = ref.table.split(".", 1)[0]
            if LAYERS.index(ref_layer) > LAYERS.index(model.layer):
                raise ProjectError(
                    f"{where}: {name} is in layer {model.layer} and cannot read {ref.table} "
                    f"of the later layer {ref_layer}"
                )
            lines[(name, ref.table)] = ref.line
        incremental_on = model.config.incremental_on or ()
        for table in incremental_on:
            if table not in {ref.table for ref in refs}:
                raise ProjectError(
                    f"{project.relative(model.path)}: incremental_on names {table}, "
                    "which the model does not read"
                )
        inputs[name] = tuple(dict.fromkeys(ref.table for ref in refs))
        whole_inputs[name] = tuple(dict.fromkeys(ref.table for ref in refs if ref.whole))
    test_inputs: dict[str, tuple[str, ...]] = {}
    for name, model in project.models.items():
        tested = {table for test in model.tests for table in test_references(test)}
        unknown = sorted(tested - known)
        if unknown:
            test = next(t for t in model.tests if unknown[0] in test_references(t))
            raise ProjectError(f"{test.where}: unknown table {unknown[0]}")
        test_inputs[name] = tuple(sorted(tested - set(inputs[name])))
    sorter = graphlib.TopologicalSorter(
        {
            name: [i for i in deps + test_inputs[name] if i in project.models]
            for name, deps in inputs.items()
        }
    )
    try:
        order = tuple(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]
        # [a, b, ..., a]: each node is read by the next one, so data flows left to right.
        reader, read = cycle[1], cycle[0]
        line = lines.get((reader, read))
        where = project.relative(project.models[reader].path) + (f":{line}" if line else "")
        raise ProjectError(f"{where}: cycle {' -> '.join(cycle)}") from None
    return Graph(project, inputs, order, test_inputs, whole_inputs)
