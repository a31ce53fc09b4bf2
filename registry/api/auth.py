"""Bearer-token authentication of a request: the token's principal, or a clear refusal."""

from __future__ import annotations

from starlette.requests import Request

from registry.access.tokens import Principal, authenticate
from registry.api.database import RequestConnection
from registry.api.errors import Unauthenticated


def bearer_secret(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


async def authenticated(request: Request, db: RequestConnection) -> Principal:
    secret = bearer_secret(request)
    if secret is None:
        raise Unauthenticated("send a bearer token: Authorization: Bearer <token>")
    principal = await db.run(authenticate, secret)
    if principal is None:
        raise Unauthenticated("the token is unknown, revoked or expired")
    return principal
