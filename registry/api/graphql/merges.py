"""A steward's identity-level changes: merge two patients, and undo a merge as one step.

Stewards only; each is one transaction (the mutation's) with a mandatory reason, recorded in both
identities' history (`Patient.identityHistory`), and audited with the identities it touched (the
purpose: the identity work and its reason). The work itself is registry/identity/merges.py.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from registry.access.roles import Permission
from registry.api.errors import BadUserInput
from registry.api.graphql.context import Info
from registry.api.graphql.identity import Patient
from registry.api.graphql.loaders import Loaders
from registry.api.graphql.pagination import parse_id
from registry.identity.errors import ReasonRequired
from registry.identity.history import checked_reason
from registry.identity.merges import merge_identities, undo_merge

Reason = Annotated[str, strawberry.argument(description="Why (1 to 500 characters), kept in the history")]


@strawberry.type(description="What a merge did")
class MergeOutcome:
    merge_id: strawberry.ID = strawberry.field(description="The merge in the history: `undoMerge` takes it")
    survivor: Patient = strawberry.field(description="The surviving patient, with every record of both")
    merged_id: strawberry.ID = strawberry.field(
        description="The merged patient's id: retired, it answers with the survivor"
    )
    moved_source_record_ids: list[strawberry.ID] = strawberry.field(
        description="The records that joined the survivor"
    )


@strawberry.type(description="What undoing a merge did")
class MergeUndoOutcome:
    undo_id: strawberry.ID = strawberry.field(description="The undoing in the history")
    merge_id: strawberry.ID
    survivor: Patient = strawberry.field(description="The survivor, as it was before the merge")
    restored: Patient = strawberry.field(description="The merged patient, active again under its own id")
    restored_source_record_ids: list[strawberry.ID]


def _purpose(reason: str) -> str:
    """The audit's purpose for a change: the identity work, and why."""
    try:
        return f"identity work: {checked_reason(reason)}"[:200]
    except ReasonRequired as refused:
        raise BadUserInput(str(refused)) from None


async def _shown(info: Info, masters: list[int], audited: set[int]) -> None:
    """The identities the answer shows, read as the change left them (its audit is the change's)."""
    info.context.loaders = Loaders(info.context.db)  # what this request loaded before the change is stale
    await info.context.read_sources(m for m in masters if m in audited)


@strawberry.type
class MergeMutation:
    @strawberry.mutation(
        description=(
            "Merge one patient into another (stewards): every record of both joins the survivor by a steward "
            "link, the merged id is retired and answers with the survivor, which takes its citizen ID if it "
            "held none. Two patients carrying different valid citizen IDs are refused unless "
            "`overrideCitizenIds` is true (recorded with the reason); so is a merge against a steward's "
            "'different people' decision on two of their records"
        )
    )
    async def merge_patients(
        self,
        info: Info,
        survivor_id: strawberry.ID,
        merged_id: strawberry.ID,
        reason: Reason,
        override_citizen_ids: bool = False,
    ) -> MergeOutcome:
        context = info.context
        context.require(Permission.IDENTITY_WORK)
        survivor, merged = parse_id(survivor_id, "a patient id"), parse_id(merged_id, "a patient id")
        done, audited = await context.change(
            "mergePatients", _purpose(reason), merge_identities, survivor, merged,
            f"steward:{context.principal.name}", reason, override_citizen_ids=override_citizen_ids,
        )  # fmt: skip
        await _shown(info, [done.survivor_id], audited)
        return MergeOutcome(
            merge_id=strawberry.ID(str(done.event_id)),
            survivor=Patient(id=strawberry.ID(str(done.survivor_id))),
            merged_id=strawberry.ID(str(done.merged_id)),
            moved_source_record_ids=[strawberry.ID(str(r)) for r in done.moved],
        )

    @strawberry.mutation(
        description=(
            "Undo a merge as one step (stewards): every link it rewrote restored as it was, the merged "
            "patient active again under its own id with its own records, both citizen IDs as they were. "
            "Refused once a record of either identity has moved since (relink by hand), and when already undone"
        )
    )
    async def undo_merge(self, info: Info, merge_id: strawberry.ID, reason: Reason) -> MergeUndoOutcome:
        context = info.context
        context.require(Permission.IDENTITY_WORK)
        merge = parse_id(merge_id, "a merge id")
        done, audited = await context.change(
            "undoMerge", _purpose(reason), undo_merge, merge, f"steward:{context.principal.name}", reason
        )
        await _shown(info, [done.survivor_id, done.merged_id], audited)
        return MergeUndoOutcome(
            undo_id=strawberry.ID(str(done.event_id)),
            merge_id=strawberry.ID(str(done.merge_event_id)),
            survivor=Patient(id=strawberry.ID(str(done.survivor_id))),
            restored=Patient(id=strawberry.ID(str(done.merged_id))),
            restored_source_record_ids=[strawberry.ID(str(r)) for r in done.restored],
        )
