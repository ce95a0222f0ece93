"""``headwater ingest``: consume, pull, status, dead-letters, send."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.table import Table

from headwater.cli.common import (
    JsonOption,
    app,
    cli_actor,
    console,
    err_console,
    fail,
    migrated_database,
    print_json,
    settings_or_exit,
)
from headwater.cli.pipeline import ProjectOption, open_lake
from headwater.errors import BadRequestError, HeadwaterError

ingest_app = typer.Typer(
    help="Webhooks and pulled sources: land them, see their state, replay dead letters.",
    no_args_is_help=True,
)
app.add_typer(ingest_app, name="ingest")


def _sources(project_dir: Path, *, secrets: bool = False) -> tuple[Any, dict[str, Any]]:
    """The project and its webhook sources; their secrets only for what signs (``send``)."""
    from headwater import ingest
    from headwater.pipeline import load_project

    try:
        project = load_project(project_dir)
        return project, ingest.webhook_sources(project, secrets=secrets)
    except HeadwaterError as exc:
        fail(exc)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m" if seconds < 3600 else f"{seconds / 3600:.1f}h"


def run_consumer(
    database: Any,
    lake: Any,
    sources: dict[str, Any],
    actor: str,
    stop: threading.Event,
    *,
    once: bool = False,
    **options: Any,
) -> Any:
    """Land the sources' deliveries until ``stop`` (`headwater.ingest.consume`), beating as
    the consumer while it runs. A one-off landing (``once``) is not a running consumer: only
    the long-running one says it lives."""
    from headwater import ingest, ops
    from headwater.lineage.client import make_client

    heartbeat = (
        contextlib.nullcontext(None)
        if once
        else ops.Heartbeat(database, ops.CONSUMER, {"topics": ingest.topic_names(sources)})
    )
    with heartbeat as beat:
        return ingest.consume(
            database,
            lake,
            ingest.topics_of(sources),
            actor=actor,
            client=make_client(database, actor),
            once=once,
            stop=stop,
            beat=beat,
            **options,
        )


@ingest_app.command("consume")
def consume_command(
    project_dir: ProjectOption = Path("."),
    once: Annotated[
        bool, typer.Option("--once", help="Land everything waiting now, then exit.")
    ] = False,
    max_rows: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Deliveries per batch (one commit each).")
    ] = 10_000,
    max_wait_s: Annotated[
        float,
        typer.Option(min=0.0, help="Land a topic once its oldest delivery has waited this long."),
    ] = 2.0,
) -> None:
    """Land inbox deliveries in raw Iceberg tables, exactly once, in micro-batches (size or
    time, whichever comes first). Runs until interrupted; any number may run at once."""
    from headwater import ingest, logs

    project, sources = _sources(project_dir)
    settings = settings_or_exit()
    if not once:
        logs.configure(settings)
    database = migrated_database(settings)
    actor = cli_actor()
    ingest.record_sources(database, project, actor)
    lake = open_lake(settings, project.warehouse)
    stop = threading.Event()

    def interrupted(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if not once:
        signal.signal(signal.SIGTERM, interrupted)
        signal.signal(signal.SIGINT, interrupted)

    def report(batch: Any) -> None:
        note = " (recovered)" if batch.recovered else ""
        console.print(
            f"landed {batch.rows:,} deliveries of {batch.source}/{batch.topic} in {batch.table}"
            f" (snapshot {batch.snapshot_id}, inbox {batch.first_seq}-{batch.last_seq}){note}",
            highlight=False,
        )

    if not once:
        topics = ", ".join(ingest.topic_names(sources))
        err_console.print(f"consuming {topics or 'no topics'}; Ctrl-C stops", highlight=False)
    try:
        stats = run_consumer(
            database,
            lake,
            sources,
            actor,
            stop,
            max_rows=max_rows,
            max_wait_s=max_wait_s,
            once=once,
            on_batch=report,
        )
    except HeadwaterError as exc:
        fail(exc)
    finally:
        lake.close()
        database.dispose()
    console.print(f"{stats.batches} batch(es), {stats.rows:,} deliveries landed", highlight=False)


@ingest_app.command("pull")
def pull_command(project_dir: ProjectOption = Path("."), as_json: JsonOption = False) -> None:
    """Land what is new in the project's pulled sources: the files of folder sources (each
    once, bad rows to the rejects with their line), the rows of database tables past
    their high-water mark and the records of REST APIs since the saved position (retrying
    429, 5xx and timeouts). Refused files are recorded with the reason (exit 0); an error
    reading a source exits 1, after what was landed before it."""
    from headwater.ingest import record_sources
    from headwater.ingest.pulls import pull_sources
    from headwater.lineage.client import make_client
    from headwater.pipeline import load_project

    try:
        project = load_project(project_dir)
    except HeadwaterError as exc:
        fail(exc)
    settings = settings_or_exit()
    database = migrated_database(settings)
    lake = open_lake(settings, project.warehouse)
    actor = cli_actor()
    results: list[dict[str, Any]] = []
    try:
        record_sources(database, project, actor)
        client = make_client(database, actor)
        for result in pull_sources(project, database, lake, actor=actor, client=client):
            results.append(result)
    except HeadwaterError as exc:
        if as_json:
            print_json(results)
        fail(exc)
    finally:
        lake.close()
        database.dispose()
    if as_json:
        print_json(results)
        return
    view = Table(title="headwater ingest pull", title_justify="left")
    for column in ("table", "from", "status", "rows", "rejected", "note"):
        view.add_column(column, justify="right" if column in ("rows", "rejected") else "left")
    for r in results:
        if r["kind"] == "file":
            view.add_row(
                r["table"],
                Path(r["path"]).name,
                r["status"],
                f"{r['rows']:,}",
                f"{r['rejected']:,}",
                r["reason"] or "",
            )
        else:
            # A database's mark is its cursor's value; an API's, the pull's state.
            mark = r["mark"]
            note = f"since {mark['since']}" if r["kind"] == "api" else f"high-water {mark}"
            view.add_row(r["table"], r["kind"], "landed", f"{r['rows']:,}", "0", note)
    console.print(view)
    console.print(f"{len(results)} new file(s) or batch(es)", highlight=False)


@ingest_app.command("status")
def status_command(project_dir: ProjectOption = Path("."), as_json: JsonOption = False) -> None:
    """Per topic: received, refused, duplicates, dead letters, backlog, landed and lag."""
    from headwater.ingest.status import ingest_status

    _, sources = _sources(project_dir)
    database = migrated_database(settings_or_exit())
    with database.read() as connection:
        rows = ingest_status(connection, sources)
    database.dispose()
    if as_json:
        print_json([row.as_json() for row in rows])
        return
    # Eight columns fit an 80-column terminal; --json has every counter and time.
    table = Table(title="headwater ingest status", title_justify="left")
    columns = ("topic", "received", "refused", "dupes", "dead", "backlog", "landed", "lag")
    for column in columns:
        table.add_column(column, justify="left" if column == "topic" else "right")
    for row in rows:
        counters = row.counters
        table.add_row(
            f"{row.source}/{row.topic}",
            f"{row.received:,}",
            f"{counters['rejected'] + counters['malformed']:,}",
            f"{counters['duplicates']:,}",
            f"{row.dead_letters:,}",
            f"{row.waiting:,}",
            f"{row.landed:,}",
            _age(row.lag_s),
        )
    console.print(table)


@ingest_app.command("dead-letters")
def dead_letters_command(
    project_dir: ProjectOption = Path("."),
    source: Annotated[str | None, typer.Option(help="Only this source's.")] = None,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Check them against the current declarations: those that match now go to "
            "the inbox to be landed; the rest stay, with the reason as it is now.",
        ),
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """List the deliveries that verified but broke their topic's declared columns."""
    from headwater.ingest.status import dead_letters
    from headwater.ingest.status import replay as replay_letters

    _, sources = _sources(project_dir)
    database = migrated_database(settings_or_exit())
    try:
        if replay:
            result = replay_letters(database, sources, actor=cli_actor(), source=source)
            if as_json:
                print_json({"replayed": result.replayed, "still_dead": result.still_dead})
            else:
                console.print(
                    f"{len(result.replayed)} dead letter(s) moved to the inbox, "
                    f"{len(result.still_dead)} still do not match",
                    highlight=False,
                )
                for letter_id, reason in list(result.still_dead.items())[:limit]:
                    console.print(f"  #{letter_id}: {reason}", highlight=False)
            return
        with database.read() as connection:
            letters = dead_letters(connection, source=source, limit=limit)
    except HeadwaterError as exc:
        fail(exc)
    finally:
        database.dispose()
    if as_json:
        print_json([letter.as_json() for letter in letters])
        return
    table = Table(title="headwater ingest dead letters", title_justify="left")
    for column in ("id", "source/topic", "event id", "received", "reason"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            str(letter.id),
            f"{letter.source}/{letter.topic}",
            letter.event_id,
            letter.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.reason,
        )
    console.print(table)


@ingest_app.command("send")
def send_command(
    file: Annotated[Path, typer.Argument(help="The JSON body to send, as the provider would.")],
    source: Annotated[str, typer.Option(help="The webhook source (its sources/<name>.yml).")],
    topic: Annotated[str, typer.Option(help="The topic: the table name less <source>_.")],
    project_dir: ProjectOption = Path("."),
    event_id: Annotated[
        str | None, typer.Option(help="Event id to sign (default: a new one; Stripe: the body's)")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Server to send to [default: http://<host>:<port>].")
    ] = None,
) -> None:
    """Sign FILE with the source's scheme and secret and post it, to test a source's
    configuration end to end. Exit 0 when it was stored (or was a duplicate), 1 otherwise."""
    import uuid

    import httpx

    from headwater import ingest

    _, sources = _sources(project_dir, secrets=True)
    settings = settings_or_exit()
    found = sources.get(source)
    if found is None or topic not in found.topics:
        known = ", ".join(f"{s}/{t}" for s, src in sources.items() for t in src.topics)
        fail(BadRequestError(f"no topic {source}/{topic}; known: {known or 'none'}", "--topic"))
    try:
        body = file.read_bytes()
    except OSError as exc:
        fail(BadRequestError(f"cannot read {file}: {exc.strerror}", "FILE"))
    headers = ingest.sign(
        found.scheme,
        found.secrets[0],
        body,
        event_id=event_id or f"hw-send-{uuid.uuid4()}",
        now=time.time(),
    )
    base = url or f"http://{settings.host}:{settings.port}"
    try:
        answer = httpx.post(
            f"{base}/ingest/{source}/{topic}",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        err_console.print(f"[bold red]error:[/] could not reach {base}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"{answer.status_code} {answer.text}", highlight=False)
    if answer.status_code != 200:
        raise typer.Exit(1)
