"""Ingest worker processes: `provreg worker` runs workers in the foreground; `provreg serve` runs
them in a child process that it supervises.

The child is tied to its server: it is killed when the server ends, however it ends, kill -9
included (registry/lifetime.py). Killed, not stopped gracefully: a graceful stop waits for the
running load, which nobody would be waiting for; a killed load is rolled back whole (one
transaction), and its job is taken back by the next worker, as an attempt (queue.py).

The server replaces a worker that ends. One that keeps ending at once (the database away, say)
is restarted after a pause that doubles up to a minute, rather than in a tight loop; meanwhile
/readyz says there is no worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

from registry.config import IngestConfig
from registry.lifetime import die_with_parent
from registry.logs import LogFormat, set_up_logging

log = logging.getLogger("provreg.worker")

# A worker that ran this long before ending is replaced at once; one that ended sooner, after a pause.
_SETTLED_SECONDS = 60.0
_MAX_PAUSE_SECONDS = 60.0
# How long `stop` waits for the running load to finish before killing the worker.
STOP_GRACE_SECONDS = 30.0


def serve_workers(
    url: str, home: Path, concurrency: int, config: IngestConfig, log_format: LogFormat = "text"
) -> None:
    """Run ingest workers in this process until SIGTERM or SIGINT (after the running loads end):
    on the database at `url`, taking the posted files from `home`'s inbox."""
    from registry.ingest.queue import WorkerResources, queue_app, run_workers, worker_pool

    set_up_logging(log_format)
    pool = worker_pool(url, concurrency)
    resources = WorkerResources(database_url=url, home=home, config=config, pool=pool)

    async def main() -> None:
        task = asyncio.ensure_future(run_workers(queue_app(url, config.max_attempts), resources, concurrency))
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    finally:
        pool.close()


def _child(
    url: str, home: Path, concurrency: int, config: IngestConfig, log_format: LogFormat, parent_pid: int
) -> None:
    die_with_parent(parent_pid)
    serve_workers(url, home, concurrency, config, log_format)


class SupervisedWorker:
    """`provreg serve`'s ingest workers: a child process, replaced when it ends, ended with the server.

    One thread starts, watches and stops the child. It must live as long as the child does: the
    kernel's parent-death signal follows the thread that started the child, not the process.
    """

    def __init__(
        self, url: str, home: Path, concurrency: int, config: IngestConfig, log_format: LogFormat = "text"
    ) -> None:
        self.url = url
        self.log_format = log_format
        self.home = home
        self.concurrency = concurrency
        self.config = config
        self.spawn = multiprocessing.get_context("spawn")
        self.process: BaseProcess | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="provreg-worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker (its running load may finish within STOP_GRACE_SECONDS) and return when it has."""
        self._stopping.set()
        self._thread.join()

    def _supervise(self) -> None:
        pause = 0.0
        while not self._stopping.is_set():
            started = time.monotonic()
            process = self.spawn.Process(
                target=_child,
                args=(self.url, self.home, self.concurrency, self.config, self.log_format, os.getpid()),
                name="provreg-worker",
                # Not daemonic: a daemonic process may not start processes, and a large load's
                # linking runs in forked ones (registry/identity/forked.py).
                daemon=False,
            )
            process.start()
            self.process = process
            log.info("ingest worker [%s] started", process.pid)
            while process.is_alive():
                if self._stopping.wait(0.5):
                    self._end(process)
                    return
            process.join()
            ran = time.monotonic() - started
            pause = 0.0 if ran >= _SETTLED_SECONDS else min(max(pause * 2, 1.0), _MAX_PAUSE_SECONDS)
            log.warning(
                "ingest worker [%s] ended (exit code %s) after %.0f s: starting another in %.0f s",
                process.pid, process.exitcode, ran, pause,
            )  # fmt: skip
            self._stopping.wait(pause)

    def _end(self, process: BaseProcess) -> None:
        process.terminate()  # SIGTERM: it takes no more jobs and finishes the running ones
        process.join(STOP_GRACE_SECONDS)
        if process.is_alive():
            log.warning(
                "ingest worker [%s] still loading after %.0f s: killed", process.pid, STOP_GRACE_SECONDS
            )
            process.kill()
            process.join()
