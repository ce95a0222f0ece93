"""Operations: health, heartbeats of long-running components, metrics, alerts, maintenance."""

from headwater.ops.api import router as router
from headwater.ops.health import CONSUMER as CONSUMER
from headwater.ops.health import SCHEDULER as SCHEDULER
from headwater.ops.health import Check as Check
from headwater.ops.health import HealthReport as HealthReport
from headwater.ops.health import HealthTargets as HealthTargets
from headwater.ops.health import check_health as check_health
from headwater.ops.heartbeat import Heartbeat as Heartbeat
from headwater.ops.metrics import StoreMetrics as StoreMetrics
from headwater.ops.metrics import lineage_coverage as lineage_coverage
from headwater.ops.request_metrics import RequestMetrics as RequestMetrics

__all__ = [
    "CONSUMER",
    "SCHEDULER",
    "Check",
    "HealthReport",
    "HealthTargets",
    "Heartbeat",
    "RequestMetrics",
    "StoreMetrics",
    "check_health",
    "lineage_coverage",
    "router",
]
