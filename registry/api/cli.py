"""Commands for the `provreg` CLI: tokens, `serve` (API + ingest workers) and `worker` (workers alone).

The lead mounts them in registry/cli.py:
    app.add_typer(tokens_app, name="tokens")
    app.command()(serve)
    app.command()(worker)
"""

from __future__ import annotations

import dataclasses
import getpass
import logging
import os
import signal
import socket
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from registry.access.roles import Role
from registry.access.tokens import TokenError, create_token, list_tokens, revoke_token
from registry.config import IngestConfig, Settings
from registry.db import migrate
from registry.db.engine import database_url, get_engine
from registry.logs import log_to_stderr

tokens_app = typer.Typer(
    help="Bearer tokens of the API: create (shown once), list, revoke.", no_args_is_help=True
)
console = Console()
errors = Console(stderr=True)


def _current_database() -> str:
    url = database_url(Settings.from_env())
    try:
        migrate.require_current(url)
    except migrate.SchemaBehind as behind:
        errors.print(f"[red]{behind}[/red]")
        raise typer.Exit(2) from None
    return url


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


@tokens_app.command("create")
def tokens_create(
    role: Annotated[Role, typer.Option(help="clinician, steward, facility or admin")],
    name: Annotated[str, typer.Option(help="Who or what uses it (a system, a person)")],
    facility: Annotated[str | None, typer.Option(help="The facility code a facility token posts for")] = None,
    days: Annotated[
        int | None, typer.Option(help="Valid for this many days (default: until revoked)")
    ] = None,
) -> None:
    """Create a token and print it: it is shown this once and stored only as a hash."""
    _current_database()
    try:
        with get_engine().begin() as connection:
            issued = create_token(
                connection,
                name=name,
                role=role,
                created_by=_operator(),
                facility_code=facility.strip().upper() if facility else None,
                valid_days=days,
            )
    except TokenError as refused:
        errors.print(f"[red]{refused}[/red]")
        raise typer.Exit(2) from None
    errors.print(
        f"token {issued.id} ({issued.role.value}) for {issued.name}: keep it secret, it is not shown again"
    )
    print(issued.secret)


@tokens_app.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""
    _current_database()
    with get_engine().connect() as connection:
        rows = list_tokens(connection)
    table = Table(title="API tokens")
    for column in ("id", "name", "role", "facility", "prefix", "created", "expires", "state"):
        table.add_column(column)
    for t in rows:
        state = "revoked" if t.revoked_at else "live"
        table.add_row(
            str(t.id), t.name, t.role, t.facility_code or "", t.token_prefix + "…",
            t.created_at.strftime("%Y-%m-%d"), t.expires_at.strftime("%Y-%m-%d") if t.expires_at else "", state,
        )  # fmt: skip
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (see `provreg tokens list`)")],
) -> None:
    """Revoke a token: the API refuses it within PROVREG_API_TOKEN_CACHE_SECONDS (5 by default)."""
    _current_database()
    with get_engine().begin() as connection:
        revoked = revoke_token(connection, token_id, _operator())
    if not revoked:
        errors.print(f"[red]no live token {token_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked token {token_id}")


def _ingest_config(heartbeat: float | None) -> IngestConfig:
    config = IngestConfig.from_env()
    return config if heartbeat is None else dataclasses.replace(config, heartbeat_seconds=heartbeat)


_HEARTBEAT_HELP = (
    "Seconds between heartbeats; 3 missed = a dead worker (default PROVREG_INGEST_HEARTBEAT_SECONDS or 10)"
)


def worker(
    concurrency: Annotated[int, typer.Option("--workers", help="Files loaded at the same time")] = 1,
    heartbeat: Annotated[float | None, typer.Option(help=_HEARTBEAT_HELP)] = None,
) -> None:
    """Run ingest workers alone: load the files posted to /ingest, in the background queue."""
    from registry.ingest.worker import serve_workers

    serve_workers(_current_database(), Settings.from_env().home, concurrency, _ingest_config(heartbeat))


def _exit(*_: object) -> None:
    raise SystemExit(0)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="Ingest workers started alongside (0: none)")] = 1,
    processes: Annotated[int, typer.Option(help="API server processes")] = 1,
    api_console: Annotated[
        bool, typer.Option("--console", "--graphiql", help="Serve the API console at GET /graphql")
    ] = False,
    heartbeat: Annotated[float | None, typer.Option(help=_HEARTBEAT_HELP)] = None,
) -> None:
    """Serve the API (GraphQL, HTTP ingest, /healthz, /readyz, /metrics) and run the ingest workers."""
    import uvicorn

    from registry.api.processes import ServerProcesses, listen
    from registry.ingest.worker import SupervisedWorker

    url = _current_database()
    os.environ["DATABASE_URL"] = url  # every server process uses the database this command checked
    if api_console:
        os.environ["PROVREG_API_GRAPHIQL"] = "1"
    if processes > 1:
        metrics_dir = Path(tempfile.mkdtemp(prefix="provreg-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    ingest = _ingest_config(heartbeat)
    # The server processes judge the workers' heartbeats by the interval they were given.
    os.environ["PROVREG_INGEST_HEARTBEAT_SECONDS"] = str(ingest.heartbeat_seconds)
    log_to_stderr()
    supervised = None
    if workers > 0:
        os.environ["PROVREG_API_REQUIRE_WORKER"] = "1"  # the server is not ready without a live one
        supervised = SupervisedWorker(url, Settings.from_env().home, workers, ingest)
        supervised.start()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": processes,
        "access_log": False,  # uvicorn's line has the query string; ours (provreg.access) does not
        "log_level": "info",
    }
    try:
        if processes > 1 and hasattr(socket, "send_fds"):
            # One listening socket; the connections dealt to the processes in turn (processes.py).
            try:
                listener = listen(host, port)
            except OSError as taken:
                errors.print(f"cannot listen on {host}:{port}: {taken.strerror}")
                raise typer.Exit(1) from None
            logging.getLogger("provreg.api").info(
                "serving on http://%s:%s in %s processes", host, port, processes
            )
            status = ServerProcesses(
                uvicorn.Config("registry.api.server:app", **options), listener, processes
            ).run()
            if status:
                raise typer.Exit(status)
        else:
            # uvicorn ends its graceful shutdown by raising SIGTERM again, with the handler it found
            # in place: by default that kills this process at once, and the ingest worker below
            # would go on alone, still taking jobs. This handler ends it as an exit instead.
            signal.signal(signal.SIGTERM, _exit)
            uvicorn.run("registry.api.server:app", **options)
    finally:
        if supervised is not None:
            supervised.stop()
