"""Crash-test hooks: with ``HEADWATER_FAULT_INJECT=<point>@<subject>`` in its environment, a
process kills itself (SIGKILL, no clean-up) on reaching that point, so tests can prove that
what claims durability survives a crash there."""

from __future__ import annotations

import os
import signal

FAULT_VARIABLE = "HEADWATER_FAULT_INJECT"


def fault_point(point: str, subject: str) -> None:
    if os.environ.get(FAULT_VARIABLE) == f"{point}@{subject}":
        os.kill(os.getpid(), signal.SIGKILL)
