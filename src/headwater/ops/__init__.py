"""Operations: health, heartbeats of long-running components, metrics, alerts, maintenance."""

from headwater.ops.api import router as router
from headwater.ops.health import CONSUMER as CONSUMER
from headwater.ops.health import SCHEDULER as SCHEDULER
from headwater.ops.health import Check as Check
from headwater.ops.health import HealthReport as HealthReport
from headwater.ops.health import HealthTargets as HealthTargets
from headwater.ops.health import check_health as check_health
from headwater.ops.heartbeat import Heartbeat as Heartbeat

__all__ = [
    "CONSUMER",
    "SCHEDULER",
    "Check",
    "HealthReport",
    "HealthTargets",
    "Heartbeat",
    "check_health",
    "router",
]
