"""A file's units as staging rows, read across the cores when the file is a large XML 130 one.

The envelope is read here, in file order; its HOSOs, a batch at a time, are read (base64, tables,
validation) and turned into staging rows by worker processes forked for the file, while this
process COPYs what they return (staging.py). Batches come back in file order. An unreadable
HOSO refuses the file with the reason it gives when read in order: on the envelope's own problem
the batches before it are waited for first. A file of fewer than PARALLEL_FROM units, and any
other format, is read and staged in this process: a one-visit file forks nothing, and a FHIR or CSV
record, read here, would cost more to send to a worker than to stage (bench/README.md).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import BinaryIO

from loaders.options import LoaderOptions
from loaders.read import read_units
from loaders.records import FileHeader, Reject, SourceFormat, SourceRecord, UnreadableFile
from loaders.xml130 import RawHoso
from registry.ingest.staging import StagedRows, stage_units
from registry.lifetime import die_with_parent

BATCH_UNITS = 64  # units per task: large enough that sending them costs little beside reading them
PARALLEL_FROM = 256  # units read here before worker processes are started


def staged_batches(
    stream: BinaryIO, options: LoaderOptions, processes: int | None = None
) -> Iterator[FileHeader | StagedRows]:
    """The file's header, then its units as staging rows, a batch at a time, in file order.

    `processes`: worker processes for a large XML 130 file (default: `idle_cpus()`; 1 reads here).
    Raises UnreadableFile as loaders.read.read_units does.
    """
    processes = processes or idle_cpus()
    batch: list[SourceRecord | Reject | RawHoso] = []
    units = 0
    parallel = False  # HOSOs read by workers: set by the file's header
    pending: deque[Future[StagedRows]] = deque()
    pool: ProcessPoolExecutor | None = None
    try:
        try:
            for item in read_units(stream, options, defer=processes > 1):
                if isinstance(item, FileHeader):
                    parallel = processes > 1 and item.format is SourceFormat.XML130
                    yield item
                    continue
                batch.append(item)
                units += 1
                if len(batch) < BATCH_UNITS:
                    continue
                if not parallel or units <= PARALLEL_FROM:
                    yield stage_units(batch)
                else:
                    pool = pool or _workers(processes)
                    pending.append(pool.submit(stage_units, batch))
                    while len(pending) > 2 * processes:  # memory stays flat: a few batches in flight
                        yield pending.popleft().result()
                batch = []
        except UnreadableFile:
            for earlier in pending:  # a HOSO before the envelope's problem speaks first, as read in order
                earlier.result()
            stage_units(batch)
            raise
        while pending:
            yield pending.popleft().result()
        if batch:
            yield stage_units(batch)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def idle_cpus() -> int:
    """The CPUs nothing else is using (by the last minute's load average), at least one.

    Workers pay only on idle cores: on a machine already busy they add a tenth to the CPU a visit
    costs and wait on one another, and reading in the loading process is faster (bench/README.md).
    """
    return max(1, round((os.cpu_count() or 1) - os.getloadavg()[0]))


def _workers(processes: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("fork"),  # the workers start with the loaders imported
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )


def _start_worker(parent_pid: int) -> None:
    die_with_parent(parent_pid)  # a load killed (kill -9 included) leaves no worker behind
    gc.disable()  # staging rows hold no cycles; the worker ends with the file
