"""Bearer tokens: made once, shown once, stored only as a SHA-256 hash; listed, revoked, expired.

Making and revoking are functions of a psycopg connection (the CLI's, the API's transaction); the
reads are `Query`s (registry/db/sql.py), run by both.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from registry.access.roles import Permission, Role, allows
from registry.db.sql import Query, Steps, first
from registry.facilities import register_facilities

SECRET_PREFIX = "prv_"
_SHOWN_PREFIX_CHARS = 12
_FACILITY_CODE = re.compile(r"[0-9A-Z]{5}\Z")  # \Z: `$` would take "27001\n" too
MAX_VALID_DAYS = 3650


class TokenError(ValueError):
    """A token cannot be made as asked (bad role, facility or name)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's identity, never the secret."""

    token_id: int
    name: str
    role: Role
    facility_code: str | None
    expires_at: datetime | None = None

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)

    def may_read_batches_of(self, facility_code: str | None) -> bool:
        if self.can(Permission.READ_ALL_BATCHES):
            return True
        return self.can(Permission.READ_OWN_BATCHES) and facility_code == self.facility_code

    def may_read_rejects_of(self, facility_code: str | None) -> bool:
        """Rejects quote the file (names, IDs): for the sending facility and stewards, not for admins."""
        if self.can(Permission.IDENTITY_WORK):
            return True
        return self.can(Permission.READ_OWN_BATCHES) and facility_code == self.facility_code


@dataclass(frozen=True)
class IssuedToken:
    id: int
    secret: str
    name: str
    role: Role
    facility_code: str | None
    expires_at: datetime | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    connection: psycopg.Connection[Any],
    *,
    name: str,
    role: Role,
    created_by: str,
    facility_code: str | None = None,
    valid_days: int | None = None,
) -> IssuedToken:
    """A new token; its secret is in the result and nowhere else."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise TokenError("a token's name must be 1 to 100 characters")
    if (role is Role.FACILITY) != (facility_code is not None):
        raise TokenError("a facility token needs --facility, and only a facility token takes one")
    if facility_code is not None:
        if not _FACILITY_CODE.match(facility_code):
            raise TokenError("a facility code is 5 characters [0-9A-Z]")
        register_facilities(connection, [facility_code])
    if valid_days is not None and not 1 <= valid_days <= MAX_VALID_DAYS:
        raise TokenError(f"a token is valid for 1 to {MAX_VALID_DAYS} days")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(days=valid_days) if valid_days else None
    (token_id,) = connection.execute(
        "INSERT INTO api_token (name, role, facility_code, token_hash, token_prefix, created_by, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            name,
            role.value,
            facility_code,
            hash_secret(secret),
            secret[:_SHOWN_PREFIX_CHARS],
            created_by,
            expires_at,
        ),
    ).fetchone()  # type: ignore[misc]
    return IssuedToken(token_id, secret, name, role, facility_code, expires_at)


def list_tokens() -> Query[list[Any]]:
    """Every token ever made (hashes included: they reveal nothing), oldest first."""
    return Query("SELECT * FROM api_token ORDER BY id", {})


def token_by_id(token_id: int) -> Query[Any]:
    return Query("SELECT * FROM api_token WHERE id = %(id)s", {"id": token_id}, first)


def revoke_token(connection: psycopg.Connection[Any], token_id: int, revoked_by: str) -> bool:
    """Revoke a token (the API refuses it once its short principal cache lapses, registry/access/principals.py);
    False if there is no such live token."""
    revoked = connection.execute(
        "UPDATE api_token SET revoked_at = now(), revoked_by = %s WHERE id = %s AND revoked_at IS NULL",
        (revoked_by, token_id),
    )
    return revoked.rowcount == 1


_LIVE_TOKEN = """
SELECT id, name, role, facility_code, expires_at FROM api_token
WHERE token_hash = %(token_hash)s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
"""


def authenticate(secret: str) -> Steps[Principal | None]:
    """The principal of a live token (not revoked, not expired), or None."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 100:
        return None
    row = yield Query(_LIVE_TOKEN, {"token_hash": hash_secret(secret)}, first)
    if row is None:
        return None
    return Principal(
        token_id=row.id,
        name=row.name,
        role=Role(row.role),
        facility_code=row.facility_code,
        expires_at=row.expires_at,
    )
