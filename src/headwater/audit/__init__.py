"""The tamper-evident audit trail: a hash-chained, append-only log with signed checkpoints.

Every package records a state change with `append` on the connection of the transaction that
makes the change, so the entry commits with it::

    from headwater import audit

    audit.append(connection, audit.AuditRecord("dataset.delete", "dataset:shop:orders", actor))
"""

from headwater.audit.api import AuditService as AuditService
from headwater.audit.api import router as router
from headwater.audit.checkpoints import Checkpoint as Checkpoint
from headwater.audit.checkpoints import checkpoint_now as checkpoint_now
from headwater.audit.entries import AuditEntry as AuditEntry
from headwater.audit.entries import AuditRecord as AuditRecord
from headwater.audit.export import read_auditor_copy as read_auditor_copy
from headwater.audit.export import write_export as write_export
from headwater.audit.history import target_history as target_history
from headwater.audit.log import actions_in_family as actions_in_family
from headwater.audit.log import append as append
from headwater.audit.log import list_entries as list_entries
from headwater.audit.log import log_size as log_size
from headwater.audit.signing import SigningKey as SigningKey
from headwater.audit.signing import generate_seed as generate_seed
from headwater.audit.signing import load_signing_key as load_signing_key
from headwater.audit.signing import parse_seed as parse_seed
from headwater.audit.verify import AuditorCopy as AuditorCopy
from headwater.audit.verify import Tamper as Tamper
from headwater.audit.verify import VerifyReport as VerifyReport
from headwater.audit.verify import verify_log as verify_log

__all__ = [
    "AuditEntry",
    "AuditRecord",
    "AuditService",
    "AuditorCopy",
    "Checkpoint",
    "SigningKey",
    "Tamper",
    "VerifyReport",
    "actions_in_family",
    "append",
    "checkpoint_now",
    "generate_seed",
    "list_entries",
    "load_signing_key",
    "log_size",
    "parse_seed",
    "read_auditor_copy",
    "router",
    "target_history",
    "verify_log",
    "write_export",
]
