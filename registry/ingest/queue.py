"""The ingest job queue (procrastinate, on PostgreSQL): one job per received batch, run by the ingest workers.

Safe to run again at any point: a load is all-or-nothing per file and recognises content it
already loaded, and a batch that is no longer 'received' is left alone.

A job's first attempt loads other waiting batches along with its own, in groups (as `provreg load`
loads small files, registry/ingest/load.py): each keeps its own batch, counts and rejects, and its
own job then finds nothing to do. A batch being loaded is held by an advisory lock of the worker's
connection, so two workers never load it at once, and a worker's death lets go of it. A retried
job's batch loads alone, so that a file that fails or kills its worker spoils no other's attempts.

Attempts are bounded (IngestConfig.max_attempts), however an attempt ends:
- it raises: procrastinate's retry strategy schedules the next one, with a growing wait;
- its worker dies holding it (killed, out of memory): the worker's heartbeat stops, and
  `recover_stalled_jobs` (run by every worker) finds the job and decides by the same strategy.
After the last attempt the job is 'failed' and so is its batch, with the reason: nothing
retries it automatically again. A file that kills its worker would otherwise kill every worker
that takes it, forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
from procrastinate import JobContext, PsycopgConnector, RetryStrategy, SyncPsycopgConnector
from procrastinate.jobs import Job, Status
from psycopg_pool import ConnectionPool

from loaders.options import LoaderOptions
from registry.config import IngestConfig
from registry.db.sql import Query, connect, named_rows
from registry.ingest.inbox import batch_file, discard, received_file, sweep
from registry.ingest.load import IncomingFile, LoadResult, Submission, load_files

log = logging.getLogger("provreg.worker")

QUEUE = "ingest"
QUEUE_SCHEMA = "procrastinate"
TASK = "load_batch"
RETRY_WAIT_SECONDS = 5  # before the second attempt; 25 before the third, and so on


def queue_app(database_url: str, max_attempts: int = IngestConfig.max_attempts) -> procrastinate.App:
    # The queue's tables live in their own schema (sql/0003_job_queue.sql).
    connector = PsycopgConnector(
        conninfo=database_url, kwargs={"options": f"-c search_path={QUEUE_SCHEMA},public"}
    )
    app = procrastinate.App(connector=connector)
    # procrastinate's max_attempts counts the retries after the first attempt (and 0 means no limit).
    retries = max_attempts - 1
    app.task(
        name=TASK,
        queue=QUEUE,
        pass_context=True,
        retry=RetryStrategy(max_attempts=retries, exponential_wait=RETRY_WAIT_SECONDS) if retries else False,
    )(load_batch)
    return app


# Defers through the caller's connection only (procrastinate's `connection=`): never opened.
_IN_TRANSACTION = procrastinate.App(connector=SyncPsycopgConnector())


def queue_load(connection: psycopg.Connection[Any], batch_id: int) -> None:
    """Queue the batch's load in the caller's transaction: its job is committed with the batch
    (a crash leaves neither), and one commit serves both."""
    with _in_queue_schema(connection):
        _IN_TRANSACTION.configure_task(TASK, queue=QUEUE, connection=connection).defer(batch_id=batch_id)


@contextlib.contextmanager
def _in_queue_schema(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """procrastinate's functions find its tables through the search path: its schema first, within
    the caller's transaction, until the block ends."""
    (previous,) = connection.execute(
        "SELECT previous FROM (SELECT current_setting('search_path') AS previous) AS now,"
        " set_config('search_path', %s || ', ' || previous, true)",
        (QUEUE_SCHEMA,),
    ).fetchone() or ("",)
    yield
    connection.execute("SELECT set_config('search_path', %s, true)", (previous,))


@dataclass(frozen=True)
class WorkerResources:
    """What a job needs, given to procrastinate as the worker's additional context."""

    database_url: str
    home: Path
    config: IngestConfig = field(default_factory=IngestConfig)
    pool: ConnectionPool[Any] | None = None  # the worker's connections, kept from job to job

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection in autocommit (a load opens its own transactions): the pool's, else a new one."""
        if self.pool is not None:
            with self.pool.connection() as connection:
                yield connection
            return
        with connect(self.database_url) as connection:
            connection.autocommit = True
            yield connection


def worker_pool(database_url: str, concurrency: int) -> ConnectionPool[Any]:
    """A connection for each load running at once; a connection going back to the pool lets go of
    the batches its load held (queue.load_batch)."""
    return ConnectionPool(
        database_url,
        min_size=1,
        max_size=concurrency,
        kwargs={"autocommit": True},
        reset=_let_go,
        open=True,
    )


def _let_go(connection: psycopg.Connection[Any]) -> None:
    connection.execute("SELECT pg_advisory_unlock_all()")


@dataclass(frozen=True)
class QueueHealth:
    """What /readyz and /metrics say of the ingest workers."""

    live_workers: int  # a heartbeat within the last three beats
    overdue: int  # loads running longer than the time limit
    longest_running_seconds: float

    def problems(self, require_worker: bool) -> list[str]:
        found = []
        if require_worker and self.live_workers == 0:
            found.append("no live ingest worker")
        if self.overdue:
            found.append(f"{self.overdue} load(s) running past the time limit")
        return found


# A job's start is the last 'started' event procrastinate recorded for it (a retried job starts again).
_QUEUE_HEALTH = """
SELECT (SELECT count(*) FROM procrastinate.procrastinate_workers
         WHERE last_heartbeat > now() - make_interval(secs => %(stalled_after)s)) AS live_workers,
       count(*) FILTER (WHERE started < now() - make_interval(secs => %(limit)s)) AS overdue,
       coalesce(extract(epoch FROM now() - min(started)), 0) AS longest
FROM (SELECT (SELECT max(event.at) FROM procrastinate.procrastinate_events AS event
               WHERE event.job_id = job.id AND event.type = 'started') AS started
        FROM procrastinate.procrastinate_jobs AS job
       WHERE job.status = 'doing' AND job.queue_name = %(queue)s) AS doing
"""


def _health(found: list[Any]) -> QueueHealth:
    (row,) = found
    return QueueHealth(row.live_workers, row.overdue, float(row.longest))


def queue_health(config: IngestConfig) -> Query[QueueHealth]:
    return Query(
        _QUEUE_HEALTH,
        {"stalled_after": config.stalled_after, "limit": config.job_time_limit_seconds, "queue": QUEUE},
        _health,
    )


class WorkerDied(Exception):
    """How an attempt ended whose worker stopped sending heartbeats while holding it."""


def load_batch(context: JobContext, batch_id: int) -> str:
    resources: WorkerResources = context.additional_context["resources"]
    with resources.connection() as connection:
        # Another worker may be loading this batch along with its own: wait for it.
        connection.execute("SELECT pg_advisory_lock(%s, %s)", _batch_lock(batch_id))
        batch = _waiting(connection, [batch_id])
        if not batch:
            return "nothing to do"
        path = received_file(resources.home, batch_id, batch[0].content_sha256)
        if path is None:  # no attempt would find it
            mark_failed(resources.database_url, batch_id, "the received file is no longer in the inbox")
            return "failed"
        files = [_incoming(batch[0], path)]
        job_of: dict[int, int] = {}
        if context.job.attempts == 0:  # a retried job's file loads alone: it may be what failed
            taken, job_of = _taken_along(connection, resources.home, batch_id)
            files += taken
        try:
            results = load_files(connection, files)
            result = next(results)
        except Exception as failure:
            attempt = context.job.attempts + 1
            log.error("batch %s: attempt %s failed: %s", batch_id, attempt, type(failure).__name__)
            if context.task.get_retry_exception(failure, context.job) is None:  # the last attempt
                # The exception's type only: its message could quote the file's data.
                mark_failed(
                    resources.database_url,
                    batch_id,
                    f"loading failed {attempt} times (last: {type(failure).__name__})",
                )
                _release(resources, batch_id)
            raise
        log.info("batch %s: %s, %s records", batch_id, result.status, result.records_in)
        _release(resources, batch_id)
        _finish_taken_along(connection, resources, files[1:], job_of, results)
    return result.status


# Other waiting batches a job loads with its own (registry/ingest/load.py loads small files in groups).
TAKEN_ALONG = 199
_BATCH_LOCKS = 19  # advisory lock space (first key) of batches being loaded by a worker


def _batch_lock(batch_id: int) -> tuple[int, int]:
    return _BATCH_LOCKS, batch_id % 2_147_483_647


def _waiting(connection: psycopg.Connection[Any], batch_ids: list[int]) -> list[Any]:
    """Of these batches, the ones still waiting to be loaded, in id order."""
    with connection.cursor(row_factory=named_rows) as cursor:
        return cursor.execute(
            "SELECT id, facility_code, submitted_by, content_sha256 FROM ingest_batch"
            " WHERE id = ANY(%s) AND status = 'received' ORDER BY id",
            (batch_ids,),
        ).fetchall()


def _incoming(batch: Any, path: Path) -> IncomingFile:
    return IncomingFile(
        path,
        LoaderOptions(facility_code=batch.facility_code),
        Submission(submitted_by=batch.submitted_by, channel="http", received_batch_id=batch.id),
    )


# Batches whose job waits for its first attempt: one whose job failed or died before loads alone.
_FIRST_IN_LINE = """
SELECT b.id, j.id FROM procrastinate.procrastinate_jobs j
JOIN ingest_batch b ON b.id = (j.args->>'batch_id')::bigint
WHERE j.status = 'todo' AND j.queue_name = %(queue)s AND j.task_name = %(task)s AND j.attempts = 0
  AND b.status = 'received' AND b.id <> %(own)s
ORDER BY b.id LIMIT %(limit)s
"""


def _taken_along(
    connection: psycopg.Connection[Any], home: Path, own: int
) -> tuple[list[IncomingFile], dict[int, int]]:
    """Waiting batches no other worker holds, locked for this one (until its connection is reset),
    and their jobs."""
    job_of: dict[int, int] = dict(
        connection.execute(_FIRST_IN_LINE, {"queue": QUEUE, "task": TASK, "own": own, "limit": TAKEN_ALONG})
    )
    candidates = list(job_of)
    held = [
        batch_id
        for (batch_id,) in connection.execute(
            "SELECT id FROM unnest(%s::bigint[]) AS id WHERE pg_try_advisory_lock(%s, (id %% 2147483647)::int)",
            (candidates, _BATCH_LOCKS),
        )
    ]
    files = []
    for batch in _waiting(connection, held):  # loaded meanwhile by the worker that held it before
        path = received_file(home, batch.id, batch.content_sha256)
        if path is not None:  # else its own job says so
            files.append(_incoming(batch, path))
    return files, job_of


def _finish_taken_along(
    connection: psycopg.Connection[Any],
    resources: WorkerResources,
    files: list[IncomingFile],
    job_of: dict[int, int],
    results: Iterator[LoadResult],
) -> None:
    """The batches loaded along with a job's own: final, and their jobs finished (they would find
    nothing to do, at the cost of a fetch each), unless one fails, which is left, with the ones
    after it, to its own job."""
    finished = []
    for taken in files:
        batch_id = taken.submission.received_batch_id
        assert batch_id is not None
        try:
            result = next(results)
        except Exception as failure:
            log.warning("batch %s, taken along: %s; left to its own job", batch_id, type(failure).__name__)
            break
        log.info("batch %s: %s, %s records", batch_id, result.status, result.records_in)
        _release(resources, batch_id)
        finished.append(job_of[batch_id])
    if not finished:
        return
    # As procrastinate finishes a job (its own function), those no worker has fetched meanwhile.
    with connection.transaction(), _in_queue_schema(connection):
        connection.execute(
            "SELECT procrastinate_finish_job_v1(id, 'succeeded', false) FROM procrastinate_jobs"
            " WHERE id = ANY(%s) AND status = 'todo' FOR UPDATE SKIP LOCKED",
            (finished,),
        )


def mark_failed(database_url: str, batch_id: int, error: str) -> None:
    with connect(database_url) as connection:
        connection.execute(
            "UPDATE ingest_batch SET status = 'failed', error = %s, finished_at = now()"
            " WHERE id = %s AND status = 'received'",
            (error, batch_id),
        )


def _release(resources: WorkerResources, batch_id: int) -> None:
    """The batch is final: its file goes, unless files are kept for a while (then `sweep` removes it)."""
    if resources.config.inbox_keep_seconds <= 0:
        discard(batch_file(resources.home, batch_id))


async def recover_stalled_jobs(app: procrastinate.App, resources: WorkerResources) -> None:
    """The jobs of workers that stopped sending heartbeats (killed, lost): each such attempt counts,
    and the job is tried again, or failed with its batch after the last attempt, as the task's
    retry strategy decides."""
    task = app.tasks[TASK]
    stalled = await app.job_manager.get_stalled_jobs(
        queue=QUEUE, seconds_since_heartbeat=resources.config.stalled_after
    )
    for job in stalled:
        try:
            await _recover(app, resources, task, job)
        except Exception:
            # Another worker's recovery changed it first (procrastinate refuses a second change),
            # or the database is away: the next round sees the job as it is then.
            log.warning("job %s of a dead worker: not recovered this round", job.id, exc_info=True)


async def _recover(
    app: procrastinate.App, resources: WorkerResources, task: procrastinate.tasks.Task, job: Job
) -> None:
    attempt = job.attempts + 1  # the one its worker died in
    retry = task.get_retry_exception(WorkerDied(), job)
    if retry is not None:
        log.warning("job %s (attempt %s): its worker died; it goes back in the queue", job.id, attempt)
        await app.job_manager.retry_job(job, retry_at=retry.retry_decision.retry_at)
        return
    batch_id = int(job.task_kwargs["batch_id"])
    log.error(
        "job %s (attempt %s): its worker died; no attempt left: batch %s failed", job.id, attempt, batch_id
    )
    # The batch first: if finishing the job fails, the next round does both again (both are idempotent).
    reason = f"loading failed {attempt} times (last: the worker loading it died: killed, or out of memory)"
    await asyncio.to_thread(mark_failed, resources.database_url, batch_id, reason)
    await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
    _release(resources, batch_id)


async def housekeeping(app: procrastinate.App, resources: WorkerResources) -> None:
    """Every worker, in the background: take back stalled jobs, and sweep the inbox."""
    while True:
        try:
            await recover_stalled_jobs(app, resources)
            await asyncio.to_thread(
                sweep, resources.database_url, resources.home, resources.config.inbox_keep_seconds
            )
        except Exception:  # the database away for a while, say: try again at the next round
            log.exception("ingest housekeeping failed")
        await asyncio.sleep(resources.config.stalled_after / 2)


async def run_workers(
    app: procrastinate.App,
    resources: WorkerResources,
    concurrency: int,
    until_empty: bool = False,
) -> None:
    """Run `concurrency` loads at a time until cancelled (or the queue is empty), with housekeeping."""
    config = resources.config
    async with app.open_async():
        background = asyncio.create_task(housekeeping(app, resources))
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency,
                additional_context={"resources": resources},
                update_heartbeat_interval=config.heartbeat_seconds,
                stalled_worker_timeout=config.stalled_after,
                install_signal_handlers=False,
                wait=not until_empty,
            )
        finally:
            background.cancel()
