"""The metadata database: engines, table definitions and migrations."""

from headwater.db import schema as schema
from headwater.db.engine import Database as Database
from headwater.db.migrate import current_revision as current_revision
from headwater.db.migrate import ensure_migrated as ensure_migrated
from headwater.db.migrate import head_revision as head_revision
from headwater.db.migrate import upgrade as upgrade
from headwater.db.named_lock import named_lock as named_lock
from headwater.db.pairs import only_pairs as only_pairs
from headwater.db.pairs import pair_in as pair_in
from headwater.db.roles import app_role_statements as app_role_statements
from headwater.db.types import aggregate_time as aggregate_time
from headwater.db.upsert import insert_for as insert_for
from headwater.db.upsert import insert_ignore as insert_ignore

__all__ = [
    "Database",
    "aggregate_time",
    "app_role_statements",
    "current_revision",
    "ensure_migrated",
    "insert_for",
    "insert_ignore",
    "named_lock",
    "only_pairs",
    "pair_in",
    "schema",
    "upgrade",
]
