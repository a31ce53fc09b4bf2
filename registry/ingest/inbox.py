"""The inbox: files received over HTTP, stored durably (fsync, atomic rename) before anyone is told "received".

A file is written under a temporary name while it arrives, then kept under its batch's id
(`inbox/<batch id>`) if it makes a new batch: one file per batch, so a batch's file can be
removed when that batch is final without asking whether another submission of the same bytes
(another facility's, say) still needs it. Files that make no batch of their own (the same
bytes again) are not kept.

Removal: the worker removes a batch's file when it has finished with it (the batch is final),
unless the files are kept for a while for audit (PROVREG_INBOX_KEEP_SECONDS); `sweep` removes
what is left behind once that time has passed, and files of uploads or submissions that never
completed (a crash between writing a file and recording its batch).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from registry.db.sql import connect

INBOX = "inbox"
_PARTIAL = ".partial-"
# Files named by their SHA-256 were the inbox's names before it had one file per batch.
_LEGACY_NAME = re.compile(r"^[0-9a-f]{64}$")
# A file with no batch may belong to a submission still being recorded: it is left alone this long.
ORPHAN_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class StoredFile:
    path: Path
    sha256: str
    size: int


def inbox_dir(home: Path) -> Path:
    directory = home / INBOX
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def batch_file(home: Path, batch_id: int) -> Path:
    return inbox_dir(home) / str(batch_id)


def received_file(home: Path, batch_id: int, sha256: str) -> Path | None:
    """The file a batch was received with, if it is still in the inbox."""
    for path in (batch_file(home, batch_id), inbox_dir(home) / sha256):  # its own name, or the legacy one
        if path.is_file():
            return path
    return None


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


async def store(home: Path, chunks: AsyncIterator[bytes]) -> StoredFile:
    """Write the chunks to a temporary file of the inbox, on disk when this returns; `keep` or
    `discard` it then. Removed if the upload fails."""
    directory = inbox_dir(home)
    partial = directory / f"{_PARTIAL}{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return StoredFile(partial, digest.hexdigest(), size)


def keep(stored: StoredFile, home: Path, batch_id: int) -> Path:
    """Keep a stored file as its batch's: done before the batch is committed, so that a committed
    batch always has its file (a crash in between leaves a file without a batch, which `sweep` removes)."""
    final = batch_file(home, batch_id)
    os.replace(stored.path, final)
    _fsync_directory(final.parent)
    return final


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def usage(home: Path) -> tuple[int, int]:
    """Files in the inbox and their bytes (for /metrics)."""
    files = size = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(home / INBOX) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                if entry.is_file(follow_symlinks=False):
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
    return files, size


def sweep(database_url: str, home: Path, keep_seconds: float) -> int:
    """Remove the files no batch needs any more: a final batch's once `keep_seconds` have passed
    since it ended; files with no batch (an upload or a submission that never completed) after
    ORPHAN_GRACE_SECONDS. Returns how many were removed."""
    now = time.time()
    ages: dict[Path, float] = {}
    with contextlib.suppress(FileNotFoundError):
        for path in (home / INBOX).iterdir():
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                ages[path] = now - path.stat().st_mtime
    if not ages:
        return 0
    batch_ids = [int(path.name) for path in ages if path.name.isdigit()]
    hashes = [path.name for path in ages if _LEGACY_NAME.match(path.name)]
    with connect(database_url) as connection:
        # A batch's file may go when the batch is final and has been for the time files are kept.
        done: dict[int, bool] = {
            batch_id: expired
            for batch_id, expired in connection.execute(
                "SELECT id, status IN ('loaded', 'rejected', 'failed')"
                " AND coalesce(finished_at, received_at) < now() - make_interval(secs => %(keep)s)"
                " FROM ingest_batch WHERE id = ANY(%(ids)s)",
                {"ids": batch_ids, "keep": keep_seconds},
            )
        }
        needed = {
            sha256
            for (sha256,) in connection.execute(
                "SELECT content_sha256 FROM ingest_batch"
                " WHERE content_sha256 = ANY(%(hashes)s) AND status IN ('received', 'loading')",
                {"hashes": hashes},
            )
        }

    def removable(path: Path, age: float) -> bool:
        if path.name.isdigit():
            return done.get(int(path.name), age > ORPHAN_GRACE_SECONDS)  # no batch: after the grace
        if _LEGACY_NAME.match(path.name):
            return path.name not in needed and age > ORPHAN_GRACE_SECONDS
        return path.name.startswith(_PARTIAL) and age > ORPHAN_GRACE_SECONDS

    removed = [path for path, age in ages.items() if removable(path, age)]
    for path in removed:
        path.unlink(missing_ok=True)
    return len(removed)
