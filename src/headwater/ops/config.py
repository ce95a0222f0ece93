"""The operations sections of ``headwater.yml`` (``alerts:``, ``schedules:``) and the file
they are read from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from headwater.config import DEFAULT_CONFIG_FILE, Settings, config_file
from headwater.errors import ConfigError
from headwater.ops.alert_rules import AlertConfig, parse_alerts
from headwater.ops.schedules import Schedule, parse_schedules


def operations_file(settings: Settings) -> Path | None:
    """``HEADWATER_CONFIG`` when set, else the configured project's ``headwater.yml``, else
    ``./headwater.yml``; None when there is none."""
    if "HEADWATER_CONFIG" not in os.environ and settings.project is not None:
        path = settings.project / DEFAULT_CONFIG_FILE
        return path if path.is_file() else None
    return config_file()


def operations_document(settings: Settings) -> dict[str, Any]:
    path = operations_file(settings)
    if path is None:
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), f"cannot be read: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(str(path), "must be a mapping")
    return document


def load_alerts(settings: Settings) -> AlertConfig:
    """The alert rules and notifiers: the default rules when the file declares none."""
    return parse_alerts(operations_document(settings).get("alerts") or {})


def load_schedules(settings: Settings) -> tuple[Schedule, ...]:
    """The schedules: `DEFAULT_SCHEDULES` (alert evaluation) when the file declares none."""
    return parse_schedules(operations_document(settings).get("schedules"))


def schedules_declared(settings: Settings) -> bool:
    """Whether headwater.yml declares schedules: then a scheduler is expected to run."""
    return bool(operations_document(settings).get("schedules"))
