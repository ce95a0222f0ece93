"""``headwater up``: the API server, the ingest consumer and the scheduler in one process."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from headwater import logs
from headwater.cli.common import (
    app,
    cli_actor,
    err_console,
    fail,
    settings_or_exit,
)
from headwater.cli.ingest import run_consumer
from headwater.cli.pipeline import ProjectOption
from headwater.errors import HeadwaterError


@app.command()
def up(
    project_dir: ProjectOption = Path("."),
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [default: 5000].")] = None,
) -> None:
    """Run everything in one process: the API server and web UI, the ingest consumer landing
    the project's webhooks, and the scheduler running headwater.yml's schedules (alert
    evaluation every minute by default). Ctrl-C stops all three, letting runs finish."""
    import uvicorn

    from headwater import ops
    from headwater.pipeline import load_project
    from headwater.server import check_bind, create_app, record_configuration, scheduler_context

    try:
        project = load_project(project_dir)
    except HeadwaterError as exc:
        fail(exc)
    settings = settings_or_exit(host=host, port=port, project=project.root)
    if settings.warehouse is None and project.warehouse is not None:
        settings = settings_or_exit(
            host=host, port=port, project=project.root, warehouse=project.warehouse
        )
    logs.configure(settings)
    try:
        check_bind(settings, insecure=False)
        application = create_app(settings)
        record_configuration(application.state.database, settings, cli_actor())
        schedules = ops.load_schedules(settings)
        context = scheduler_context(settings, application.state.database, ops.ErrorRate())
    except HeadwaterError as exc:
        fail(exc)
    database = application.state.database
    lake = context.open_lake()
    stop = threading.Event()
    actor = cli_actor()
    sources = application.state.ingest.sources

    scheduler = ops.Scheduler(context, schedules, ops.RUNNERS)
    threads = [
        threading.Thread(
            target=run_consumer,
            args=(database, lake, sources, actor, stop),
            name="headwater-consumer",
            daemon=True,
        ),
        threading.Thread(
            target=scheduler.run, args=(stop,), name="headwater-scheduler", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    topics = sum(len(source.topics) for source in sources.values())
    err_console.print(
        f"headwater up: http://{settings.host}:{settings.port}, landing {topics} webhook "
        f"topic(s), {len(schedules)} schedule(s): {', '.join(s.name for s in schedules)}",
        highlight=False,
    )

    def shut_down() -> None:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)  # runs in progress finish; their heartbeats are removed
        lake.close()

    application.state.shutdown_hooks.append(shut_down)
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # headwater.logs has configured every logger
    )
