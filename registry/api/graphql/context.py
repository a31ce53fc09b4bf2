"""What every resolver knows about its request: who asks, why, and how to reach the data."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
import strawberry

from registry import reads
from registry.access.audit import C, PurposeRequired, access_record, audited_change, checked_purpose
from registry.access.roles import Permission
from registry.access.tokens import Principal
from registry.api.config import ApiConfig
from registry.api.errors import BadUserInput, Forbidden, NotFound
from registry.api.facility_directory import FacilityDirectory
from registry.api.graphql.loaders import Loaders
from registry.db.connections import Reads, Transaction
from registry.db.sql import Query, grouped
from registry.identity.errors import NotFoundError, StewardshipError

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Context:
    principal: Principal
    request_id: str
    # The request's connection: in autocommit, until a mutation begins its transaction.
    db: Reads | Transaction
    config: ApiConfig
    facilities: FacilityDirectory
    purpose_header: str | None = None
    transaction: Transaction | None = None
    # The operation as the request gave it.
    query: str = ""
    operation_name: str | None = None
    loaders: Loaders = field(init=False)
    # The source patients of every master patient this request has audited the read of: a
    # patient's identity and source records are shown from these rows only.
    audited_sources: dict[int, list[Any]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db)

    def begin_transaction(self) -> None:
        """Run every statement from now on in the request's transaction (a mutation's)."""
        if self.transaction is None:
            raise RuntimeError("this request has no transaction to run in")
        self.db = self.transaction
        self.loaders = Loaders(self.db)

    async def write(
        self,
        operation: Callable[Concatenate[psycopg.Connection[Any], P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run an operation that changes the registry, in the request's transaction (a mutation's)."""
        if self.transaction is None or self.db is not self.transaction:
            raise RuntimeError("a change outside a mutation's transaction")
        return await self.transaction.change(operation, *args, **kwargs)

    def require(self, permission: Permission) -> None:
        if not self.principal.can(permission):
            raise Forbidden(f"the {self.principal.role.value} role may not {permission.value}")

    def purpose(self, argument: str | None) -> str:
        """The purpose stated for a patient read: the `purpose` argument, else the X-Purpose header."""
        try:
            return checked_purpose(argument or self.purpose_header)
        except PurposeRequired as refused:
            raise BadUserInput(str(refused)) from None

    async def audit(self, master_ids: Iterable[int], operation: str, purpose: str) -> set[int]:
        """Record the read of these master patients (committed with the request, before the answer).

        Returns the ids of those that exist: only they are recorded, and only they may be read.
        Their source patients come in the same statement, for the identities the answer shows.
        """
        values = access_record(self.principal, master_ids, operation, purpose, self.request_id)
        if values is None:
            return set()
        rows = await self.db.read(Query(reads.AUDITED_SOURCES, values))
        audited = {row.audited for row in rows}
        self._keep_sources(audited, (row for row in rows if row.id is not None))
        return audited

    async def change(
        self,
        operation: str,
        purpose: str,
        change: Callable[Concatenate[psycopg.Connection[Any], P], C],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> tuple[C, set[int]]:
        """A steward's change (registry/identity/) and the audit of the identities it touched, in
        the mutation's transaction: the change done, and the identities audited. A refusal is the
        client's error, with the refusal's own words (who decided, when, what to do)."""
        try:
            return await self.write(
                audited_change, self.principal, operation, purpose, self.request_id, change, *args, **kwargs
            )
        except NotFoundError as missing:
            raise NotFound(str(missing)) from None
        except StewardshipError as refused:
            raise BadUserInput(str(refused)) from None

    async def identities_now(self, master_ids: Iterable[int]) -> dict[int, int | None]:
        """The identity each of these master patients is now, read in this request's transaction
        (after a change it made): itself while active; once retired, the active identity its records
        went to (following merges, as `patient(id:)` answers for a retired id); None when they scattered."""
        return {m: await self.db.read(reads.surviving_master(m)) for m in dict.fromkeys(master_ids)}

    async def read_sources(self, audited_master_ids: Iterable[int]) -> None:
        """Read again the source patients of masters whose read this request has already audited
        (in its transaction, with a change to them)."""
        masters = sorted(set(audited_master_ids))
        self._keep_sources(masters, await self.db.read(reads.sources_of_masters(masters)))

    def _keep_sources(self, masters: Iterable[int], sources: Iterable[Any]) -> None:
        """Keep these audited masters' source patients (rows of them), none for a master without."""
        by_master = grouped(sources, "master_patient_id")
        for master in masters:
            self.audited_sources[master] = by_master.get(master, [])

    def sources_of(self, master_id: int) -> list[Any]:
        """The source patients of a master patient whose read is audited."""
        try:
            return self.audited_sources[master_id]
        except KeyError:
            # A resolver that returned a patient without auditing its read: a defect, refused.
            raise RuntimeError(f"master patient {master_id} read without an audit") from None


Info = strawberry.Info[Context, None]
