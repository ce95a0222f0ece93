"""The ``headwater`` command line: composition only.

Exit codes: 0 success, 1 a headwater error (the message says what to do), 2 bad usage, an
invalid setting or bad input (the message names the field, file or line), 3 `audit verify`
found the log tampered with.
"""

from __future__ import annotations

import sys

from headwater.cli import alerts as alerts
from headwater.cli import audit as audit
from headwater.cli import backup as backup
from headwater.cli import core as core
from headwater.cli import ingest as ingest
from headwater.cli import maintenance as maintenance
from headwater.cli import ops as ops
from headwater.cli import pipeline as pipeline
from headwater.cli import schedules as schedules
from headwater.cli import tokens as tokens
from headwater.cli import up as up
from headwater.cli.common import app, err_console
from headwater.errors import HeadwaterError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except HeadwaterError as exc:  # anything a command did not translate itself
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(1)
