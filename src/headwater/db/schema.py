"""Table definitions: one schema for SQLite and PostgreSQL.

The lineage model follows Marquez's entities (namespaces, sources, datasets and their
versions, jobs and their versions, runs, raw lineage events, column lineage, tags) with two
deliberate differences: a dataset version is created only when its schema or its producer's
``version`` facet changes, and the current job <-> dataset edges live in ``job_io`` so that
graph queries walk one narrow indexed table.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from headwater.db.types import CompressedBytes, JSONText, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite needs INTEGER PRIMARY KEY (not BIGINT) to autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")

namespaces = Table(
    "namespaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(1024), nullable=False, unique=True),
    Column("owner_name", String(256)),
    Column("description", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("is_hidden", Boolean, nullable=False, default=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(1024), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("connection_url", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("namespace_id", Integer, ForeignKey("namespaces.id"), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("type", String(32), nullable=False, default="DB_TABLE"),
    Column("physical_name", String(1024), nullable=False),
    Column("source_name", String(1024), nullable=False),
    Column("description", Text),
    Column("fields", JSONText, nullable=False, default=list),
    Column("facets", JSONText, nullable=False, default=dict),
    # Random token renewed whenever ``facets`` changes: lets a writer trust its cached copy.
    Column("facets_rev", String(16)),
    Column("schema_hash", String(64)),
    Column("version_facet", Text),
    Column("current_version_uuid", String(36)),
    Column("lifecycle_state", String(32)),
    Column("last_modified_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("is_deleted", Boolean, nullable=False, default=False),
    # When it was soft-deleted: retention purges it for good only a grace period later.
    Column("deleted_at", UTCDateTime),
    UniqueConstraint("namespace_id", "name"),
    Index(None, "updated_at"),
    Index(None, "name", "namespace_id", "is_deleted"),  # the UI's list, by name (0011)
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version_facet", Text),
    Column("schema_hash", String(64)),
    Column("fields", JSONText, nullable=False),
    Column("facets", JSONText, nullable=False),
    Column("lifecycle_state", String(32)),
    Column("run_uuid", String(36)),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "dataset_id", "created_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("namespace_id", Integer, ForeignKey("namespaces.id"), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("simple_name", String(1024), nullable=False),
    Column("parent_job_id", Integer, ForeignKey("jobs.id")),
    Column("type", String(32), nullable=False, default="BATCH"),
    Column("description", Text),
    Column("location", Text),
    Column("facets", JSONText, nullable=False, default=dict),
    Column("facets_rev", String(16)),
    Column("current_version_uuid", String(36)),
    # Written once per new run (not per event) so lists and graphs need no scan of ``runs``.
    Column("latest_run_uuid", String(36)),
    Column("latest_run_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("is_deleted", Boolean, nullable=False, default=False),
    # When it was soft-deleted: retention purges it for good only a grace period later.
    Column("deleted_at", UTCDateTime),
    UniqueConstraint("namespace_id", "name"),
    Index(None, "updated_at"),
    Index(None, "parent_job_id"),
    Index(None, "name", "namespace_id", "is_deleted"),  # the UI's list, by name (0011)
)

job_versions = Table(
    "job_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False),
    Column("location", Text),
    Column("inputs", JSONText, nullable=False),
    Column("outputs", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "job_id", "created_at"),
)

# The current edges of the lineage graph: which datasets each job reads and writes.
job_io = Table(
    "job_io",
    metadata,
    Column("job_id", Integer, ForeignKey("jobs.id"), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("io_type", String(6), primary_key=True),
    Index(None, "dataset_id", "io_type"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    # The producer's runId when it was not a UUID (mapped deterministically to ``uuid``).
    Column("external_id", Text),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False),
    Column("job_version_uuid", String(36)),
    Column("parent_run_uuid", String(36)),
    Column("state", String(16), nullable=False),
    Column("transitioned_at", UTCDateTime),
    Column("nominal_start_time", UTCDateTime),
    Column("nominal_end_time", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("facets", JSONText, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "job_id", "created_at"),
    Index(None, "parent_run_uuid"),
    Index(None, "state"),  # the dashboard's failed and running runs
)

run_io = Table(
    "run_io",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("io_type", String(6), primary_key=True),
    Column("dataset_version_uuid", String(36)),
    Column("facets", JSONText, nullable=False, default=dict),
    Index(None, "dataset_id"),
)

lineage_events = Table(
    "lineage_events",
    metadata,
    Column("id", BigId, primary_key=True),
    # SHA-256 of the canonical event: an exact re-send is recognised and ignored.
    Column("event_hash", String(64), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("event_type", String(16)),
    Column("event_time", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("run_uuid", String(36)),
    Column("job_namespace", String(1024)),
    Column("job_name", String(1024)),
    Column("producer", Text),
    Column("payload", CompressedBytes, nullable=False),  # the event as received, canonical JSON
    Index(None, "event_time"),
    Index(None, "run_uuid"),
    Index(None, "received_at"),  # the UI's events per hour
)

column_lineage = Table(
    "column_lineage",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("output_dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("output_field", String(1024), nullable=False),
    Column("input_dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("input_field", String(1024), nullable=False),
    Column("transformation_type", String(64)),
    Column("transformation_subtype", String(64)),
    Column("transformation_description", Text),
    Column("transformations", JSONText, nullable=False, default=list),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "output_dataset_id", "output_field"),
    Index(None, "input_dataset_id", "input_field"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

dataset_tags = Table(
    "dataset_tags",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("tags.id"), primary_key=True),
    Column("tagged_at", UTCDateTime, nullable=False),
)

dataset_field_tags = Table(
    "dataset_field_tags",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("field_name", String(1024), primary_key=True),
    Column("tag_id", Integer, ForeignKey("tags.id"), primary_key=True),
    Column("tagged_at", UTCDateTime, nullable=False),
)

job_tags = Table(
    "job_tags",
    metadata,
    Column("job_id", Integer, ForeignKey("jobs.id"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("tags.id"), primary_key=True),
    Column("tagged_at", UTCDateTime, nullable=False),
)

# -- audit trail and access control ----------------------------------------------------------

# The tamper-evident log (headwater.audit). ``seq`` is given by the appender, 1, 2, 3, ... with
# no gaps, so a missing entry is visible. ``time`` and ``details`` are kept as the exact text
# that was hashed (ISO-8601 UTC with microseconds; canonical JSON), so verification rebuilds
# the same bytes on either backend. Rows are never updated or deleted: triggers refuse it
# (see migration 0002) and the application role has no such privileges on PostgreSQL.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(4096), nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "target", "seq"),
    Index(None, "actor", "seq"),
    Index(None, "action", "seq"),
    Index(None, "time"),
)

# Every other target an entry concerns (the datasets a lineage event wrote, its run), so that
# the history of one dataset is an index lookup. A target is keyed by the first 8 bytes of its
# SHA-256 (headwater.audit.log.ref_key): 16-byte rows instead of names of up to 2 KB, which
# made this index the most expensive part of auditing a lineage event. Derived from the
# entries; the entries, not this index, are what verification proves.
audit_refs = Table(
    "audit_refs",
    metadata,
    Column("ref_key", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigId, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,  # the key is the row: one B-tree insert per reference, not two
)

# Signed checkpoints: (tree size, Merkle root, time) signed with the Ed25519 audit key.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tree_size", BigId, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("time", String(32), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
)

# API tokens (headwater.auth): only a SHA-256 of each token is stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("revoked_by", String(256)),
)

# Pipeline runs (headwater.pipeline). A pipeline run groups the model runs of one
# `headwater run`; its uuid is the OpenLineage parent run of theirs.
pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_uuid", String(36), primary_key=True),
    Column("project", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("full_refresh", Boolean, nullable=False),
    Column("selection", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Index(None, "project", "started_at"),
)

model_runs = Table(
    "model_runs",
    metadata,
    Column("run_uuid", String(36), primary_key=True),
    Column("pipeline_run_uuid", String(36), nullable=False),
    Column("project", String(256), nullable=False),
    Column("model", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("rows_read", BigInteger, nullable=False),
    Column("rows_written", BigInteger, nullable=False),
    Column("snapshot_before", BigInteger),
    Column("snapshot_after", BigInteger),
    Column("message", Text),
    Column("details", JSONText, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Index(None, "pipeline_run_uuid"),
    Index(None, "project", "model", "started_at"),
)

# The last snapshot of each input a model has consumed: its incremental watermark. Written in
# the transaction that marks the model run COMPLETED, after its tests passed.
model_watermarks = Table(
    "model_watermarks",
    metadata,
    Column("project", String(256), primary_key=True),
    Column("model", String(512), primary_key=True),
    Column("input", String(512), primary_key=True),
    Column("snapshot_id", BigInteger, nullable=False),
    Column("model_run_uuid", String(36), nullable=False),
)

test_results = Table(
    "test_results",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("model_run_uuid", String(36), nullable=False),
    Column("model", String(512), nullable=False),
    Column("name", String(512), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("status", String(8), nullable=False),
    Column("failures", BigInteger, nullable=False),
    Column("sample", JSONText, nullable=False),
    Column("query", Text, nullable=False),
    Index(None, "model_run_uuid"),
)

# Column lineage traced from a model's SQL, by a hash of the tracer's version, the SQL and the
# input columns: tracing costs tens of milliseconds a model, and each `headwater run` is a new
# process. Entries are never wrong (the key changes with any input), only unused.
column_lineage_cache = Table(
    "column_lineage_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("lineage", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Every verified webhook delivery that matches its topic's declared columns, stored before the
# sender gets its 2xx. One row per source and event id, so a re-delivery stores nothing.
# ``batch_id`` is the landing batch that claimed the row (NULL: waiting to be landed).
ingest_inbox = Table(
    "ingest_inbox",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("source", String(128), nullable=False),
    Column("topic", String(128), nullable=False),
    Column("event_id", String(256), nullable=False),
    Column("webhook_id", String(256)),
    Column("received_at", UTCDateTime, nullable=False),
    Column("body", CompressedBytes, nullable=False),
    Column("batch_id", String(36)),
    UniqueConstraint("source", "event_id"),
    Index(None, "batch_id"),
)
# The rows waiting to be landed, and only those: the backlog is counted on every few hundred
# deliveries, and the inbox keeps landed rows until retention removes them.
Index(
    "ix_ingest_inbox_waiting",
    ingest_inbox.c.source,
    ingest_inbox.c.topic,
    ingest_inbox.c.seq,
    sqlite_where=ingest_inbox.c.batch_id.is_(None),
    postgresql_where=ingest_inbox.c.batch_id.is_(None),
)

# Deliveries that verified but do not match their topic's declared columns, with the reason.
# A replay re-checks them against the current declaration and moves those that now match into
# the inbox (``replayed_seq``); the rest keep their row and get the new reason.
ingest_dead_letters = Table(
    "ingest_dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(128), nullable=False),
    Column("topic", String(128), nullable=False),
    Column("event_id", String(256), nullable=False),
    Column("webhook_id", String(256)),
    Column("received_at", UTCDateTime, nullable=False),
    Column("body", CompressedBytes, nullable=False),
    Column("reason", Text, nullable=False),
    Column("replayed_at", UTCDateTime),
    Column("replayed_seq", BigInteger),
    UniqueConstraint("source", "event_id"),
    Index(None, "source", "replayed_at"),
)

# Landed batches: one Iceberg commit of a topic's deliveries each, with the inbox range it
# covers. Written after the commit; a lander that died in between is found out by the next one
# from the snapshot's properties (see headwater.ingest.landing).
ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("batch_id", String(36), nullable=False, unique=True),
    Column("source", String(128), nullable=False),
    Column("topic", String(128), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("snapshot_id", BigInteger, nullable=False),
    Column("landed_at", UTCDateTime, nullable=False),
    Index(None, "source", "topic", "id"),
)

# Files landed from a folder source: each (table, path, content hash) once. ``status`` is
# ``landed`` or ``refused`` (the whole file: unreadable, or missing a declared column).
ingest_files = Table(
    "ingest_files",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("table_name", String(256), nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("snapshot_id", BigInteger),
    Column("reason", Text),
    Column("landed_at", UTCDateTime, nullable=False),
    UniqueConstraint("table_name", "sha256"),
)

# Rows of landed files that did not convert, with their line and why.
ingest_file_rejects = Table(
    "ingest_file_rejects",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("file_id", BigInteger, nullable=False),
    Column("line", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("content", Text, nullable=False),
    Index(None, "file_id"),
)

# Batches pulled from a database table: one Iceberg commit each, whose snapshot carries the
# high-water mark of the cursor column after it (the mark's home; this is its record).
ingest_pulls = Table(
    "ingest_pulls",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("batch_id", String(36), nullable=False, unique=True),
    Column("table_name", String(256), nullable=False),
    Column("mark", Text, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("snapshot_id", BigInteger, nullable=False),
    Column("landed_at", UTCDateTime, nullable=False),
    Index(None, "table_name", "id"),
)

# What the receiver counted but did not store: deliveries refused for a bad signature, bad
# bodies, duplicates and answers of 503 under backpressure. Summed in memory and added here by
# the inbox writer about once a second, so a flood of bad requests does not become writes.
ingest_counters = Table(
    "ingest_counters",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("topic", String(128), primary_key=True),
    Column("counter", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Operations (headwater.ops). Each long-running component (an ingest consumer, the scheduler)
# writes its heartbeat here every few seconds; readiness checks that one is recent.
ops_heartbeats = Table(
    "ops_heartbeats",
    metadata,
    Column("component", String(64), primary_key=True),
    Column("instance", String(256), primary_key=True),  # host:pid
    Column("started_at", UTCDateTime, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
    Column("details", JSONText, nullable=False),
)

# The state of each alert rule between evaluations: ``ok``, ``pending`` (the condition holds
# but not yet for the rule's duration) or ``firing``. ``notified_at`` is the last notification
# sent for the current firing (the cooldown counts from it).
alert_states = Table(
    "alert_states",
    metadata,
    Column("rule", String(256), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("value", Float),
    Column("since", UTCDateTime, nullable=False),
    Column("fired_at", UTCDateTime),
    Column("notified_at", UTCDateTime),
    Column("evaluated_at", UTCDateTime, nullable=False),
    Column("details", JSONText, nullable=False),
)

# Every notification attempted: which rule, firing or resolved, to which notifier, and whether
# it was delivered (``error`` says why not).
alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule", String(256), nullable=False),
    Column("state", String(16), nullable=False),
    Column("notifier", String(256), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("error", Text),
    Column("payload", JSONText, nullable=False),
    Index(None, "rule", "sent_at"),
)

# Every run the scheduler started or a person triggered: one row per schedule and slot (the
# cron time it was due), so two schedulers never both run a slot: the one whose insert lands
# runs it. ``trigger`` is schedule, catch-up (a slot missed while no scheduler ran) or manual.
schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("schedule", String(256), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("slot", UTCDateTime, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("instance", String(256), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("details", JSONText, nullable=False),
    UniqueConstraint("schedule", "slot"),
    Index(None, "schedule", "started_at"),
)
