"""Ingestion: signed webhooks into a durable inbox (and, next, landing in raw Iceberg tables).

from headwater import ingest

sources = ingest.webhook_sources(project)          # the project's webhook: blocks, checked
service = ingest.IngestService(sources, ingest.InboxWriter(database), max_backlog=...)
"""

from headwater.ingest.configuration import record_sources as record_sources
from headwater.ingest.consumer import ConsumerStats as ConsumerStats
from headwater.ingest.consumer import consume as consume
from headwater.ingest.consumer import topic_names as topic_names
from headwater.ingest.consumer import topics_of as topics_of
from headwater.ingest.inbox import Delivery as Delivery
from headwater.ingest.inbox import InboxWriter as InboxWriter
from headwater.ingest.inbox import Outcome as Outcome
from headwater.ingest.landing import LAST_SEQ_PROPERTY as LAST_SEQ_PROPERTY
from headwater.ingest.landing import LandedBatch as LandedBatch
from headwater.ingest.landing import land_topic as land_topic
from headwater.ingest.receiver import RECEIVE_PATH as RECEIVE_PATH
from headwater.ingest.receiver import IngestFastPath as IngestFastPath
from headwater.ingest.receiver import IngestService as IngestService
from headwater.ingest.receiver import router as router
from headwater.ingest.signatures import SCHEMES as SCHEMES
from headwater.ingest.signatures import SignatureError as SignatureError
from headwater.ingest.signatures import sign as sign
from headwater.ingest.signatures import verify as verify
from headwater.ingest.sources import Topic as Topic
from headwater.ingest.sources import WebhookSource as WebhookSource
from headwater.ingest.sources import webhook_sources as webhook_sources
from headwater.ingest.status import ingest_status as ingest_status
from headwater.ingest.tables import MARK_PROPERTY as MARK_PROPERTY

# Snapshot properties that hold ingest state (a pull's high-water mark, the inbox position
# landed): snapshot expiry keeps the newest snapshot carrying each.
STATE_PROPERTIES = (MARK_PROPERTY, LAST_SEQ_PROPERTY)

__all__ = [
    "LAST_SEQ_PROPERTY",
    "MARK_PROPERTY",
    "RECEIVE_PATH",
    "SCHEMES",
    "STATE_PROPERTIES",
    "ConsumerStats",
    "Delivery",
    "InboxWriter",
    "IngestFastPath",
    "IngestService",
    "LandedBatch",
    "Outcome",
    "SignatureError",
    "Topic",
    "WebhookSource",
    "consume",
    "ingest_status",
    "land_topic",
    "record_sources",
    "router",
    "sign",
    "topic_names",
    "topics_of",
    "verify",
    "webhook_sources",
]
