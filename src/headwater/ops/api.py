"""The operations endpoints: readiness (``/health/ready``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from headwater.ops.health import OK, HealthTargets, check_health
from headwater.responses import OrjsonResponse

router = APIRouter()


@router.get("/health/ready", tags=["Operations"])
def get_ready(request: Request) -> OrjsonResponse:
    """Readiness: one check per component (metadata database, Iceberg catalog, warehouse
    writable, ingest consumer, scheduler, disk space); 200 when none is down, else 503."""
    targets: HealthTargets = request.app.state.health
    report = check_health(targets)
    return OrjsonResponse(report.as_json(), status_code=200 if report.status == OK else 503)
