"""Fixtures for pipeline tests: a lake on each backend, with the metadata DB beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.db import Database
from headwater.lake import Lake


@pytest.fixture
def lake(database: Database, tmp_path: Path) -> Iterator[Lake]:
    """An Iceberg warehouse under ``tmp_path`` whose catalog is in ``database``."""
    lake = Lake(database.url, tmp_path / "warehouse")
    yield lake
    lake.close()
