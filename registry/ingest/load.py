"""Loading one facility file: parse, stage, merge and link in a single transaction.

A file is loaded whole or not at all: a crash or kill at any point rolls everything back,
and loading the same file again completes it. The same bytes loaded twice change nothing
(recognised by SHA-256). An unreadable file changes nothing and is recorded as rejected.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
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
from registry.ingest.merge import MergeCounts, merge_staged
from registry.ingest.parsing import staged_batches
from registry.ingest.staging import StagingWriter

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
    started = time.perf_counter()
    sha256 = file_sha256(path)
    with connect(database_url) as connection:
        result = _load_in_transaction(
            connection, path, sha256, options, submission, progress, processes, link
        )
    result.seconds = time.perf_counter() - started
    return result


def _load_in_transaction(
    connection: psycopg.Connection[Any],
    path: Path,
    sha256: str,
    options: LoaderOptions,
    submission: Submission,
    progress: Progress | None,
    processes: int | None,
    link: bool,
) -> LoadResult:
    result = LoadResult(path=str(path), status="loaded", facility_code=options.facility_code)
    try:
        with connection.transaction():
            # Loads of the same bytes queue up here, so only one of them does the work.
            connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (sha256,))
            # The same bytes already loaded for this facility (for any, when the file is to say which);
            # for an empty extract, only for the same declared night: each quiet night is its own batch.
            earlier = connection.execute(
                "SELECT id, format, facility_code, records_in, loaded + updated + unchanged, rejected"
                " FROM ingest_batch WHERE content_sha256 = %s AND status = 'loaded'"
                " AND facility_code = coalesce(%s, facility_code)"
                " AND (records_in > 0 OR extract_date = %s)",
                (sha256, options.facility_code, submission.night),
            ).fetchone()
            if earlier is not None:
                if submission.received_batch_id not in (None, earlier[0]):
                    _close_received(
                        connection, submission.received_batch_id, f"already loaded as batch {earlier[0]}"
                    )
                return _duplicate(result, earlier)
            batch_id, night = _open_batch(connection, path, sha256, options, submission)
            result.batch_id = batch_id
            header = _stage_file(connection, path, options, progress, processes, result)
            counts = merge_staged(connection, batch_id, header.created_at if header else None, night)
            result.links_made = link_changed_patients(connection, batch_id) if link else 0
            result.records_in, result.loaded, result.updated = (
                counts.records_in,
                counts.loaded,
                counts.updated,
            )
            result.unchanged, result.rejected = counts.unchanged, counts.rejected
            result.skipped_tables, result.new_facilities = counts.skipped_tables, counts.new_facilities
            _close_batch(connection, result, counts, header.declared_count if header else None)
    except UnreadableFile as unreadable:
        result = LoadResult(
            path=str(path), status="rejected", facility_code=result.facility_code, format=result.format
        )
        result.error = str(unreadable)
        result.batch_id = _record_rejected_file(connection, path, sha256, submission, result)
    return result


def _duplicate(result: LoadResult, earlier: tuple[Any, ...]) -> LoadResult:
    batch_id, file_format, facility, records_in, accepted, rejected = earlier
    result.status = "duplicate"
    result.batch_id, result.format, result.facility_code = batch_id, file_format, facility
    result.records_in, result.unchanged, result.rejected = records_in, accepted, rejected
    result.error = f"already loaded as batch {batch_id}; nothing changed"
    return result


def _open_batch(
    connection: psycopg.Connection[Any],
    path: Path,
    sha256: str,
    options: LoaderOptions,
    submission: Submission,
) -> tuple[int, date | None]:
    """The batch this load fills in, and the night its sender declared (if any)."""
    if options.facility_code:
        register_facilities(connection, [options.facility_code])
    if submission.received_batch_id is not None:
        return _start_received(connection, submission.received_batch_id)
    row = connection.execute(
        "INSERT INTO ingest_batch (facility_code, channel, submitted_by, filename, content_sha256,"
        " size_bytes, status) VALUES (%s, %s, %s, %s, %s, %s, 'loading') RETURNING id",
        (
            options.facility_code,
            submission.channel,
            submission.submitted_by,
            path.name,
            sha256,
            path.stat().st_size,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0]), submission.night


def _stage_file(
    connection: psycopg.Connection[Any],
    path: Path,
    options: LoaderOptions,
    progress: Progress | None,
    processes: int | None,
    result: LoadResult,
) -> FileHeader | None:
    """Stage the file's records; settle the one facility the batch is from (see _batch_facility)."""
    writer = StagingWriter(connection)
    header: FileHeader | None = None
    facilities: set[str] = set()
    with path.open("rb") as raw_stream:
        stream = io.BufferedReader(_CountingReader(raw_stream, progress), buffer_size=1 << 16)
        for item in staged_batches(stream, options, processes):
            if isinstance(item, FileHeader):
                header = item
                result.format = item.format.value if item.format else None
                result.facility_code = result.facility_code or item.facility_code
            else:
                writer.add(item)
                facilities |= item.facilities
                result.flagged += item.flagged
    writer.flush()
    result.facility_code = _batch_facility(result.facility_code, facilities)
    return header


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


def _close_batch(
    connection: psycopg.Connection[Any], result: LoadResult, counts: MergeCounts, declared_count: int | None
) -> None:
    register_facilities(connection, [result.facility_code])
    connection.execute(
        "UPDATE ingest_batch SET status = 'loaded', finished_at = now(), format = %s, facility_code = %s,"
        " records_in = %s, loaded = %s, updated = %s, unchanged = %s, rejected = %s, skipped_tables = %s,"
        " extract_date = %s, declared_count = %s, visits = %s, visits_with_citizen_id = %s"
        " WHERE id = %s",
        (
            result.format,
            result.facility_code,
            result.records_in,
            result.loaded,
            result.updated,
            result.unchanged,
            result.rejected,
            Jsonb(result.skipped_tables),
            counts.extract_date,
            declared_count,
            counts.visits,
            counts.visits_with_citizen_id,
            result.batch_id,
        ),
    )


def _record_rejected_file(
    connection: psycopg.Connection[Any],
    path: Path,
    sha256: str,
    submission: Submission,
    result: LoadResult,
) -> int:
    """The file changed nothing; keep a batch row saying who sent what and why it was refused."""
    if submission.received_batch_id is not None:
        with connection.transaction():
            _close_received(connection, submission.received_batch_id, result.error or "", result.format)
        return submission.received_batch_id
    with connection.transaction():
        row = connection.execute(
            "INSERT INTO ingest_batch (facility_code, channel, submitted_by, filename, content_sha256,"
            " size_bytes, format, status, error, finished_at)"
            " VALUES ((SELECT code FROM facility WHERE code = %s), %s, %s, %s, %s, %s, %s, 'rejected', %s, now())"
            " RETURNING id",
            (
                result.facility_code,
                submission.channel,
                submission.submitted_by,
                path.name,
                sha256,
                path.stat().st_size,
                result.format,
                result.error,
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])


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
