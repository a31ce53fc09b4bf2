"""Probes: /healthz (the process answers) and /readyz (the database answers and its schema is current)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from registry.db import migrate


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        found = await asyncio.wait_for(
            asyncio.to_thread(migrate.status, request.app.state.database_url), timeout=5
        )
    except Exception as problem:  # any failure to reach the database means "not ready"
        return JSONResponse({"status": "unavailable", "reason": type(problem).__name__}, status_code=503)
    if not found.current:
        return JSONResponse({"status": "schema behind", "pending": found.pending}, status_code=503)
    return JSONResponse({"status": "ready"})
