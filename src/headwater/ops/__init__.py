"""Operations: health, heartbeats of long-running components, metrics, alerts, maintenance."""

from headwater.ops.api import router as router
from headwater.ops.health import CONSUMER as CONSUMER
from headwater.ops.health import SCHEDULER as SCHEDULER
from headwater.ops.health import Check as Check
from headwater.ops.health import HealthReport as HealthReport
from headwater.ops.health import HealthTargets as HealthTargets
from headwater.ops.health import check_health as check_health
from headwater.ops.heartbeat import Heartbeat as Heartbeat
from headwater.ops.maintenance import HistoryEntry as HistoryEntry
from headwater.ops.maintenance import MaintenanceReport as MaintenanceReport
from headwater.ops.maintenance import TableChangedError as TableChangedError
from headwater.ops.maintenance import compact_table as compact_table
from headwater.ops.maintenance import expire_table as expire_table
from headwater.ops.maintenance import load_table as load_table
from headwater.ops.maintenance import orphan_files as orphan_files
from headwater.ops.maintenance import parse_point_in_time as parse_point_in_time
from headwater.ops.maintenance import rollback_table as rollback_table
from headwater.ops.maintenance import table_history as table_history
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
    "HistoryEntry",
    "MaintenanceReport",
    "RequestMetrics",
    "StoreMetrics",
    "TableChangedError",
    "check_health",
    "compact_table",
    "expire_table",
    "lineage_coverage",
    "load_table",
    "orphan_files",
    "parse_point_in_time",
    "rollback_table",
    "router",
    "table_history",
]
