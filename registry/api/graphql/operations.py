"""Facilities, their ingest batches and rejected records, tokens and the access log."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from registry import reads
from registry.api.errors import Forbidden
from registry.api.facility_directory import FacilityDirectory
from registry.api.graphql.context import Info
from registry.api.graphql.pagination import page_size


@strawberry.enum
class FacilityKind(Enum):
    HOSPITAL = "hospital"
    MEDICAL_CENTRE = "medical_centre"
    CLINIC = "clinic"
    CENTRAL_HOSPITAL = "central_hospital"
    UNKNOWN = "unknown"


@strawberry.type(
    description="A facility as referenced by records; name and kind are null for a code not registered."
)
class Facility:
    code: str
    name: str | None
    kind: FacilityKind | None

    @classmethod
    def of(cls, code: str, directory: FacilityDirectory) -> Facility:
        """The facility of this code as the directory knows it (by its code alone if it does not)."""
        row = directory.get(code)
        if row is None:
            return cls(code=code, name=None, kind=None)
        return cls(code=code, name=row.name, kind=FacilityKind(row.kind))


@strawberry.type
class RejectedRecord:
    position: int
    locator: str
    reason: str
    excerpt: str
    local_id: str | None
    encounter_key: str | None


@strawberry.type
class Batch:
    id: strawberry.ID
    facility_code: str | None
    channel: str
    filename: str | None
    content_sha256: str
    size_bytes: float
    format: str | None
    status: str
    error: str | None
    records_in: int
    loaded: int
    updated: int
    unchanged: int
    rejected: int
    skipped_tables: JSON
    received_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Batch:
        # The fields this type shows, from a row that may have more (a new column is not shown until it is added here).
        values = {name: getattr(row, name) for name in _BATCH_FIELDS}
        return cls(**{**values, "id": strawberry.ID(str(row.id))})

    @strawberry.field(
        description="Records of this batch that were refused, with reasons; sender and stewards only."
    )
    async def rejects(self, info: Info, first: int = 50, after_position: int = 0) -> list[RejectedRecord]:
        if not info.context.principal.may_read_rejects_of(self.facility_code):
            raise Forbidden("only the sending facility and stewards may read a batch's rejected records")
        limit = page_size(first, info.context.config.max_page_size)
        rows = await info.context.db.read(reads.rejects(int(self.id), after_position, limit))
        return [RejectedRecord(**{k: getattr(r, k) for k in RejectedRecord.__annotations__}) for r in rows]


_BATCH_FIELDS = tuple(name for name in Batch.__annotations__ if name != "id")


@strawberry.type
class FacilitySummary:
    code: str
    name: str
    kind: FacilityKind
    batches: int
    rejected_batches: int
    last_received_at: datetime | None

    @strawberry.field
    async def recent_batches(self, info: Info, first: int = 10) -> list[Batch]:
        if not info.context.principal.may_read_batches_of(self.code):
            raise Forbidden("this token may not read this facility's batches")
        limit = page_size(first, info.context.config.max_page_size)
        return [Batch.from_row(r) for r in await info.context.db.read(reads.batches(self.code, None, limit))]


@strawberry.type
class Token:
    id: strawberry.ID
    name: str
    role: str
    facility_code: str | None
    token_prefix: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def from_row(cls, row: Any) -> Token:
        values = row._asdict()
        values.pop("token_hash")
        return cls(**{**values, "id": strawberry.ID(str(row.id))})


@strawberry.type
class IssuedToken:
    token: Token
    secret: str = strawberry.field(
        description="The bearer token itself: shown this once, stored only as a hash."
    )


@strawberry.type
class AccessEntry:
    id: strawberry.ID
    accessed_at: datetime
    actor: str
    role: str
    operation: str
    purpose: str
    request_id: str

    @classmethod
    def from_row(cls, row: Any) -> AccessEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            accessed_at=row.accessed_at,
            actor=row.actor,
            role=row.role,
            operation=row.operation,
            purpose=row.purpose,
            request_id=row.request_id,
        )
