"""Pulled source: a REST API read page by page, each pull fetching only what is new.

A raw table declared with ``api:`` is filled from the JSON pages of an HTTP endpoint::

    tables:
      pos_orders:
        api:
          url: https://pos.example.com/v1/orders
          headers: {Authorization: "Bearer ${POS_API_TOKEN}"}  # ${VAR}: from the environment
          params: {status: any}          # sent with every request
          records: data                  # where a page holds its records (dots for nesting);
                                         # default: the page is the list
          pagination:                    # style: none | cursor | page | link
            style: cursor
            param: starting_after        # cursor: the query parameter of the next cursor
            next: meta.next_cursor       # cursor: where a page says it (absent: last page)
            # page: {style: page, param: page, start: 1, size_param: per_page, size: 100}
            # link: follows the Link header's rel="next" (RFC 8288)
          incremental:
            param: updated_since         # the query parameter the saved position goes in
            field: updated_at            # the declared column whose largest value is saved
          batch_records: 10000           # records per Iceberg commit
          max_pages: 1000                # pages per pull; the next pull goes on from there
          max_attempts: 5                # per request, on 429, 5xx, timeouts, lost connections
          timeout_s: 30
        columns: ...

The position is saved in the table itself, like a database table's high-water mark: every
commit's snapshot carries the pull's state (`MARK_PROPERTY`): ``since``, the largest
``field`` value landed by the last complete pass (sent as ``param`` on the next), and, while a
pass is under way, the request of its next page. So a pull killed at any point goes on from
the last commit: the pages after it are fetched again, the ones before it are not. APIs that
filter with ``>=`` send the records at exactly ``since`` again; those already landed are
known by a hash of their JSON and skipped, as are records older than ``since``.

A request answered 429 or 5xx, timing out or losing its connection is tried again with
exponential backoff and full jitter (tenacity), waiting what ``Retry-After`` asks when it is
there (at most `MAX_RETRY_AFTER_S`). Other 4xx answers, pages that are not JSON and records
that are not objects stop the pull with a `PullError`; what it committed before stays.

Each record is one row: the declared columns read from its top-level keys, the record itself
as ``_hw_payload``, and ``_hw_batch_id``. A pull cannot answer 400 and ask for the record
again, so a record whose value does not have its column's type is landed anyway, that column
NULL and the reason in ``_hw_error``: nothing is lost, and staging decides.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
import orjson
import pyarrow as pa
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from headwater.db import Database
from headwater.errors import ConfigError
from headwater.faults import fault_point
from headwater.ingest.files import json_value
from headwater.ingest.landing import BATCH_PROPERTY
from headwater.ingest.payloads import mismatches
from headwater.ingest.raw import (
    ProjectLike,
    declared_column,
    pull_blocks,
    refuse_unknown,
    whole_number,
)
from headwater.ingest.tables import MARK_PROPERTY, PulledBatch, PullError, pulling, record
from headwater.lake import Lake

Pagination = Literal["none", "cursor", "page", "link"]
PAGINATIONS: tuple[Pagination, ...] = ("none", "cursor", "page", "link")
MAX_RETRY_AFTER_S = 300.0
API_COLUMNS = pa.schema(
    [
        pa.field("_hw_payload", pa.string()),
        pa.field("_hw_error", pa.string()),
        pa.field("_hw_batch_id", pa.string()),
    ]
)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Paging:
    style: Pagination = "none"
    param: str = ""  # cursor: the cursor's query parameter; page: the page number's
    next: str = ""  # cursor: the path of the next cursor in a page
    start: int = 1  # page: the first page's number
    size_param: str = ""  # page: the query parameter of the page size, if any
    size: int = 0  # page: records per page (a shorter page is the last)


@dataclass(frozen=True, slots=True)
class ApiSource:
    table: str  # raw.<table>
    schema: pa.Schema  # the declared columns
    url: str
    namespace: str  # the project's OpenLineage namespace
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    records: str = ""  # dotted path of the records in a page; "" is the page itself
    paging: Paging = Paging()
    since_param: str = ""  # incremental: query parameter, and the declared column it reads
    since_field: str = ""
    batch_records: int = 10_000
    max_pages: int = 1000
    max_attempts: int = 5
    timeout_s: float = 30.0
    backoff_s: float = 0.5  # the first retry's mean wait, doubling after each

    def dataset(self) -> tuple[str, str]:
        """OpenLineage naming: ``scheme://host:port`` (the API) and the path (the dataset)."""
        url = httpx.URL(self.url)
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.host}{port}", url.path or "/"


# -- configuration ---------------------------------------------------------------------------

_KEYS = {
    "url",
    "headers",
    "params",
    "records",
    "pagination",
    "incremental",
    "batch_records",
    "max_pages",
    "max_attempts",
    "timeout_s",
}
_PAGING_KEYS = {"style", "param", "next", "start", "size_param", "size"}


def _text(block: Mapping[str, Any], name: str, key: str, required: bool = False) -> str:
    value = block.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConfigError(f"{key}.{name}", "is required" if required else "must be text")
    return value


def _expand(value: Any, key: str, environ: Mapping[str, str]) -> str:
    """A header or parameter value with each ``${VAR}`` taken from the environment."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(key, "must be text or a number")

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(key, f"environment variable {name} is not set")
        return environ[name]

    return _ENV.sub(variable, str(value))


def _strings(
    block: Mapping[str, Any], name: str, key: str, environ: Mapping[str, str]
) -> dict[str, str]:
    value = block.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}.{name}", "must be a mapping of names to values")
    return {str(k): _expand(v, f"{key}.{name}.{k}", environ) for k, v in value.items()}


def _paging(block: Any, key: str) -> Paging:
    if block is None:
        return Paging()
    if not isinstance(block, Mapping):
        raise ConfigError(key, "must be a mapping with a style")
    refuse_unknown(block, _PAGING_KEYS, key)
    style = block.get("style", "none")
    if style not in PAGINATIONS:
        raise ConfigError(f"{key}.style", f"must be one of {', '.join(PAGINATIONS)}")
    if style == "cursor":
        return Paging(
            "cursor", _text(block, "param", key, True), next=_text(block, "next", key, True)
        )
    if style == "page":
        size_param = _text(block, "size_param", key)
        return Paging(
            "page",
            _text(block, "param", key) or "page",
            start=whole_number(block, "start", key, 0, 1_000_000, 1),
            size_param=size_param,
            size=whole_number(block, "size", key, 0 if not size_param else 1, 100_000, 0),
        )
    return Paging(style)


def api_sources(project: ProjectLike, environ: Mapping[str, str] | None = None) -> list[ApiSource]:
    """The raw tables of ``project`` pulled from REST APIs; `ConfigError` names file and key."""
    environ = os.environ if environ is None else environ
    found = []
    for name, table, block, key in pull_blocks(project, "api", _KEYS):
        url = _expand(_text(block, "url", key, True), f"{key}.url", environ)
        if httpx.URL(url).scheme not in ("http", "https"):
            raise ConfigError(f"{key}.url", "must be an http:// or https:// URL")
        since_param = since_field = ""
        incremental = block.get("incremental")
        if incremental is not None:
            where_incremental = f"{key}.incremental"
            if not isinstance(incremental, Mapping):
                raise ConfigError(where_incremental, "must be a mapping with param and field")
            refuse_unknown(incremental, {"param", "field"}, where_incremental)
            since_param = _text(incremental, "param", where_incremental, True)
            since_field = _text(incremental, "field", where_incremental, True)
            declared_column(table, since_field, f"{where_incremental}.field")
        timeout = block.get("timeout_s", 30)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"{key}.timeout_s", "must be a number of seconds above 0")
        found.append(
            ApiSource(
                table=name,
                schema=table.schema,
                url=url,
                namespace=project.namespace,
                headers=_strings(block, "headers", key, environ),
                params=_strings(block, "params", key, environ),
                records=_text(block, "records", key),
                paging=_paging(block.get("pagination"), f"{key}.pagination"),
                since_param=since_param,
                since_field=since_field,
                batch_records=whole_number(block, "batch_records", key, 1, 1_000_000, 10_000),
                max_pages=whole_number(block, "max_pages", key, 1, 1_000_000, 1000),
                max_attempts=whole_number(block, "max_attempts", key, 1, 100, 5),
                timeout_s=float(timeout),
            )
        )
    return found


# -- requests --------------------------------------------------------------------------------


class _TryAgain(Exception):
    def __init__(self, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date (RFC 9110)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    params: Mapping[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "params": dict(self.params)}


def _get(client: httpx.Client, source: ApiSource, request: Request) -> httpx.Response:
    backoff = wait_random_exponential(multiplier=source.backoff_s, max=60)

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _TryAgain) and failure.retry_after is not None:
            return min(failure.retry_after, MAX_RETRY_AFTER_S)
        return float(backoff(state))

    where = f"GET {request.url}"
    try:
        for attempt in Retrying(
            retry=retry_if_exception_type(_TryAgain),
            stop=stop_after_attempt(source.max_attempts),
            wait=wait,
            reraise=True,
        ):
            with attempt:
                try:
                    # An empty params would drop the query a Link header put in the URL.
                    response = client.get(request.url, params=dict(request.params) or None)
                except httpx.TimeoutException:
                    raise _TryAgain("timed out", None) from None
                except httpx.TransportError as exc:
                    raise _TryAgain(f"{type(exc).__name__}: {exc}", None) from None
                status = response.status_code
                if status == 429 or status >= 500:
                    raise _TryAgain(f"HTTP {status}", _retry_after(response))
                if status >= 400:
                    body = response.text.strip().replace("\n", " ")[:200]
                    raise PullError(f"{where}: HTTP {status} {response.reason_phrase}: {body}")
                return response
    except _TryAgain as exc:
        raise PullError(f"{where}: {exc} after {source.max_attempts} attempts") from None
    raise AssertionError("unreachable: tenacity returns or raises")


def _at(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a JSON document (None when absent)."""
    for part in path.split(".") if path else ():
        if not isinstance(document, Mapping):
            return None
        document = document.get(part)
    return document


def _page_records(response: httpx.Response, source: ApiSource) -> tuple[Any, list[dict[str, Any]]]:
    where = f"GET {response.request.url}"
    try:
        page = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise PullError(f"{where}: the page is not JSON ({exc})") from None
    records = _at(page, source.records)
    if not isinstance(records, list):
        place = f"the page's {source.records!r}" if source.records else "the page"
        raise PullError(f"{where}: {place} is not a list of records")
    for number, item in enumerate(records, 1):
        if not isinstance(item, dict):
            raise PullError(f"{where}: record {number} is not a JSON object")
    return page, records


def _next(
    source: ApiSource, request: Request, response: httpx.Response, page: Any, count: int
) -> Request | None:
    """The request of the page after this one; None after the last."""
    paging = source.paging
    if paging.style == "cursor":
        cursor = _at(page, paging.next)
        if cursor in (None, "") or not count:
            return None
        return Request(request.url, {**request.params, paging.param: str(cursor)})
    if paging.style == "page":
        if not count or (paging.size and count < paging.size):
            return None
        number = int(request.params.get(paging.param, paging.start))
        return Request(request.url, {**request.params, paging.param: str(number + 1)})
    if paging.style == "link":
        target = response.links.get("next", {}).get("url")
        if not target:
            return None
        # The link carries its own query; the base parameters are in it already.
        return Request(str(response.request.url.join(target)), {})
    return None


def _first(source: ApiSource, since: Any) -> Request:
    params = dict(source.params)
    if source.since_param and since is not None:
        params[source.since_param] = str(since)
    paging = source.paging
    if paging.style == "page":
        params[paging.param] = str(paging.start)
        if paging.size_param:
            params[paging.size_param] = str(paging.size)
    return Request(source.url, params)


# -- the pull --------------------------------------------------------------------------------


def _digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@dataclass(slots=True)
class _State:
    """Where the pulls of one source are: what `MARK_PROPERTY` holds after each commit."""

    since: Any = None  # the largest ``field`` of the last complete pass, as JSON
    at_since: list[str] = field(default_factory=list)  # digests of records at ``since``
    next: dict[str, Any] | None = None  # the pass under way: its next page's request
    top: Any = None  # the pass under way: its largest ``field`` so far
    at_top: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "at_since": self.at_since,
            "next": self.next,
            "top": self.top,
            "at_top": self.at_top,
        }

    @classmethod
    def of(cls, document: Any) -> _State:
        if not isinstance(document, dict):
            return cls()
        return cls(
            document.get("since"),
            list(document.get("at_since") or []),
            document.get("next"),
            document.get("top"),
            list(document.get("at_top") or []),
        )

    def finish_pass(self, comparable: Any) -> None:
        """The pass reached its last page: its largest value is the next ``since``."""
        if self.top is not None:
            if self.since is None or comparable(self.top) > comparable(self.since):
                self.since, self.at_since = self.top, self.at_top
            elif comparable(self.top) == comparable(self.since):
                self.at_since = sorted({*self.at_since, *self.at_top})
        self.next, self.top, self.at_top = None, None, []


def _comparable(data_type: pa.DataType) -> Any:
    def key(value: Any) -> Any:
        converted = json_value(value, data_type)
        if isinstance(converted, datetime) and converted.tzinfo is None:
            return converted.replace(tzinfo=UTC)
        return converted

    return key


def _as_json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(slots=True)
class _Pass:
    """Records of one pull, sorted into rows and the state they move to."""

    source: ApiSource
    state: _State
    rows: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add(self, record: dict[str, Any]) -> None:
        source, state = self.source, self.state
        digest = _digest(record)
        if digest in self.seen:  # the same record twice in one batch (pages shifted)
            return
        problems = dict(mismatches(record, source.schema))
        row = {
            f.name: None if f.name in problems else json_value(record.get(f.name), f.type)
            for f in source.schema
        }
        if source.since_field and source.since_field not in problems:
            value = row[source.since_field]
            if value is not None:
                key = _comparable(source.schema.field(source.since_field).type)
                if state.since is not None:
                    since = key(state.since)
                    if key(value) < since or (key(value) == since and digest in state.at_since):
                        return  # landed by an earlier pull
                value = _as_json_value(value)
                if state.top is None or key(value) > key(state.top):
                    state.top, state.at_top = value, [digest]
                elif key(value) == key(state.top):
                    state.at_top.append(digest)
        self.seen.add(digest)
        row["_hw_payload"] = orjson.dumps(record).decode()
        row["_hw_error"] = "; ".join(problems.values()) or None
        self.rows.append(row)

    def table(self, batch_id: str) -> pa.Table:
        schema = pa.schema([*self.source.schema, *API_COLUMNS])
        columns = {f.name: [row.get(f.name) for row in self.rows] for f in schema}
        columns["_hw_batch_id"] = [batch_id] * len(self.rows)
        return pa.table(columns, schema=schema)


def _pages(
    client: httpx.Client, source: ApiSource, state: _State
) -> Iterator[list[dict[str, Any]]]:
    """The records of each page of this pull, in order; ``state.next`` follows the pages."""
    request = (
        Request(state.next["url"], state.next.get("params") or {})
        if state.next
        else _first(source, state.since)
    )
    for _ in range(source.max_pages):
        response = _get(client, source, request)
        page, records = _page_records(response, source)
        following = _next(source, request, response, page, len(records))
        state.next = following.as_json() if following else None
        yield records
        if following is None:
            return
        request = following


def pull_api(
    database: Database, lake: Lake, source: ApiSource, *, actor: str
) -> list[PulledBatch] | None:
    """Fetch what is new from ``source``, a commit per `ApiSource.batch_records` records; None
    when another process is pulling this table."""
    schema = pa.schema([*source.schema, *API_COLUMNS])
    with pulling(database, lake, source, schema, actor) as start:
        if start is None:
            return None
        table, pulled = start.table, start.pulled
        state = _State.of(start.mark)
        comparable = _comparable(
            source.schema.field(source.since_field).type if source.since_field else pa.string()
        )
        committed = state.as_json()
        batch = _Pass(source, state)
        headers = {"Accept": "application/json", **source.headers}
        with httpx.Client(
            headers=headers, timeout=source.timeout_s, follow_redirects=True
        ) as client:
            for records in _pages(client, source, state):
                for item in records:
                    batch.add(item)
                if state.next is None:
                    state.finish_pass(comparable)
                elif len(batch.rows) >= source.batch_records:
                    landed = _commit(database, lake, table, source, batch, actor)
                    pulled.append(landed)
                    committed, batch = landed.mark, _Pass(source, state)
        # The rest, or only the new position: a pass that ended on pages with nothing new
        # still moves ``since``, in a snapshot of no rows.
        if batch.rows or state.as_json() != committed:
            pulled.append(_commit(database, lake, table, source, batch, actor))
        return pulled


def _commit(
    database: Database, lake: Lake, table: Any, source: ApiSource, batch: _Pass, actor: str
) -> PulledBatch:
    batch_id = str(uuid.uuid4())
    mark = batch.state.as_json()
    properties = {MARK_PROPERTY: orjson.dumps(mark).decode(), BATCH_PROPERTY: batch_id}
    fault_point("before-append", f"ingest:{source.table}")
    lake.append(table, batch.table(batch_id), properties)
    fault_point("after-append", f"ingest:{source.table}")
    current = table.current_snapshot()
    assert current is not None
    landed = PulledBatch(source.table, batch_id, len(batch.rows), mark, current.snapshot_id)
    record(database, table, landed, source, actor)
    return landed
