"""The last known facets of dataset and job rows, so that unchanged facets cost no read.

Each dataset and job row carries a random ``facets_rev`` token renewed on every change of its
facets; an entry is trusted only while the row's token matches, so a change made by another
process (or a rolled-back batch) is never missed.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Any


class FacetCache:
    """The last known facets of dataset and job rows, keyed by (table, id), bounded LRU."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int], tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = Lock()

    def get(self, table: str, row_id: int, rev: str | None) -> dict[str, Any] | None:
        if rev is None:
            return {}  # a row whose facets were never set
        with self._lock:
            item = self._items.get((table, row_id))
            if item is None or item[0] != rev:
                return None
            self._items.move_to_end((table, row_id))
            return item[1]

    def put(self, table: str, row_id: int, rev: str, facets: dict[str, Any]) -> None:
        with self._lock:
            self._items[(table, row_id)] = (rev, facets)
            self._items.move_to_end((table, row_id))
            while len(self._items) > self._size:
                self._items.popitem(last=False)
