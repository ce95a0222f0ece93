"""Ingestion: signed webhooks into a durable inbox (and, next, landing in raw Iceberg tables).

from headwater import ingest

sources = ingest.webhook_sources(project)          # the project's webhook: blocks, checked
service = ingest.IngestService(sources, ingest.InboxWriter(database), max_backlog=...)
"""

from headwater.ingest.inbox import Delivery as Delivery
from headwater.ingest.inbox import InboxWriter as InboxWriter
from headwater.ingest.inbox import Outcome as Outcome
from headwater.ingest.receiver import IngestService as IngestService
from headwater.ingest.receiver import router as router
from headwater.ingest.signatures import SCHEMES as SCHEMES
from headwater.ingest.signatures import SignatureError as SignatureError
from headwater.ingest.signatures import sign as sign
from headwater.ingest.signatures import verify as verify
from headwater.ingest.sources import Topic as Topic
from headwater.ingest.sources import WebhookSource as WebhookSource
from headwater.ingest.sources import webhook_sources as webhook_sources

__all__ = [
    "SCHEMES",
    "Delivery",
    "InboxWriter",
    "IngestService",
    "Outcome",
    "SignatureError",
    "Topic",
    "WebhookSource",
    "router",
    "sign",
    "verify",
    "webhook_sources",
]
