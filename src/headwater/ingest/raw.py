"""What every way into a raw table shares: the table itself, and what a project offers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from pyiceberg.table import Table

from headwater.errors import ConfigError
from headwater.lake import Lake, dataset_id


class DeclaredTable(Protocol):
    """A raw table of a pipeline project (``headwater.pipeline.project.SourceTable``)."""

    @property
    def schema(self) -> pa.Schema: ...
    @property
    def path(self) -> Path: ...
    @property
    def files(self) -> Mapping[str, Any] | None: ...
    @property
    def database(self) -> Mapping[str, Any] | None: ...
    @property
    def api(self) -> Mapping[str, Any] | None: ...


class Declaration(Protocol):
    """A source file's ``webhook:`` block (``headwater.pipeline.project.WebhookDeclaration``)."""

    @property
    def source(self) -> str: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...
    @property
    def path(self) -> Path: ...
    @property
    def tables(self) -> tuple[str, ...]: ...


class ProjectLike(Protocol):
    """What ingest reads of a loaded pipeline project (``headwater.pipeline.Project``)."""

    @property
    def name(self) -> str: ...
    @property
    def root(self) -> Path: ...
    @property
    def namespace(self) -> str: ...
    @property
    def sources(self) -> Mapping[str, DeclaredTable]: ...
    @property
    def webhooks(self) -> Mapping[str, Declaration]: ...


def where(project: ProjectLike, name: str, table: DeclaredTable, key: str) -> str:
    """How a problem names the key of a raw table's declaration: file, then key path."""
    return f"{Path(table.path).relative_to(project.root)}: tables.{name.removeprefix('raw.')}.{key}"


def pull_blocks(
    project: ProjectLike, kind: str, known: set[str]
) -> Iterator[tuple[str, DeclaredTable, Mapping[str, Any], str]]:
    """(raw table name, its declaration, its ``kind`` block, the block's key for messages) of
    each raw table with a ``kind:`` block (files, database, api), refusing unknown keys."""
    for name, table in project.sources.items():
        block = getattr(table, kind)
        if block is None:
            continue
        key = where(project, name, table, kind)
        refuse_unknown(block, known, key)
        yield name, table, block, key


def refuse_unknown(block: Mapping[str, Any], known: set[str], key: str) -> None:
    """`ConfigError` naming the first key of ``block`` (at ``key``) that is not ``known``."""
    unknown = set(block) - known
    if unknown:
        raise ConfigError(
            f"{key}.{sorted(unknown)[0]}", f"unknown key; known: {', '.join(sorted(known))}"
        )


def whole_number(
    block: Mapping[str, Any], name: str, key: str, low: int, high: int, default: int
) -> int:
    """``block[name]`` (``default`` when absent), a whole number from ``low`` to ``high``."""
    value = block.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key}.{name}", f"must be a whole number from {low} to {high}")
    return value


def declared_column(table: DeclaredTable, column: str, key: str) -> None:
    """`ConfigError` at ``key`` unless ``column`` is one of the table's declared columns."""
    if column not in table.schema.names:
        raise ConfigError(key, f"{column!r} is not one of the declared columns")


def raw_table(lake: Lake, name: str, schema: pa.Schema) -> Table:
    """The raw table ``name`` with at least ``schema``'s columns: created if missing, given the
    missing ones if the pipeline created it from its declaration alone."""
    lake.ensure_namespace("raw")
    table = lake.load(name)
    if table is None:
        return lake.create(name, schema)
    if lake.evolve(table, schema):
        reloaded = lake.load(name)
        assert reloaded is not None
        return reloaded
    return table


def audit_node(table: Table) -> str:
    """The audit target of a raw table, named as the lineage API names its dataset."""
    namespace, name = dataset_id(table.location())
    return f"dataset:{namespace}:{name}"
