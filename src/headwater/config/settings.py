"""Typed settings read from ``HEADWATER_*`` environment variables and ``headwater.yml``.

Precedence, highest first: explicit keyword arguments (tests, CLI flags), ``HEADWATER_*``
environment variables, the YAML file (``HEADWATER_CONFIG`` or ``./headwater.yml``), defaults.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from headwater.errors import ConfigError

DEFAULT_CONFIG_FILE = "headwater.yml"
# Top-level sections of headwater.yml that are not settings: `headwater.ops` reads them.
OPERATIONS_SECTIONS = ("alerts", "schedules")


class Settings(BaseSettings):
    """Every setting headwater reads, with its default and what it is for."""

    model_config = SettingsConfigDict(
        env_prefix="HEADWATER_", extra="forbid", validate_default=True, frozen=True
    )

    home: Path = Field(
        default=Path(".headwater"),
        description="Folder for embedded state (SQLite database, warehouse).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata DB; default sqlite:///<home>/headwater.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API server binds.")
    port: int = Field(default=5000, ge=1, le=65535, description="Port the API server binds.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API server processes. Parsing JSON is CPU-bound: use one per core.",
    )
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body (after gzip decoding), in bytes.",
    )
    lineage_max_nodes: int = Field(
        default=2000,
        gt=0,
        description=(
            "Default and largest node cap of GET /api/v1/lineage; the answer says when the "
            "graph was cut."
        ),
    )
    log_level: str = Field(
        default="info",
        description="Log level of the server, consumer and scheduler: critical, error, warning, "
        "info, debug (or trace).",
    )
    log_format: str = Field(
        default="text",
        description="Log lines as `text` or `json` (one object a line: time, level, logger, "
        "message, the run id and schedule at hand, exception).",
    )
    log_file: Path | None = Field(
        default=None,
        description="Write logs to this file, rotated by size, instead of standard error.",
    )
    log_max_bytes: int = Field(
        default=10 * 2**20, gt=0, description="Size at which the log file is rotated, in bytes."
    )
    log_backups: int = Field(
        default=5, ge=0, description="Rotated log files kept (log.1 ... log.N)."
    )
    auth_enabled: bool = Field(
        default=False,
        description="Require an API token (Authorization: Bearer) on every non-public route. "
        "Without it the server binds only a loopback address (unless serve --insecure).",
    )
    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="Base64 Ed25519 private key that signs audit checkpoints "
        "(`headwater audit keygen`); default: a key generated in <home>/audit-signing.key.",
    )
    warehouse: str | None = Field(
        default=None,
        description="Iceberg warehouse location (a folder or an s3:// URI); default: the "
        "project's `warehouse`, else <home>/warehouse.",
    )
    project: Path | None = Field(
        default=None,
        description="Pipeline project folder whose sources/*.yml `webhook:` blocks the server "
        "receives at POST /ingest/<source>/<topic>; default: the current folder when its "
        "headwater.yml is a project's (has a `name`).",
    )
    ingest_max_backlog: int = Field(
        default=100_000,
        gt=0,
        description="Deliveries waiting to be landed above which webhooks are answered 503 "
        "with Retry-After, so the inbox cannot grow without bound.",
    )
    ingest_retry_after_s: int = Field(
        default=5, gt=0, le=3600, description="Retry-After of a 503 under backpressure."
    )
    min_free_disk_mb: int = Field(
        default=512,
        ge=0,
        description="Free space below which readiness reports the disk of the home folder or "
        "a local warehouse as down, in MiB.",
    )
    retention_days: int = Field(
        default=90,
        ge=1,
        description="`headwater retention` (and its schedule) purges lineage events, runs, "
        "versions and landed deliveries older than this many days. The audit log is kept.",
    )
    retention_grace_days: int = Field(
        default=7,
        ge=0,
        description="Datasets and jobs are purged only this many days after being soft-deleted.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (CORS), e.g. "
        '["https://lineage.example.com"]; default none.',
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        levels = {"critical", "error", "warning", "info", "debug", "trace"}
        if value.lower() not in levels:
            raise ValueError(f"must be one of {', '.join(sorted(levels))}")
        return value.lower()

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value.lower() not in ("text", "json"):
            raise ValueError("must be text or json")
        return value.lower()

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin like https://host[:port]")
        if "*" in value:
            raise ValueError("'*' is refused: list the origins that may call the API")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'headwater.db'}"

    def resolved_warehouse(self, project_warehouse: str | None = None) -> str:
        """The warehouse: this setting, else the project's, else ``<home>/warehouse``."""
        return self.warehouse or project_warehouse or str(self.home / "warehouse")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = Path(os.environ.get("HEADWATER_CONFIG", DEFAULT_CONFIG_FILE))
        return (
            init_settings,
            env_settings,
            _SettingsFile(settings_cls, yaml_file=path if path.is_file() else None),
        )


class _SettingsFile(YamlConfigSettingsSource):
    """``headwater.yml``: all settings, or, in a pipeline project's file (one whose top level
    has a ``name``), only the mapping under ``settings:``."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        document = super()._read_file(file_path)
        if isinstance(document, dict) and "name" in document:
            section = document.get("settings") or {}
            if not isinstance(section, dict):
                raise ConfigError("settings", f"in {file_path} must be a mapping")
            return section
        if isinstance(document, dict):
            return {k: v for k, v in document.items() if k not in OPERATIONS_SECTIONS}
        return document


def config_file() -> Path | None:
    """The settings file in use: ``HEADWATER_CONFIG``, else ``./headwater.yml`` if present."""
    path = Path(os.environ.get("HEADWATER_CONFIG", DEFAULT_CONFIG_FILE))
    return path if path.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning any problem into a `ConfigError` naming the setting."""
    config_path = os.environ.get("HEADWATER_CONFIG")
    if config_path and not Path(config_path).is_file():
        raise ConfigError("HEADWATER_CONFIG", f"file {config_path} does not exist")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(name, first["msg"]) from exc
    except SettingsError as exc:
        # A list setting in the environment must be JSON; pydantic-settings says only which field.
        found = re.search(r'field "([a-z_]+)"', str(exc))
        name = f"HEADWATER_{found.group(1).upper()}" if found else "environment"
        raise ConfigError(
            name, 'must be a JSON list, e.g. ["https://lineage.example.com"]'
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(config_path or DEFAULT_CONFIG_FILE, f"not valid YAML: {exc}") from exc
