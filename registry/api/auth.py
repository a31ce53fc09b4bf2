"""Bearer-token authentication of an API request: the token's principal, or a clear refusal
(the principal found and kept by registry/access/principals.py)."""

from __future__ import annotations

from starlette.requests import Request

from registry.access.principals import principal_of
from registry.access.tokens import Principal
from registry.api.errors import Unauthenticated
from registry.db.connections import Reads, Transaction


def bearer_secret(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


async def authenticated(request: Request, db: Reads | Transaction) -> Principal:
    secret = bearer_secret(request)
    if secret is None:
        raise Unauthenticated("send a bearer token: Authorization: Bearer <token>")
    principal = await principal_of(request.app.state.principals, db, secret)
    if principal is None:
        raise Unauthenticated("the token is unknown, revoked or expired")
    return principal
