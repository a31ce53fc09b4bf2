"""Loading facility files: parse, stage, merge and link, each file whole or not at all.

A file is loaded whole or not at all: a crash or kill at any point rolls everything back,
and loading the same file again completes it. The same bytes loaded twice change nothing
(recognised by SHA-256). An unreadable file changes nothing and is recorded as rejected.

Small files (a visit each, as the insurance portal sends them) are read ahead and loaded several
at a time in one transaction: staged together, merged by one set of statements (merge.py),
linked once, each with its own batch, counts and rejects. Files loaded together share no bytes,
patient or episode (a file that would is left for the next group), so each file's outcome is the
one it has alone; if the group's transaction fails, each of its files is loaded again alone, so
one bad file spoils no other. A large file is read as it is loaded (memory stays flat), alone.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Literal

import psycopg
from psycopg.types.json import Jsonb

from loaders.options import LoaderOptions
from loaders.records import FileHeader, UnreadableFile
from registry.db.sql import connect
from registry.facilities import register_facilities
from registry.identity.load_linking import link_changed_patients
from registry.ingest.merge import MergeCounts, StagedBatch, merge_staged
from registry.ingest.parsing import idle_cpus, staged_batches
from registry.ingest.staging import StagedRows, StagingWriter, stored_keys
from registry.lifetime import die_with_parent

Progress = Callable[[int], None]
LoadStatus = Literal["loaded", "duplicate", "rejected"]


@dataclass
class LoadResult:
    path: str
    status: LoadStatus
    batch_id: int | None = None
    format: str | None = None
    facility_code: str | None = None
    records_in: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped_tables: dict[str, int] = field(default_factory=dict)
    new_facilities: list[str] = field(default_factory=list)
    flagged: int = 0  # records stored with a suspect identifier flagged (counted in loaded/updated/unchanged)
    links_made: int = 0
    error: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary that `provreg load --json` prints."""
        return {
            "path": self.path,
            "status": self.status,
            "batch_id": self.batch_id,
            "format": self.format,
            "facility_code": self.facility_code,
            "records_in": self.records_in,
            "loaded": self.loaded,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "flagged": self.flagged,
            "skipped_tables": self.skipped_tables,
            "error": self.error,
        }


@dataclass(frozen=True)
class Submission:
    """Who sent a file, and how."""

    submitted_by: str
    channel: Literal["cli", "http"] = "cli"
    # The night the file covers, when its sender says so (provreg load --night, POST /ingest?night=);
    # otherwise the load dates it from its visits or its header (registry/ingest/merge.py).
    night: date | None = None
    # A batch row made when the file was received (HTTP ingest, status 'received'): the load fills it
    # in rather than making its own.
    received_batch_id: int | None = None


class _CountingReader(io.RawIOBase):
    """Reports bytes read to a progress callback."""

    def __init__(self, inner: BinaryIO, progress: Progress | None) -> None:
        self._inner = inner
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        if self._progress and data:
            self._progress(len(data))
        return len(data)


# Files up to this size are read ahead and loaded in groups of up to GROUP_FILES files and
# GROUP_BYTES bytes (bench/README.md: a one-visit file alone costs ~20 ms, mostly a transaction's
# and its statements' fixed costs).
GROUP_FILE_BYTES = 1 << 20
GROUP_FILES = 200
GROUP_BYTES = 16 << 20


@dataclass(frozen=True)
class IncomingFile:
    """A file to load, with what its sender said about it."""

    path: Path
    options: LoaderOptions
    submission: Submission


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_file(
    database_url: str,
    path: Path,
    options: LoaderOptions,
    submission: Submission,
    progress: Progress | None = None,
    processes: int | None = None,
    link: bool = True,
) -> LoadResult:
    """Load one file in one transaction; `processes` read a large XML 130 file (registry/ingest/parsing.py).

    `link=False` (a backfill) stores the records without linking them: the caller links them all
    at once afterwards with the batch re-link (registry.identity.batch_relink.relink_all).
    """
    with connect(database_url) as connection:
        connection.autocommit = True  # each load opens its own transaction
        (result,) = load_files(
            connection,
            [IncomingFile(path, options, submission)],
            link=link,
            processes=processes,
            progress=(lambda _: progress) if progress else None,
        )
    return result


def load_files(
    connection: psycopg.Connection[Any],
    files: Iterable[IncomingFile],
    *,
    link: bool = True,
    processes: int | None = None,
    progress: Callable[[IncomingFile], Progress | None] | None = None,
) -> Iterator[LoadResult]:
    """Load these files in order on this connection (in autocommit: each group is a transaction of
    its own), yielding each one's result in order as its group commits.

    `processes`: worker processes reading small files ahead, and a large XML 130 file's HOSOs
    (default `parsing.idle_cpus()`; 1 reads here). `progress`: asked when a large file starts, for a
    callback told of the bytes read as it is loaded.
    """
    processes = processes or idle_cpus()
    group: list[_File] = []
    group_keys: set[tuple[str, ...]] = set()
    group_bytes = 0
    for read in _read_in_order(files, processes, progress):
        if read.stream is None and not (
            len(group) >= GROUP_FILES
            or group_bytes + read.size > GROUP_BYTES
            or not group_keys.isdisjoint(read.keys)
        ):
            group.append(read)
            group_keys |= read.keys
            group_bytes += read.size
            continue
        yield from _load_group(connection, group, link)
        group, group_keys, group_bytes = [], set(), 0
        if read.stream is None:
            group, group_keys, group_bytes = [read], set(read.keys), read.size
            continue
        yield from _load_group(connection, [read], link)
    yield from _load_group(connection, group, link)


READ_AHEAD = 2 * GROUP_FILES  # small files read ahead at most
READ_HERE = 16  # small files read in this process before worker processes are started


def _read_in_order(
    files: Iterable[IncomingFile], processes: int, progress: Callable[[IncomingFile], Progress | None] | None
) -> Iterator[_File]:
    """The files in order: small ones read ahead (past the first few, by worker processes when
    there are idle CPUs: a file or two forks nothing), large ones to be read as they are loaded
    (`stream` set)."""
    pending: deque[Future[_File] | _File] = deque()
    readers: ProcessPoolExecutor | None = None
    small = 0
    try:
        for incoming in files:
            size = incoming.path.stat().st_size
            if size > GROUP_FILE_BYTES:
                while pending:
                    yield _done(pending.popleft())
                large = _File(incoming, file_sha256(incoming.path), size, _new_result(incoming))
                on_bytes = progress(incoming) if progress else None
                large.stream = functools.partial(_stream, large, on_bytes, processes)
                yield large
                continue
            small += 1
            if processes > 1 and small > READ_HERE:
                readers = readers or _readers(processes)
                pending.append(readers.submit(_read_ahead, incoming, size))
            else:
                pending.append(_read_ahead(incoming, size))
            while len(pending) > (READ_AHEAD if readers else 0):
                yield _done(pending.popleft())
        while pending:
            yield _done(pending.popleft())
    finally:
        if readers is not None:
            readers.shutdown(wait=True, cancel_futures=True)


def _done(read: Future[_File] | _File) -> _File:
    return read.result() if isinstance(read, Future) else read


def _readers(processes: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("fork"),  # the readers start with the loaders imported
        initializer=die_with_parent,  # a load killed (kill -9 included) leaves no reader behind
        initargs=(os.getpid(),),
    )


@dataclass
class _File:
    """A file and what its load knows of it: read ahead (a small one), or read as it is loaded."""

    incoming: IncomingFile
    sha256: str
    size: int
    as_read: LoadResult  # what reading it said (a rejected result if it could not be read)
    result: LoadResult = field(init=False)  # its load's
    header: FileHeader | None = None
    staged: list[StagedRows] = field(default_factory=list)
    last_position: int = 0  # of its records
    keys: set[tuple[str, ...]] = field(default_factory=set)  # its bytes, patients and episodes
    stream: Callable[[], Iterator[StagedRows]] | None = None  # a large file's rows, read as they are staged

    def __post_init__(self) -> None:
        self.result = dataclasses.replace(self.as_read)


def _new_result(incoming: IncomingFile) -> LoadResult:
    return LoadResult(path=str(incoming.path), status="loaded", facility_code=incoming.options.facility_code)


def _read_ahead(incoming: IncomingFile, size: int) -> _File:
    """A small file read whole before its group's transaction; unreadable, it is a rejected result."""
    data = incoming.path.read_bytes()
    read = _File(incoming, hashlib.sha256(data).hexdigest(), len(data), _new_result(incoming))
    read.keys.add(("bytes", read.sha256))
    try:
        facilities: set[str] = set()
        for item in staged_batches(io.BytesIO(data), incoming.options, processes=1):
            if isinstance(item, FileHeader):
                _read_header(read, item)
            else:
                read.staged.append(item)
                facilities |= item.facilities
                read.result.flagged += item.flagged
                read.keys |= stored_keys(item)
                read.last_position = max([read.last_position, *(row[0] for row in item.rows["stg_record"])])
        read.result.facility_code = _batch_facility(read.result.facility_code, facilities)
    except UnreadableFile as unreadable:
        read.result = _rejected(read.result, unreadable)
        read.staged = []
    read.as_read = dataclasses.replace(read.result)
    return read


def _read_header(read: _File, header: FileHeader) -> None:
    read.header = header
    read.result.format = header.format.value if header.format else None
    read.result.facility_code = read.result.facility_code or header.facility_code


def _rejected(result: LoadResult, unreadable: UnreadableFile) -> LoadResult:
    rejected = LoadResult(
        path=result.path, status="rejected", facility_code=result.facility_code, format=result.format
    )
    rejected.error = str(unreadable)
    return rejected


def _stream(large: _File, progress: Progress | None, processes: int | None) -> Iterator[StagedRows]:
    """A large file's staging rows as it is read; settles its facility at the end (see _batch_facility)."""
    facilities: set[str] = set()
    with large.incoming.path.open("rb") as raw_stream:
        stream = io.BufferedReader(_CountingReader(raw_stream, progress), buffer_size=1 << 16)
        for item in staged_batches(stream, large.incoming.options, processes):
            if isinstance(item, FileHeader):
                _read_header(large, item)
            else:
                facilities |= item.facilities
                large.result.flagged += item.flagged
                yield item
    large.result.facility_code = _batch_facility(large.result.facility_code, facilities)


def _load_group(connection: psycopg.Connection[Any], group: list[_File], link: bool) -> Iterator[LoadResult]:
    """Load these files in one transaction; if it fails, each of them alone."""
    if not group:
        return
    started = time.perf_counter()
    try:
        with connection.transaction():
            _load_in_transaction(connection, group, link)
    except UnreadableFile as unreadable:  # a large file's, found as it was read: nothing of it stays
        (large,) = group
        large.result = _rejected(large.result, unreadable)
        _record_rejected_file(connection, large)
    except Exception:
        if len(group) == 1:
            raise
        for read in group:
            yield from _load_group(connection, [read], link)
        return
    seconds = (time.perf_counter() - started) / len(group)  # a group's files share its time
    for read in group:
        read.result.seconds = seconds
        yield read.result


_EARLIER = """
SELECT DISTINCT ON (f.n) f.n, b.id, b.format, b.facility_code, b.records_in,
       b.loaded + b.updated + b.unchanged, b.rejected
FROM unnest(%(shas)s::text[], %(facilities)s::text[], %(nights)s::date[]) WITH ORDINALITY
     AS f (sha, facility, night, n)
JOIN ingest_batch b ON b.content_sha256 = f.sha AND b.status = 'loaded'
 AND b.facility_code = coalesce(f.facility, b.facility_code) AND (b.records_in > 0 OR b.extract_date = f.night)
ORDER BY f.n, b.id
"""


def _load_in_transaction(connection: psycopg.Connection[Any], group: list[_File], link: bool) -> None:
    for read in group:  # afresh: after a group's failure, its files are loaded again alone
        read.result = dataclasses.replace(read.as_read)
    # Loads of the same bytes queue up here, so only one of them does the work (in hash order, so
    # that two groups never wait for each other).
    connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(sha, 0)) FROM unnest(%s::text[]) AS sha",
        (sorted({read.sha256 for read in group}),),
    )
    # The same bytes already loaded for this facility (for any, when the file is to say which);
    # for an empty extract, only for the same declared night: each quiet night is its own batch.
    earlier = {
        n - 1: row
        for n, *row in connection.execute(
            _EARLIER,
            {
                "shas": [read.sha256 for read in group],
                "facilities": [read.incoming.options.facility_code for read in group],
                "nights": [read.incoming.submission.night for read in group],
            },
        )
    }
    to_open: list[_File] = []
    for n, read in enumerate(group):
        if n in earlier:
            received = read.incoming.submission.received_batch_id
            if received not in (None, earlier[n][0]):
                _close_received(connection, received, f"already loaded as batch {earlier[n][0]}")
            read.result = _duplicate(_new_result(read.incoming), earlier[n])
        else:
            to_open.append(read)
    nights = _open_batches(connection, to_open)
    loading = [read for read in to_open if read.result.status == "loaded"]
    if not loading:
        return
    writer = StagingWriter(connection)
    offset = 0
    for read in loading:
        batch_id = _batch_of(read)
        for staged in read.stream() if read.stream else read.staged:
            writer.add(staged, batch_id, offset)
        offset += read.last_position
    writer.flush()
    merged = merge_staged(
        connection,
        [
            StagedBatch(_batch_of(read), read.header.created_at if read.header else None, nights[n])
            for n, read in enumerate(loading)
        ],
    )
    links = link_changed_patients(connection) if link else Counter()
    for read in loading:
        result = read.result
        counts = merged[_batch_of(read)]
        result.records_in, result.loaded, result.updated = counts.records_in, counts.loaded, counts.updated
        result.unchanged, result.rejected = counts.unchanged, counts.rejected
        result.skipped_tables, result.new_facilities = counts.skipped_tables, counts.new_facilities
        result.links_made = links[result.batch_id]
    _close_batches(connection, loading, merged)
    # A refused file's batch names its facility if known, as it would after the files before it alone.
    for read in to_open:
        if read.result.status == "rejected" and read.result.facility_code:
            connection.execute(
                "UPDATE ingest_batch SET facility_code = (SELECT code FROM facility WHERE code = %s) WHERE id = %s",
                (read.result.facility_code, read.result.batch_id),
            )


def _batch_of(read: _File) -> int:
    assert read.result.batch_id is not None  # opened (_open_batches)
    return read.result.batch_id


def _duplicate(result: LoadResult, earlier: list[Any]) -> LoadResult:
    batch_id, file_format, facility, records_in, accepted, rejected = earlier
    result.status = "duplicate"
    result.batch_id, result.format, result.facility_code = batch_id, file_format, facility
    result.records_in, result.unchanged, result.rejected = records_in, accepted, rejected
    result.error = f"already loaded as batch {batch_id}; nothing changed"
    return result


_INSERT_BATCHES = """
INSERT INTO ingest_batch (facility_code, channel, submitted_by, filename, content_sha256, size_bytes, format,
                          status, error, finished_at)
SELECT (SELECT code FROM facility WHERE code = f.facility), f.channel, f.submitted_by, f.filename, f.sha, f.size,
       f.format, CASE WHEN f.error IS NULL THEN 'loading' ELSE 'rejected' END, f.error,
       CASE WHEN f.error IS NOT NULL THEN now() END
FROM unnest(%(facilities)s::text[], %(channels)s::text[], %(submitters)s::text[], %(filenames)s::text[],
            %(shas)s::text[], %(sizes)s::bigint[], %(formats)s::text[], %(errors)s::text[]) WITH ORDINALITY
     AS f (facility, channel, submitted_by, filename, sha, size, format, error, n)
ORDER BY f.n
RETURNING id, content_sha256
"""


def _open_batches(connection: psycopg.Connection[Any], files: list[_File]) -> list[date | None]:
    """Each file's batch (the one it was received with, or a new one: 'loading', or 'rejected' for an
    unreadable file); returns the night each loadable file's sender declared, in order."""
    register_facilities(
        connection,
        {read.incoming.options.facility_code for read in files if read.result.status == "loaded"} - {None},
    )
    nights: list[date | None] = []
    new = [read for read in files if read.incoming.submission.received_batch_id is None]
    if new:
        ids = dict(
            (sha, batch_id)
            for batch_id, sha in connection.execute(
                _INSERT_BATCHES,
                {
                    "facilities": [
                        read.result.facility_code
                        if read.result.error
                        else read.incoming.options.facility_code
                        for read in new
                    ],
                    "channels": [read.incoming.submission.channel for read in new],
                    "submitters": [read.incoming.submission.submitted_by for read in new],
                    "filenames": [read.incoming.path.name for read in new],
                    "shas": [read.sha256 for read in new],
                    "sizes": [read.size for read in new],
                    "formats": [read.result.format if read.result.error else None for read in new],
                    "errors": [read.result.error for read in new],
                },
            )
        )
        for read in new:
            read.result.batch_id = ids[read.sha256]
    for read in files:
        received = read.incoming.submission.received_batch_id
        if received is not None and read.result.error:
            _close_received(connection, received, read.result.error, read.result.format)
            read.result.batch_id = received
        elif received is not None:
            read.result.batch_id, night = _start_received(connection, received)
            nights.append(night)
        elif not read.result.error:
            nights.append(read.incoming.submission.night)
    return nights


def _batch_facility(named: str | None, in_records: set[str]) -> str:
    """Every batch is one facility's: the one the file or its sender names, else its records' only one."""
    if named is None and len(in_records) == 1:
        return next(iter(in_records))
    others = in_records - {named}
    if others:
        listed = ", ".join(sorted(in_records | ({named} if named else set())))
        raise UnreadableFile(
            f"the file holds records of several facilities ({listed}): send one file per facility"
        )
    if named is None:
        raise UnreadableFile(
            "the file's facility cannot be known: it names none (MACSKCB, serviceProvider or a facility"
            " column) and none was declared (--facility, or the facility token it was posted with)"
        )
    return named


_CLOSE_BATCHES = """
UPDATE ingest_batch b SET status = 'loaded', finished_at = now(), format = c.format,
    facility_code = c.facility_code, records_in = c.records_in, loaded = c.loaded, updated = c.updated,
    unchanged = c.unchanged, rejected = c.rejected, skipped_tables = c.skipped_tables,
    extract_date = c.extract_date, declared_count = c.declared_count, visits = c.visits,
    visits_with_citizen_id = c.visits_with_citizen_id
FROM unnest(%(ids)s::bigint[], %(formats)s::text[], %(facilities)s::text[], %(records_in)s::int[],
            %(loaded)s::int[], %(updated)s::int[], %(unchanged)s::int[], %(rejected)s::int[],
            %(skipped)s::jsonb[], %(dates)s::date[], %(declared)s::int[], %(visits)s::int[],
            %(with_citizen_id)s::int[])
     AS c (id, format, facility_code, records_in, loaded, updated, unchanged, rejected, skipped_tables,
           extract_date, declared_count, visits, visits_with_citizen_id)
WHERE b.id = c.id
"""


def _close_batches(
    connection: psycopg.Connection[Any], files: list[_File], merged: dict[int, MergeCounts]
) -> None:
    if not files:
        return
    results = [read.result for read in files]
    register_facilities(connection, [result.facility_code for result in results if result.facility_code])
    counts = [merged[_batch_of(read)] for read in files]
    connection.execute(
        _CLOSE_BATCHES,
        {
            "ids": [result.batch_id for result in results],
            "formats": [result.format for result in results],
            "facilities": [result.facility_code for result in results],
            "records_in": [result.records_in for result in results],
            "loaded": [result.loaded for result in results],
            "updated": [result.updated for result in results],
            "unchanged": [result.unchanged for result in results],
            "rejected": [result.rejected for result in results],
            "skipped": [Jsonb(result.skipped_tables) for result in results],
            "dates": [count.extract_date for count in counts],
            "declared": [read.header.declared_count if read.header else None for read in files],
            "visits": [count.visits for count in counts],
            "with_citizen_id": [count.visits_with_citizen_id for count in counts],
        },
    )


def _record_rejected_file(connection: psycopg.Connection[Any], read: _File) -> None:
    """The file changed nothing; keep a batch row saying who sent what and why it was refused."""
    with connection.transaction():
        _open_batches(connection, [read])


def _start_received(connection: psycopg.Connection[Any], batch_id: int) -> tuple[int, date | None]:
    """A batch received over HTTP: the night its sender declared was kept on it (extract_date)."""
    row = connection.execute(
        "UPDATE ingest_batch SET status = 'loading' WHERE id = %s AND status = 'received'"
        " RETURNING id, extract_date",
        (batch_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"batch {batch_id} is not waiting to be loaded")
    return batch_id, row[1]


def _close_received(
    connection: psycopg.Connection[Any], batch_id: int, error: str, file_format: str | None = None
) -> None:
    connection.execute(
        "UPDATE ingest_batch SET status = 'rejected', error = %s, format = %s, finished_at = now()"
        " WHERE id = %s AND status = 'received'",
        (error, file_format, batch_id),
    )
