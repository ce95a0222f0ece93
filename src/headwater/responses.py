"""JSON responses shared by every package's routes, and the one error body shape."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """JSON via orjson: fast, and passes stored raw JSON through as ``orjson.Fragment``."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_body(status: int, message: str, headers: dict[str, str] | None = None) -> OrjsonResponse:
    """Marquez's error shape: ``{"code": N, "message": "..."}``."""
    return OrjsonResponse({"code": status, "message": message}, status_code=status, headers=headers)
