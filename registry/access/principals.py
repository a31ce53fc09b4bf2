"""Whose token a secret is: the principal of a live token, kept for a few seconds.

A doctor's system sends many requests with one token, and looking the token up is a database
round trip each time; so the principal of a live token is kept for a few seconds
(`ApiConfig.token_cache_seconds`, per server process). A revoked token is therefore refused
within those seconds, not at once; an expiring one is refused at its expiry. Unknown tokens are
not kept: every guess goes to the database.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from registry.access.tokens import Principal, authenticate, hash_secret
from registry.db.connections import Reads, Transaction


class PrincipalCache:
    """Principals of live tokens seen in the last few seconds, by the hash of their secret."""

    def __init__(self, seconds: float, max_tokens: int = 10_000) -> None:
        self._seconds = seconds
        self._max_tokens = max_tokens
        self._kept: dict[str, tuple[Principal, float]] = {}

    def get(self, secret_hash: str) -> Principal | None:
        kept = self._kept.get(secret_hash)
        if kept is None:
            return None
        principal, until = kept
        if time.monotonic() >= until:
            del self._kept[secret_hash]
            return None
        return principal

    def keep(self, secret_hash: str, principal: Principal) -> None:
        seconds = self._seconds
        if principal.expires_at is not None:
            seconds = min(seconds, (principal.expires_at - datetime.now(UTC)).total_seconds())
        if seconds <= 0:
            return
        if len(self._kept) >= self._max_tokens:
            self._kept.clear()  # more live tokens than expected: start again rather than grow
        self._kept[secret_hash] = (principal, time.monotonic() + seconds)


async def principal_of(cache: PrincipalCache, db: Reads | Transaction, secret: str) -> Principal | None:
    """The principal of a live token's secret (sent as a bearer token, or kept in the workbench's
    session cookie), or None for an unknown, revoked or expired one."""
    secret_hash = hash_secret(secret)
    principal = cache.get(secret_hash)
    if principal is None:
        principal = await db.read(authenticate(secret))
        if principal is None:
            return None
        cache.keep(secret_hash, principal)
    return principal
