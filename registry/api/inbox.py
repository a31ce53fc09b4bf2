"""The inbox: files received over HTTP, stored durably (fsync, atomic rename) before anyone is told "received".

A file is named by its SHA-256, so the same bytes are stored once, and the worker finds a
batch's file from the batch row alone.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

INBOX = "inbox"


@dataclass(frozen=True)
class StoredFile:
    path: Path
    sha256: str
    size: int


def inbox_dir(home: Path) -> Path:
    directory = home / INBOX
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def inbox_path(home: Path, sha256: str) -> Path:
    return inbox_dir(home) / sha256


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


async def store(home: Path, chunks: AsyncIterator[bytes]) -> StoredFile:
    """Write the chunks to the inbox; the file is on disk, under its hash, when this returns."""
    directory = inbox_dir(home)
    partial = directory / f".partial-{uuid.uuid4().hex}"
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
        final = directory / digest.hexdigest()
        os.replace(partial, final)
        _fsync_directory(directory)
    finally:
        partial.unlink(missing_ok=True)
    return StoredFile(final, digest.hexdigest(), size)
