"""The exception tree every headwater package raises from.

    HeadwaterError                 root; ``status`` is the HTTP answer, ``message`` is for people
    ├── ConfigError                a setting is invalid (names the setting)
    ├── DatabaseNotReadyError      the metadata DB is missing migrations (says what to run)
    ├── DatabaseBusyError    503   no write slot in time (SQLite: another writer held it)
    ├── BadRequestError      400   malformed input (names the field)
    │   └── PayloadTooLargeError 413
    ├── UnauthorizedError    401   no token, or one that is invalid, expired or revoked
    ├── ForbiddenError       403   a valid token whose role may not do this
    └── NotFoundError        404   an unknown namespace, dataset, job, run or version

The server maps each one to Marquez's error body ``{"code": N, "message": "..."}`` in one
handler; the CLI prints the message on one line and exits non-zero.
"""

from __future__ import annotations


class HeadwaterError(Exception):
    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(HeadwaterError):
    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"invalid setting {setting}: {reason}")
        self.setting = setting
        self.reason = reason


class DatabaseNotReadyError(HeadwaterError):
    status = 503


class DatabaseBusyError(HeadwaterError):
    status = 503


class BadRequestError(HeadwaterError):
    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class PayloadTooLargeError(BadRequestError):
    status = 413


class UnauthorizedError(HeadwaterError):
    """``reason`` is a short word for metrics and the audit log: missing, invalid, expired..."""

    status = 401

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ForbiddenError(HeadwaterError):
    status = 403

    def __init__(self, message: str, reason: str = "role") -> None:
        super().__init__(message)
        self.reason = reason


class NotFoundError(HeadwaterError):
    status = 404

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} '{name}' not found")
        self.kind = kind
        self.name = name
