"""Logging: levels by setting, plain or JSON lines, to stderr or a file rotated by size, and the
ids of the run at hand on every line.

`bound` puts fields (``run_id``, ``model``, ``schedule``...) on every record logged inside it,
in that thread: a model's log lines say which run they belong to, so ``jq 'select(.run_id ==
"...")'`` gives one run's story. JSON lines carry ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message``, the bound fields, and ``exception`` when there is one.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from headwater.config import Settings

_FIELDS: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("headwater_log_fields")
_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_HANDLER_NAME = "headwater"


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every record logged in this block (and blocks it calls)."""
    token = _FIELDS.set({**_FIELDS.get({}), **fields})
    try:
        yield
    finally:
        _FIELDS.reset(token)


class _BoundFields(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.bound = _FIELDS.get({})
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "bound", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "bound", {})
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def configure(settings: Settings) -> None:
    """Send every logger's records through one handler on the root logger (uvicorn's too),
    as ``log_level``, ``log_format`` and ``log_file`` say; calling it again replaces it."""
    level, fmt, file = settings.log_level, settings.log_format, settings.log_file
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(previous)
        previous.close()
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            file,
            maxBytes=settings.log_max_bytes,
            backupCount=settings.log_backups,
            encoding="utf-8",
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_BoundFields())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    # uvicorn's loggers keep no handlers of their own: their records reach this one.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
