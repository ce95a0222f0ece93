"""How a day of the shop reaches its raw tables in the demo: the way it would in production.

- The web store and the payment provider send **signed webhooks**: every event of the day is
  signed (Shopify style for the store, Stripe style for payments) and posted to headwater's
  receiver, started for the purpose on a free loopback port; the inbox keeps each event once
  (the day's duplicate deliveries are answered ``duplicate``), and the consumer lands the inbox
  in ``raw.web_*`` and ``raw.payments_refunds``.
- The point of sale is a **pulled source**: its rows are written to the POS system's own
  database (SQLite, ``$HEADWATER_HOME/shop-pos.db``, standing for the stores' server), which
  ``raw.pos_*`` then pull by its row number.

A newcomer has nothing to configure: `demo_environment` sets the webhook secrets and the POS
database URL the shop's sources name, unless they are set already.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
from openlineage.client import OpenLineageClient
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    MetaData,
    Table,
    Text,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.types import TypeEngine

from headwater import ingest
from headwater.config import Settings
from headwater.db import Database
from headwater.demo.shop import SEQUENCE, SEQUENCE_SPAN
from headwater.errors import HeadwaterError
from headwater.ingest.pulls import pull_sources
from headwater.lake import Lake
from headwater.pipeline import Project

POS_URL_ENV = "SHOP_POS_DATABASE_URL"
# Demo values, for a demo only: a real store is configured with secrets of its own.
DEMO_SECRETS = {
    "SHOP_WEB_WEBHOOK_SECRET": "demo-web-store-secret",
    "SHOP_PAYMENTS_WEBHOOK_SECRET": "whsec_demo-payments-secret",
}
POS_TABLES = {"raw.pos_orders": "orders", "raw.pos_customers": "customers"}
SENDERS = 32  # connections posting at once, as providers do: each waits for its durable commit


class DeliveryError(HeadwaterError):
    """The receiver refused what the demo sent it (it should never)."""


def demo_environment(home: Path, environ: MutableMapping[str, str] | None = None) -> None:
    """Set what the shop's sources read from the environment, where it is not set."""
    target = os.environ if environ is None else environ
    for name, value in DEMO_SECRETS.items():
        target.setdefault(name, value)
    target.setdefault(POS_URL_ENV, f"sqlite:///{home / 'shop-pos.db'}")


# -- the point of sale's database ------------------------------------------------------------


def _column_type(data_type: pa.DataType) -> TypeEngine[Any]:
    if pa.types.is_integer(data_type):
        return BigInteger()
    if pa.types.is_floating(data_type):
        return Float()
    if pa.types.is_boolean(data_type):
        return Boolean()
    if pa.types.is_timestamp(data_type):
        return DateTime(timezone=True)
    return Text()


def _pos_tables(schemas: Mapping[str, pa.Schema]) -> tuple[MetaData, dict[str, Table]]:
    metadata = MetaData()
    tables = {
        raw: Table(
            name,
            metadata,
            *(
                Column(f.name, _column_type(f.type), primary_key=f.name == SEQUENCE)
                for f in schemas[raw]
            ),
        )
        for raw, name in POS_TABLES.items()
    }
    return metadata, tables


def next_batch(schemas: Mapping[str, pa.Schema]) -> int:
    """The day the demo delivers next: one after the last the POS database holds."""
    engine = create_engine(os.environ[POS_URL_ENV])
    try:
        metadata, tables = _pos_tables(schemas)
        metadata.create_all(engine)
        with engine.connect() as connection:
            last = connection.execute(select(func.max(tables["raw.pos_orders"].c[SEQUENCE])))
            top = last.scalar()
    finally:
        engine.dispose()
    return 0 if top is None else int(top) // SEQUENCE_SPAN + 1


def _store_pos(data: Mapping[str, pa.Table]) -> None:
    engine = create_engine(os.environ[POS_URL_ENV])
    try:
        metadata, tables = _pos_tables({raw: data[raw].schema for raw in POS_TABLES})
        metadata.create_all(engine)
        with engine.begin() as connection:
            for raw, table in tables.items():
                rows = data[raw].to_pylist()
                if rows:
                    connection.execute(insert(table), rows)
    finally:
        engine.dispose()


# -- the webhooks ----------------------------------------------------------------------------


@contextmanager
def receiver(settings: Settings, database: Database, project: Project) -> Iterator[str]:
    """headwater's server on a free loopback port, in a thread, receiving ``project``'s
    webhooks; its base URL."""
    import uvicorn

    from headwater.server import create_app

    app = create_app(settings.model_copy(update={"project": project.root}), database)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="demo-receiver", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise DeliveryError("the demo's webhook receiver did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@dataclass(frozen=True, slots=True)
class _Delivery:
    source: ingest.WebhookSource
    topic: str
    event_id: str
    body: bytes

    def signed(self) -> dict[str, str]:
        """The provider's headers, signed now: Stripe and Standard Webhooks signatures hold
        the time and expire (300 s), and a large day takes longer than that to post."""
        source = self.source
        return ingest.sign(
            source.scheme, source.secrets[0], self.body, event_id=self.event_id, now=time.time()
        )


def deliveries(
    sources: Mapping[str, ingest.WebhookSource], data: Mapping[str, pa.Table]
) -> list[_Delivery]:
    """Every row of the webhook tables as its provider would post it."""
    found = []
    for source in sources.values():
        for topic in source.topics.values():
            for row in data[topic.table].to_pylist():
                if source.scheme == "stripe":
                    row = {"id": row["event_id"], **row}  # Stripe events carry their id
                found.append(_Delivery(source, topic.name, row["event_id"], orjson.dumps(row)))
    return found


def _post(base: str, deliveries: list[_Delivery], counted: Callable[[str], None]) -> None:
    # http.client, not httpx: the demo's sender shares its process (and GIL) with the
    # receiver, and with httpx posting the demo's 19,000 deliveries took twice as long.
    url = httpx.URL(base)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        for delivery in deliveries:
            path = f"/ingest/{delivery.source.name}/{delivery.topic}"
            while True:
                connection.request("POST", path, delivery.body, delivery.signed())
                answer = connection.getresponse()
                text = answer.read()
                if answer.status != 503:
                    break
                # Backpressure: wait as asked, on a new connection (the server may close the
                # one it answered 503 on; http.client reconnects on the next request).
                connection.close()
                time.sleep(float(answer.getheader("Retry-After", "1")))
            if answer.status != 200:
                raise DeliveryError(
                    f"POST {path}: HTTP {answer.status}: {text[:200].decode(errors='replace')}"
                )
            counted(str(orjson.loads(text)["status"]))
    finally:
        connection.close()


def post_all(
    base: str,
    deliveries: list[_Delivery],
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> Counter[str]:
    """Post ``deliveries`` over `SENDERS` connections; how many were stored, duplicates, ..."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def counted(outcome: str) -> None:
        with lock:
            outcomes[outcome] += 1
            done = sum(outcomes.values())
        if done % 500 == 0 or done == len(deliveries):
            progress(done, len(deliveries))

    # Round robin, so each connection posts its share in the original order: a duplicate is
    # posted after the delivery it repeats, as the generator intends, give or take a race
    # between connections (then the other copy is kept; they are the same event).
    shares = [deliveries[i::SENDERS] for i in range(SENDERS)]
    with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="demo-sender") as pool:
        for future in [pool.submit(_post, base, share, counted) for share in shares]:
            future.result()
    return outcomes


# -- a day ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Fed:
    """What one day's feed did."""

    webhooks: Counter[str] = field(default_factory=Counter)  # stored, duplicate, dead_letter
    landed: dict[str, int] = field(default_factory=dict)  # raw table -> rows landed
    seconds: float = 0.0


def feed_day(
    project: Project,
    database: Database,
    lake: Lake,
    settings: Settings,
    data: Mapping[str, pa.Table],
    *,
    actor: str,
    client: OpenLineageClient,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> Fed:
    """Send one generated day through the webhooks and the POS database, and land it all."""
    started = time.perf_counter()
    fed = Fed()
    sources = ingest.webhook_sources(project)
    topics = ingest.topics_of(sources)
    # A consumer lands while the providers post, as `headwater up` does: a day larger than the
    # inbox's backlog limit would otherwise be answered 503 until the posting gave up.
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-consumer") as pool:
        during = pool.submit(
            ingest.consume, database, lake, topics, actor=actor, client=client, stop=stop
        )
        try:
            with receiver(settings, database, project) as base:
                fed.webhooks = post_all(base, deliveries(sources, data), progress)
        finally:
            stop.set()
        landed = [*during.result().landed]
    landed += ingest.consume(database, lake, topics, actor=actor, client=client, once=True).landed
    _store_pos(data)
    pulled = pull_sources(project, database, lake, actor=actor, client=client)
    for table, rows in [
        *((batch.table, batch.rows) for batch in landed),
        *((result["table"], int(result["rows"])) for result in pulled),
    ]:
        fed.landed[table] = fed.landed.get(table, 0) + rows
    fed.seconds = time.perf_counter() - started
    return fed
