"""Every pulled source of a project at once: folders, database tables, REST APIs.

What ``headwater ingest pull`` and the shop demo run: each source checked before anything is
pulled, then each pulled in turn, every landing reported to lineage as a run of job
``ingest.files.<table>``, ``ingest.db.<table>`` or ``ingest.api.<table>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from openlineage.client import OpenLineageClient

from headwater.db import Database
from headwater.ingest.api import api_sources, pull_api
from headwater.ingest.files import file_sources, land_files
from headwater.ingest.lineage import Landing, emit_landing
from headwater.ingest.raw import ProjectLike
from headwater.ingest.tables import pull_table, table_sources
from headwater.lake import Lake


def pull_sources(
    project: ProjectLike,
    database: Database,
    lake: Lake,
    *,
    actor: str,
    client: OpenLineageClient,
    environ: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Land what is new in every pulled source of ``project``; one result per landed file or
    batch, as it lands (``kind``: file, database or api, then the landing's fields). A bad
    declaration raises `ConfigError` before anything is pulled; a source that cannot be read
    raises `PullError` after what was landed before it."""
    folders = file_sources(project)
    databases = table_sources(project, environ)
    apis = api_sources(project, environ)

    def report(kind: str, landed: Any, inputs: tuple[tuple[str, str], ...]) -> None:
        table = lake.load(landed.table)
        if table is not None and landed.snapshot_id is not None:  # a refused file has none
            landing = Landing(
                f"ingest.{kind}.{landed.table.removeprefix('raw.')}",
                landed.batch_id,
                "BATCH",
                inputs,
                landed.snapshot_id,
                landed.rows,
            )
            emit_landing(client, landing, table, project.namespace)

    for folder in folders:
        for file in land_files(database, lake, folder, actor=actor) or ():
            report("files", file, (("file", file.path),))
            yield {"kind": "file", **dataclasses.asdict(file)}
    for source in databases:
        for batch in pull_table(database, lake, source, actor=actor) or ():
            report("db", batch, (source.dataset(),))
            yield {"kind": "database", **dataclasses.asdict(batch)}
    for api in apis:
        for batch in pull_api(database, lake, api, actor=actor) or ():
            report("api", batch, (api.dataset(),))
            yield {"kind": "api", **dataclasses.asdict(batch)}
