"""The registry's Starlette application: GraphQL, HTTP ingest and operations endpoints."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.access.principals import PrincipalCache
from registry.api.config import ApiConfig
from registry.api.console import console_assets
from registry.api.facility_directory import FacilityDirectory
from registry.api.graphql.endpoint import graphql_endpoint
from registry.api.health import healthz, readyz
from registry.api.ingest_http import get_batch, post_ingest
from registry.api.metrics import METRICS, MetricsMiddleware, metrics_endpoint, route_of
from registry.db.connections import read_pool, transaction_pool
from registry.logs import REQUEST_ID
from registry.web.app import workbench_routes

access_log = logging.getLogger("provreg.access")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Gives every request an id (the client's X-Request-Id when sane), echoed in the answer and the audit.

    Also writes the access log line: method, route template, status and time, never the path's
    values or a query string, which could carry personal data.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _CLIENT_REQUEST_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        logged_as = REQUEST_ID.set(request_id)
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                access_log.info(
                    "%s %s %s %.1fms %s",
                    scope["method"],
                    route_of(scope["path"]),
                    message["status"],
                    (time.perf_counter() - started) * 1000,
                    request_id,
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(logged_as)


def create_app(database_url: str, home: Path, config: ApiConfig) -> Starlette:
    """The application on the database at `database_url`, keeping posted files under `home`, with
    the settings `config` (read once by the command that serves it, registry/api/server.py)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Reads hold a connection for the whole request: a pool as deep as the requests one
        # process serves at once.
        app.state.reads = read_pool(database_url, size=16)
        app.state.transactions = transaction_pool(database_url, size=4)
        await app.state.reads.open()
        await asyncio.to_thread(app.state.transactions.open)
        try:
            yield
        finally:
            await app.state.reads.close()
            await asyncio.to_thread(app.state.transactions.close)

    routes: list[BaseRoute] = [
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
        Route("/ingest", post_ingest, methods=["POST"]),
        Route("/ingest/batches/{batch_id}", get_batch, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if config.console:
        routes.append(console_assets())
    routes.extend(workbench_routes())  # last: the workbench's pages take every other path
    app = Starlette(
        routes=routes,
        middleware=[Middleware(MetricsMiddleware, metrics=METRICS), Middleware(RequestIdMiddleware)],
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.home = home
    app.state.database_url = database_url
    app.state.metrics = METRICS
    app.state.facilities = FacilityDirectory()
    app.state.principals = PrincipalCache(config.token_cache_seconds)
    return app
