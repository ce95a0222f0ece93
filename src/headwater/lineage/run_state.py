"""A run's state from its events, tolerant of the order real producers send them in."""

from __future__ import annotations

from datetime import datetime

RUN_STATES = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "ABORTED",
}
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "ABORTED"})


def next_state(
    current: str, transitioned_at: datetime | None, incoming: str | None, at: datetime
) -> str:
    """Run state machine tolerant of real-world order.

    A terminal state is never undone by a late START/RUNNING; between two terminal events the
    later eventTime wins; OTHER (or no eventType) never changes the state.
    """
    if incoming is None:
        return current
    if current in TERMINAL_STATES:
        if incoming in TERMINAL_STATES and (transitioned_at is None or at > transitioned_at):
            return incoming
        return current
    return incoming
