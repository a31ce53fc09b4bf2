"""The ingest job queue (procrastinate, on PostgreSQL): one job per received batch, run by `provreg worker`.

Safe to run again at any point: `load_file` is all-or-nothing per file and recognises content it
already loaded, and a batch that is no longer 'received' is left alone. A worker killed mid-load
leaves its job 'doing' with a heartbeat that stops; `recover_stalled_jobs` (run by every worker)
puts such jobs back in the queue once the heartbeat is older than `stalled_after` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import procrastinate
from procrastinate import JobContext, PsycopgConnector, RetryStrategy
from sqlalchemy import Engine, select, update

from loaders.options import LoaderOptions
from registry.api.inbox import inbox_path
from registry.db.models import IngestBatch
from registry.ingest import Submission, load_file

log = logging.getLogger("provreg.worker")

QUEUE = "ingest"
QUEUE_SCHEMA = "procrastinate"
MAX_ATTEMPTS = 5


def queue_app(database_url: str) -> procrastinate.App:
    # The queue's tables live in their own schema (sql/0003_job_queue.sql).
    connector = PsycopgConnector(
        conninfo=database_url, kwargs={"options": f"-c search_path={QUEUE_SCHEMA},public"}
    )
    app = procrastinate.App(connector=connector)
    app.task(
        name="load_batch",
        queue=QUEUE,
        pass_context=True,
        retry=RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=5),
    )(load_batch)
    return app


@dataclass(frozen=True)
class WorkerResources:
    """What a job needs, given to procrastinate as the worker's additional context."""

    engine: Engine
    home: Path


def load_batch(context: JobContext, batch_id: int) -> str:
    resources: WorkerResources = context.additional_context["resources"]
    with resources.engine.connect() as connection:
        batch = connection.execute(
            select(
                IngestBatch.status,
                IngestBatch.facility_code,
                IngestBatch.submitted_by,
                IngestBatch.content_sha256,
            ).where(IngestBatch.id == batch_id)
        ).one_or_none()
    if batch is None or batch.status != "received":
        return "nothing to do"
    submission = Submission(submitted_by=batch.submitted_by, channel="http", received_batch_id=batch_id)
    options = LoaderOptions(facility_code=batch.facility_code)
    try:
        result = load_file(
            resources.engine, inbox_path(resources.home, batch.content_sha256), options, submission
        )
    except Exception as failure:
        attempts = (context.job.attempts or 0) + 1
        log.error("batch %s: attempt %s failed: %s", batch_id, attempts, type(failure).__name__)
        if attempts >= MAX_ATTEMPTS:
            _mark_failed(
                resources.engine, batch_id, f"loading failed {attempts} times ({type(failure).__name__})"
            )
        raise
    log.info("batch %s: %s, %s records", batch_id, result.status, result.records_in)
    return result.status


def _mark_failed(engine: Engine, batch_id: int, error: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(IngestBatch)
            .where(IngestBatch.id == batch_id, IngestBatch.status == "received")
            .values(status="failed", error=error)
        )


async def recover_stalled_jobs(app: procrastinate.App, stalled_after: float) -> None:
    """Put back in the queue the jobs of workers that stopped sending heartbeats (killed, lost)."""
    while True:
        for job in await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after):
            log.warning("job %s of a stalled worker goes back in the queue", job.id)
            await app.job_manager.retry_job(job)
        await asyncio.sleep(stalled_after / 2)


async def run_workers(
    app: procrastinate.App,
    resources: WorkerResources,
    concurrency: int,
    heartbeat: float = 10.0,
    until_empty: bool = False,
) -> None:
    """Run `concurrency` loads at a time until cancelled (or the queue is empty), recovering stalled jobs."""
    stalled_after = heartbeat * 3
    async with app.open_async():
        recovery = asyncio.create_task(recover_stalled_jobs(app, stalled_after))
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency,
                additional_context={"resources": resources},
                update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=stalled_after,
                install_signal_handlers=False,
                wait=not until_empty,
            )
        finally:
            recovery.cancel()
