"""Operations: health, heartbeats of long-running components, metrics, alerts, maintenance."""

from headwater.ops.alert_rules import AlertConfig as AlertConfig
from headwater.ops.alert_rules import parse_alerts as parse_alerts
from headwater.ops.alerts import AlertState as AlertState
from headwater.ops.alerts import Measurement as Measurement
from headwater.ops.alerts import current_alerts as current_alerts
from headwater.ops.alerts import evaluate as evaluate_rules
from headwater.ops.alerts import last_evaluated as last_evaluated
from headwater.ops.api import router as router
from headwater.ops.backup import create_backup as create_backup
from headwater.ops.backup import restore_backup as restore_backup
from headwater.ops.backup import verify_backup as verify_backup
from headwater.ops.config import load_alerts as load_alerts
from headwater.ops.config import load_schedules as load_schedules
from headwater.ops.config import operations_document as operations_document
from headwater.ops.config import schedules_declared as schedules_declared
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
from headwater.ops.schedule_runners import RUNNERS as RUNNERS
from headwater.ops.scheduler import Context as SchedulerContext
from headwater.ops.scheduler import Scheduler as Scheduler
from headwater.ops.scheduler import ScheduleRun as ScheduleRun
from headwater.ops.scheduler import run_schedule as run_schedule
from headwater.ops.schedules import Schedule as Schedule
from headwater.ops.signals import ErrorRate as ErrorRate
from headwater.ops.signals import evaluate_alerts as evaluate_alerts
from headwater.ops.signals import measure as measure

__all__ = [
    "CONSUMER",
    "RUNNERS",
    "SCHEDULER",
    "AlertConfig",
    "AlertState",
    "Check",
    "ErrorRate",
    "HealthReport",
    "HealthTargets",
    "Heartbeat",
    "HistoryEntry",
    "MaintenanceReport",
    "Measurement",
    "RequestMetrics",
    "Schedule",
    "ScheduleRun",
    "Scheduler",
    "SchedulerContext",
    "StoreMetrics",
    "TableChangedError",
    "check_health",
    "compact_table",
    "create_backup",
    "current_alerts",
    "evaluate_alerts",
    "evaluate_rules",
    "expire_table",
    "last_evaluated",
    "lineage_coverage",
    "load_alerts",
    "load_schedules",
    "load_table",
    "measure",
    "operations_document",
    "orphan_files",
    "parse_alerts",
    "parse_point_in_time",
    "restore_backup",
    "rollback_table",
    "router",
    "run_schedule",
    "schedules_declared",
    "table_history",
    "verify_backup",
]
