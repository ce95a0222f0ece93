"""Iceberg tables through PyIceberg: the catalog, schema evolution, snapshots, file reads."""

from headwater.lake.browse import SnapshotInfo as SnapshotInfo
from headwater.lake.browse import TableBrowser as TableBrowser
from headwater.lake.changes import MAINTENANCE_PROPERTY as MAINTENANCE_PROPERTY
from headwater.lake.changes import OPERATION_PROPERTY as OPERATION_PROPERTY
from headwater.lake.changes import RUN_PROPERTY as RUN_PROPERTY
from headwater.lake.changes import Changes as Changes
from headwater.lake.changes import changes_since as changes_since
from headwater.lake.deletes import add_delete_files as add_delete_files
from headwater.lake.deletes import write_position_deletes as write_position_deletes
from headwater.lake.lake import ROW_GROUP_ROWS as ROW_GROUP_ROWS
from headwater.lake.lake import Lake as Lake
from headwater.lake.lake import SchemaConflictError as SchemaConflictError
from headwater.lake.lake import TableFiles as TableFiles
from headwater.lake.lake import dataset_id as dataset_id
from headwater.lake.lake import iceberg_compatible as iceberg_compatible
from headwater.lake.lake import local_path as local_path
from headwater.lake.lake import position_deletes as position_deletes
from headwater.lake.lake import summary_rows as summary_rows
from headwater.lake.lake import warehouse_uri as warehouse_uri
from headwater.lake.maintenance import TARGET_FILE_BYTES as TARGET_FILE_BYTES
from headwater.lake.maintenance import CompactionPlan as CompactionPlan
from headwater.lake.maintenance import ExpiryPlan as ExpiryPlan
from headwater.lake.maintenance import Orphan as Orphan
from headwater.lake.maintenance import compact as compact
from headwater.lake.maintenance import delete_orphans as delete_orphans
from headwater.lake.maintenance import expire as expire
from headwater.lake.maintenance import find_orphans as find_orphans
from headwater.lake.maintenance import plan_compaction as plan_compaction
from headwater.lake.maintenance import plan_expiry as plan_expiry
from headwater.lake.sorting import declare_sort_order as declare_sort_order
from headwater.lake.sorting import sorted_rows as sorted_rows
from headwater.lake.transaction import transaction as transaction
from headwater.lake.types import TYPE_NAMES as TYPE_NAMES
from headwater.lake.types import arrow_type as arrow_type

__all__ = [
    "MAINTENANCE_PROPERTY",
    "OPERATION_PROPERTY",
    "ROW_GROUP_ROWS",
    "RUN_PROPERTY",
    "TARGET_FILE_BYTES",
    "TYPE_NAMES",
    "Changes",
    "CompactionPlan",
    "ExpiryPlan",
    "Lake",
    "Orphan",
    "SchemaConflictError",
    "SnapshotInfo",
    "TableBrowser",
    "TableFiles",
    "add_delete_files",
    "arrow_type",
    "changes_since",
    "compact",
    "dataset_id",
    "declare_sort_order",
    "delete_orphans",
    "expire",
    "find_orphans",
    "iceberg_compatible",
    "local_path",
    "plan_compaction",
    "plan_expiry",
    "position_deletes",
    "sorted_rows",
    "summary_rows",
    "transaction",
    "warehouse_uri",
    "write_position_deletes",
]
