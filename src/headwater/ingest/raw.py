"""What every way into a raw table shares: the table itself, and what a project offers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from pyiceberg.table import Table

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
