"""Webhook sources: a project's ``webhook:`` blocks, checked, with their secrets and topics.

A source file ``sources/<source>.yml`` with a ``webhook:`` block receives deliveries at
``POST /ingest/<source>/<topic>``; every table of the file is a topic, named by its table name
less the ``<source>_`` prefix, and lands in ``raw.<source>_<topic>``::

    # sources/web.yml
    webhook:
      scheme: shopify               # shopify | stripe | standard
      secret_env: WEB_WEBHOOK_SECRET  # or a list: [NEW_SECRET, OLD_SECRET] while rotating
      tolerance_s: 300              # stripe and standard: largest clock difference accepted
      max_body_bytes: 1048576       # larger deliveries get 413
    tables:
      web_orders: ...               # POST /ingest/web/orders

Secrets are read from the environment when the sources are loaded, so a missing one stops the
server from starting instead of failing every delivery.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from headwater.errors import ConfigError
from headwater.ingest.raw import Declaration, DeclaredTable, ProjectLike
from headwater.ingest.signatures import DEFAULT_TOLERANCE_S, SCHEMES, Scheme

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_KEYS = {"scheme", "secret_env", "tolerance_s", "max_body_bytes"}


@dataclass(frozen=True, slots=True)
class Topic:
    source: str
    name: str
    table: str  # raw.<source>_<topic>
    schema: pa.Schema  # the declared columns, each taken from the payload's key of that name


@dataclass(frozen=True, slots=True)
class WebhookSource:
    name: str
    namespace: str  # the project's OpenLineage namespace: where the ingest jobs are
    scheme: Scheme
    secrets: tuple[str, ...]
    tolerance_s: int
    max_body_bytes: int
    topics: Mapping[str, Topic]


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(where, f"must be a positive whole number, got {value!r}")
    return value


def _secrets(value: Any, where: str, environ: Mapping[str, str] | None) -> tuple[str, ...]:
    """The secrets the variables named hold (``environ`` None: only check the names)."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(where, "must name an environment variable, or a list of them")
    if environ is None:
        return ()
    secrets = []
    for name in names:
        secret = environ.get(name, "")
        if not secret:
            raise ConfigError(where, f"environment variable {name} is not set (the secret)")
        secrets.append(secret)
    return tuple(secrets)


def webhook_source(
    declaration: Declaration,
    tables: Mapping[str, DeclaredTable],
    namespace: str,
    where: str,
    environ: Mapping[str, str] | None,
) -> WebhookSource:
    """Check one ``webhook:`` block; `ConfigError` names the file and key."""
    block = declaration.settings
    unknown = set(block) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: webhook.{sorted(unknown)[0]}", f"unknown key; known: {sorted(_KEYS)}"
        )
    scheme = block.get("scheme")
    if scheme not in SCHEMES:
        raise ConfigError(f"{where}: webhook.scheme", f"must be one of {', '.join(SCHEMES)}")
    if "secret_env" not in block:
        raise ConfigError(f"{where}: webhook.secret_env", "is required")
    secrets = _secrets(block["secret_env"], f"{where}: webhook.secret_env", environ)
    tolerance = _positive(
        block.get("tolerance_s", DEFAULT_TOLERANCE_S), f"{where}: webhook.tolerance_s"
    )
    limit = _positive(
        block.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES), f"{where}: webhook.max_body_bytes"
    )
    prefix = f"raw.{declaration.source}_"
    topics: dict[str, Topic] = {}
    for table in declaration.tables:
        if not table.startswith(prefix):
            raise ConfigError(
                f"{where}: tables.{table.removeprefix('raw.')}",
                f"a webhook source's tables are named {declaration.source}_<topic>",
            )
        name = table.removeprefix(prefix)
        topics[name] = Topic(declaration.source, name, table, tables[table].schema)
    if not topics:
        raise ConfigError(f"{where}: tables", "a webhook source needs at least one table (topic)")
    return WebhookSource(
        name=declaration.source,
        namespace=namespace,
        scheme=cast(Scheme, scheme),
        secrets=secrets,
        tolerance_s=tolerance,
        max_body_bytes=limit,
        topics=topics,
    )


def webhook_sources(
    project: ProjectLike, environ: Mapping[str, str] | None = None, *, secrets: bool = True
) -> dict[str, WebhookSource]:
    """Every webhook source of a loaded pipeline project, by name. With ``secrets=False`` the
    secrets are not read (the sources have none): what landing and reporting need, which
    never verify or sign, so a consumer can run without the webhook secrets."""
    environ = (os.environ if environ is None else environ) if secrets else None
    sources = {}
    for name, declaration in project.webhooks.items():
        where = str(Path(declaration.path).relative_to(project.root))
        sources[name] = webhook_source(
            declaration, project.sources, project.namespace, where, environ
        )
    return sources
