"""Request bodies with a ceiling: past it the request is refused (413) without reading the rest."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Message

from registry.api.errors import PayloadTooLarge


def limited(request: Request, limit: int) -> Request:
    """The same request, whose body raises PayloadTooLarge as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        return message

    return Request(request.scope, receive)


async def read_body(request: Request, limit: int) -> bytes:
    return await limited(request, limit).body()
