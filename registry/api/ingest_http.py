"""Nightly extracts over HTTP: POST /ingest stores the file, queues its load and answers 202 with a batch id.

The batch and its load's job are committed together (registry/ingest/queue.py `queue_load`).

- Only a facility token may post, and only its own facility's files: a file whose header names
  another facility is refused whole (403) and recorded as a rejected batch; the loader checks
  every record again when it runs (LoaderOptions.facility_code).
- The body is a raw file, or multipart/form-data with a `file` part; past the limit it is 413.
- The same bytes posted again by the same facility are recognised: the answer names the batch
  that has (or will have) loaded them, with status 200 if loaded, 202 if still waiting. Batches
  are per facility: another facility's post of the same bytes is a submission of its own, and an
  empty extract already loaded is never the same submission (each quiet night is a batch).
- `?night=yyyy-mm-dd` says which night the file covers (else the load dates it from its visits).
- The file is kept in the inbox under its batch's id when it makes a new batch (registry/ingest/inbox.py).
- GET /ingest/batches/{id}: status, counts and the first rejects of a batch.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loaders.options import LoaderOptions
from loaders.read import read_units
from loaders.records import FileHeader, UnreadableFile
from registry import reads
from registry.access.roles import Permission
from registry.access.tokens import Principal
from registry.api.auth import authenticated
from registry.api.errors import HTTP_STATUS, ApiError, BadUserInput, Forbidden, NotFound
from registry.api.limits import limited
from registry.db.connections import Reads, Transaction
from registry.db.sql import Steps
from registry.ingest.inbox import StoredFile, discard, keep, store
from registry.ingest.queue import queue_load

_CHUNK = 1 << 16
_REJECTS_SHOWN = 100
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _refusal(error: ApiError, **extra: Any) -> JSONResponse:
    return JSONResponse({**error.as_json(), **extra}, status_code=HTTP_STATUS[error.code])


async def _upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_CHUNK):
        yield chunk


async def _received_file(request: Request, home: Path) -> tuple[StoredFile, str | None]:
    """The posted file, stored in the inbox, and the name the sender gave it."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=4) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise BadUserInput("a multipart body needs its file in a part named `file`")
            return await store(home, _upload_chunks(upload)), upload.filename
    return await store(home, request.stream()), request.headers.get("x-filename")


def _declared_night(request: Request) -> date | None:
    """`?night=yyyy-mm-dd`: the night the file covers, as the posting job knows it."""
    raw = request.query_params.get("night")
    if raw is None:
        return None
    try:
        if _ISO_DAY.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise BadUserInput(f"night: {raw[:20]!r} is not a date (yyyy-mm-dd)")


def _declared_facility(path: Path) -> str | None:
    """The facility the file's header names, read without reading the records; None if it names none."""
    try:
        with path.open("rb") as stream:
            for item in read_units(stream, LoaderOptions()):
                return item.facility_code if isinstance(item, FileHeader) else None
    except UnreadableFile:
        return None  # the worker records why, as the batch's rejection
    return None


def _clean_filename(name: str | None) -> str | None:
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:255] or None


def _register(
    connection: psycopg.Connection[Any],
    principal: Principal,
    stored: StoredFile,
    filename: str | None,
    refusal: str | None,
    night: date | None,
) -> tuple[int, str, bool]:
    """The batch for this file: this facility's existing one for the same bytes, or a new one.
    Returns (id, status, new)."""
    # A facility's posts of the same bytes queue up here, so only one of them makes a batch.
    connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('http:' || %(facility)s || ':' || %(sha)s, 0))",
        {"facility": principal.facility_code, "sha": stored.sha256},
    )
    if refusal is None:
        # Only the same facility's: another's batch is not this one's to read (nor to answer with).
        # An empty extract loaded is never the same submission: each quiet night is its own.
        earlier = connection.execute(
            "SELECT id, status FROM ingest_batch WHERE content_sha256 = %(sha)s AND facility_code = %(facility)s"
            " AND (status IN ('received', 'loading') OR (status = 'loaded' AND records_in > 0))"
            " ORDER BY id DESC LIMIT 1",
            {"facility": principal.facility_code, "sha": stored.sha256},
        ).fetchone()
        if earlier is not None:
            return earlier[0], earlier[1], False
    # The night is declared by the sender; the load dates the batch from it.
    (batch_id,) = connection.execute(
        "INSERT INTO ingest_batch (facility_code, channel, submitted_by, filename, content_sha256, size_bytes,"
        " status, error, extract_date, finished_at)"
        " VALUES (%(facility)s, 'http', %(by)s, %(filename)s, %(sha)s, %(size)s, %(status)s, %(error)s,"
        " %(night)s, CASE WHEN %(refused)s THEN now() END) RETURNING id",
        {
            "facility": principal.facility_code,
            "by": f"token:{principal.name}",
            "filename": filename,
            "sha": stored.sha256,
            "size": stored.size,
            "status": "rejected" if refusal else "received",
            "error": refusal,
            "night": night,
            "refused": refusal is not None,
        },
    ).fetchone()  # type: ignore[misc]
    if refusal is None:
        queue_load(connection, batch_id)
    return batch_id, "rejected" if refusal else "received", True


async def post_ingest(request: Request) -> Response:
    state = request.app.state
    db = Transaction(state.transactions)
    try:
        principal = await authenticated(request, db)
        if not principal.can(Permission.POST_EXTRACT):
            raise Forbidden("only a facility token may post extracts")
        night = _declared_night(request)
        limited_request = limited(request, state.config.max_ingest_body_bytes)
        stored, filename = await _received_file(limited_request, state.home)
        kept = None
        try:
            declared = await asyncio.to_thread(_declared_facility, stored.path)
            refusal = None
            if declared is not None and declared != principal.facility_code:
                refusal = (
                    f"file is from facility {declared} but this token posts for {principal.facility_code}"
                )
            batch_id, status, new = await db.change(
                _register, principal, stored, _clean_filename(filename), refusal, night
            )
            # A new batch's file, under the batch's id before the batch is committed; a refused
            # one only if files are kept for audit. Posts of bytes already received keep none.
            if new and (refusal is None or state.config.ingest.inbox_keep_seconds > 0):
                kept = await asyncio.to_thread(keep, stored, state.home, batch_id)
            await db.commit()
        except BaseException:
            if kept is not None:  # its batch was not committed
                discard(kept)
            raise
        finally:
            discard(stored.path)  # the temporary name: gone already if kept
    except ApiError as error:
        return _refusal(error)
    finally:
        await db.close()
    if refusal is not None:
        return _refusal(Forbidden(refusal), batch_id=batch_id)
    answer = {"batch_id": batch_id, "status": status, "status_url": f"/ingest/batches/{batch_id}"}
    if new:
        state.metrics.files_received.inc()
        return JSONResponse(answer, status_code=202)
    answer["duplicate"] = True
    return JSONResponse(answer, status_code=200 if status == "loaded" else 202)


def _batch_answer(principal: Principal, batch_id: int) -> Steps[dict[str, Any]]:
    batch = yield reads.batch(batch_id)
    if batch is None:
        raise NotFound("no such batch")
    if not principal.may_read_batches_of(batch.facility_code):
        raise Forbidden("this token may not read this batch")
    answer: dict[str, Any] = {
        "batch_id": batch.id,
        "facility_code": batch.facility_code,
        "filename": batch.filename,
        "status": batch.status,
        "error": batch.error,
        "format": batch.format,
        "counts": {
            k: getattr(batch, k) for k in ("records_in", "loaded", "updated", "unchanged", "rejected")
        },
        "received_at": batch.received_at.isoformat(),
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }
    if principal.may_read_rejects_of(batch.facility_code):
        answer["rejects"] = [
            {"position": r.position, "locator": r.locator, "reason": r.reason, "local_id": r.local_id}
            for r in (yield reads.rejects(batch_id, 0, _REJECTS_SHOWN))
        ]
    return answer


async def get_batch(request: Request) -> Response:
    db = Reads(request.app.state.reads)
    try:
        principal = await authenticated(request, db)
        raw_id = request.path_params["batch_id"]
        if not (raw_id.isdigit() and len(raw_id) < 19):
            raise NotFound("no such batch")
        answer = await db.read(_batch_answer(principal, int(raw_id)))
    except ApiError as error:
        return _refusal(error)
    finally:
        await db.close()
    return JSONResponse(answer)
