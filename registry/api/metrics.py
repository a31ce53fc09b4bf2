"""Prometheus metrics: requests and latencies counted in-process; ingest, queue, worker and inbox
figures read at scrape time.

With several server processes (`provreg serve --processes N`), PROMETHEUS_MULTIPROC_DIR is set
and every process's counters are summed at scrape time (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.config import IngestConfig
from registry.db.connections import Reads
from registry.db.sql import Query, Steps
from registry.ingest.inbox import usage
from registry.ingest.queue import QueueHealth, queue_health

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROUTES = ("/graphql", "/ingest", "/healthz", "/readyz", "/metrics")


class Metrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "provreg_http_requests", "HTTP requests answered", ("route", "method", "status")
        )
        self.latency = Histogram(
            "provreg_http_request_seconds",
            "Time to answer an HTTP request",
            ("route",),
            buckets=_LATENCY_BUCKETS,
        )
        self.files_received = Counter("provreg_ingest_files_received", "Extract files received over HTTP")


# Counters are process-wide (prometheus_client registers them once per process).
METRICS = Metrics()


def route_of(path: str) -> str:
    """The route template, so that labels stay few whatever the paths asked for."""
    if path.startswith("/ingest/batches/"):
        return "/ingest/batches/{id}"
    if path.startswith("/console/"):
        return "/console/{file}"
    return path if path in _ROUTES else "other"


class MetricsMiddleware:
    """Counts and times every request (pure ASGI: no per-request objects beyond a closure)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._labelled: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            counted, timed = self._children(route_of(scope["path"]), scope["method"], status)
            counted.inc()
            timed.observe(time.perf_counter() - started)

    def _children(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        """The counter and histogram of these labels, looked up once (`labels` checks and locks on
        every call). Routes are templates and methods and statuses few, so the pairs stay few."""
        key = (route, method, status)
        children = self._labelled.get(key)
        if children is None:
            children = self._labelled[key] = (
                self.metrics.requests.labels(route, method, str(status)),
                self.metrics.latency.labels(route),
            )
        return children


_BATCHES = Query(
    "SELECT status, count(*) AS batches, coalesce(sum(records_in), 0) AS records_in,"
    " coalesce(sum(rejected), 0) AS rejected FROM ingest_batch GROUP BY status",
    {},
)
_QUEUE = Query(
    "SELECT status::text AS status, count(*) AS jobs FROM procrastinate.procrastinate_jobs GROUP BY status",
    {},
)


def _registry_figures(config: IngestConfig) -> Steps[tuple[list[Any], list[Any], QueueHealth]]:
    batches = yield _BATCHES
    queue = yield _QUEUE
    health = yield queue_health(config)
    return batches, queue, health


class _Snapshot(Collector):
    def __init__(
        self,
        batches: list[Any],
        queue: list[Any],
        health: QueueHealth,
        inbox: tuple[int, int],
    ) -> None:
        self._batches = batches
        self._queue = queue
        self._health = health
        self._inbox = inbox

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_status = GaugeMetricFamily("provreg_ingest_batches", "Ingest batches by status", labels=["status"])
        records = GaugeMetricFamily(
            "provreg_ingest_records", "Records received, by batch status", labels=["status"]
        )
        rejected = GaugeMetricFamily("provreg_ingest_rejected_records", "Records rejected", labels=["status"])
        for row in self._batches:
            by_status.add_metric([row.status], row.batches)
            records.add_metric([row.status], row.records_in)
            rejected.add_metric([row.status], row.rejected)
        queue = GaugeMetricFamily(
            "provreg_queue_jobs", "Ingest jobs in the queue, by state", labels=["state"]
        )
        for row in self._queue:
            queue.add_metric([row.status], row.jobs)
        yield from (by_status, records, rejected, queue)
        health = self._health
        yield GaugeMetricFamily(
            "provreg_ingest_workers",
            "Ingest workers alive (a heartbeat within three beats)",
            value=health.live_workers,
        )
        yield GaugeMetricFamily(
            "provreg_ingest_jobs_overdue", "Loads running longer than the time limit", value=health.overdue
        )
        yield GaugeMetricFamily(
            "provreg_ingest_longest_running_job_seconds",
            "How long the longest running load has been running (0: none)",
            value=health.longest_running_seconds,
        )
        files, size = self._inbox
        yield GaugeMetricFamily("provreg_inbox_files", "Files in the ingest inbox", value=files)
        yield GaugeMetricFamily("provreg_inbox_bytes", "Bytes of the files in the ingest inbox", value=size)


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY


async def metrics_endpoint(request: Request) -> Response:
    state = request.app.state
    db = Reads(state.reads)
    try:
        batches, queue, health = await db.read(_registry_figures(state.config.ingest))
    finally:
        await db.close()
    inbox = await asyncio.to_thread(usage, state.home)
    output = generate_latest(_process_registry())
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(batches, queue, health, inbox))
    return Response(output + generate_latest(snapshot), media_type=CONTENT_TYPE_LATEST)
