"""The PostgreSQL privileges of the application role: everything but rewriting the audit log.

Production runs two roles: an owner that runs ``headwater db upgrade`` (it owns the tables,
and so could disable the audit triggers: keep its credentials with the DBA), and the
application role the servers connect as, which may read and write every table but may only
SELECT and INSERT the audit tables (no UPDATE, DELETE or TRUNCATE), and only read the
migration version. The append-only triggers refuse changes whoever connects; the missing
privileges make the refusal the database's permission system's too.
"""

from __future__ import annotations

from sqlalchemy.engine import Dialect

APPEND_ONLY_TABLES = ("audit_log", "audit_refs", "audit_checkpoints")


def app_role_statements(dialect: Dialect, role: str, schema: str) -> list[str]:
    """The GRANT / REVOKE statements that set up ``role`` on ``schema`` (run as the owner)."""
    quote = dialect.identifier_preparer.quote
    r, s = quote(role), quote(schema)
    audit_tables = ", ".join(f"{s}.{quote(t)}" for t in APPEND_ONLY_TABLES)
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {audit_tables} FROM {r}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {s}.{quote('alembic_version')} FROM {r}",
    ]
