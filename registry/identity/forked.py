"""Stateful workers in forked processes: each object is served in its own child, which inherits
what the object holds (nothing is copied up front) and keeps what its calls build for later calls.
With one worker, calls run in the caller's process."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

Worker = TypeVar("Worker")


def _serve(worker: object, channel: Connection) -> None:
    """A worker's process: run the coordinator's calls until told to stop."""
    gc.disable()  # bulk work allocates millions of objects without cycles; the process ends with the work
    while True:
        message = channel.recv()
        if message is None:
            return
        method, args = message
        try:
            channel.send(("ok", getattr(worker, method)(*args)))
        except BaseException:  # reported to the coordinator, which raises it
            channel.send(("error", traceback.format_exc()))


class Forked(Generic[Worker]):
    """These workers, each in its own forked process when there is more than one."""

    def __init__(self, workers: Sequence[Worker]) -> None:
        self.workers = list(workers)
        self.count = len(self.workers)
        self._channels: list[Connection] = []
        self._processes: list[Any] = []
        self._pending: list[Any] = []

    def __enter__(self) -> Forked[Worker]:
        if self.count > 1:
            context = multiprocessing.get_context("fork")  # the children inherit the workers' data
            for worker in self.workers:
                parent, child = context.Pipe()
                process = context.Process(target=_serve, args=(worker, child), daemon=True)
                process.start()
                child.close()
                self._channels.append(parent)
                self._processes.append(process)
        return self

    def __exit__(self, *exc: object) -> None:
        for channel in self._channels:
            with contextlib.suppress(OSError):
                channel.send(None)
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()
        for channel in self._channels:
            channel.close()

    def start(self, method: str, args: Sequence[tuple[Any, ...]] | None = None) -> None:
        """Start `method` on every worker (args per worker); `results` waits for them."""
        calls = args if args is not None else [()] * self.count
        if self._channels:
            for channel, call in zip(self._channels, calls, strict=True):
                channel.send((method, call))
            self._pending = []
        else:
            self._pending = [
                getattr(worker, method)(*call) for worker, call in zip(self.workers, calls, strict=True)
            ]

    def results(self) -> list[Any]:
        if not self._channels:
            return self._pending
        answers = []
        for number, channel in enumerate(self._channels):
            try:
                status, value = channel.recv()
            except EOFError:
                raise RuntimeError(f"linking worker {number} died (out of memory?)") from None
            if status == "error":
                raise RuntimeError(f"linking worker {number} failed:\n{value}")
            answers.append(value)
        return answers

    def call(self, method: str, args: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        self.start(method, args)
        return self.results()
