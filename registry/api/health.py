"""Probes: /healthz (the process answers) and /readyz (the database answers, its schema is
current, and ingest is moving: a live worker when this server runs workers, no load running past
its time limit)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from registry.db import migrate
from registry.db.connections import Reads
from registry.ingest.queue import queue_health


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = request.app.state
    db = Reads(state.reads)
    try:
        found = await asyncio.wait_for(asyncio.to_thread(migrate.status, state.database_url), timeout=5)
        if not found.current:
            return JSONResponse({"status": "schema behind", "pending": found.pending}, status_code=503)
        queue = await asyncio.wait_for(db.read(queue_health(state.config.ingest)), timeout=5)
    except Exception as problem:  # any failure to reach the database means "not ready"
        return JSONResponse({"status": "unavailable", "reason": type(problem).__name__}, status_code=503)
    finally:
        await db.close()
    problems = queue.problems(state.config.require_worker)
    if problems:
        return JSONResponse({"status": "ingest stalled", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
