"""An identity's history as the API answers it (registry/identity/history.py): every event that
formed, merged, split or relinked it, with who, when, why and, for a steward's change, the
identities before and after."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from registry.identity.history import HistoryEntry, Move


def _id(value: int | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


@strawberry.type(description="A record's link changing identity in an event")
class RecordMove:
    source_record_id: strawberry.ID
    from_patient_id: strawberry.ID | None = strawberry.field(description="Null: the record's first link")
    to_patient_id: strawberry.ID
    link_id: strawberry.ID
    method: str

    @classmethod
    def of(cls, move: Move) -> RecordMove:
        return cls(
            source_record_id=strawberry.ID(str(move.source_patient_id)),
            from_patient_id=_id(move.from_master_id),
            to_patient_id=strawberry.ID(str(move.to_master_id)),
            link_id=strawberry.ID(str(move.link_id)),
            method=move.method,
        )


@strawberry.type(
    description=(
        "One event of an identity's history. The engine's: formed (its founding), linked (records joined "
        "it), left (records moved to another identity), grouped by the load or re-link that wrote them. "
        "A steward's: relink, split, review_decision, review_undo, merge, merge_undo, with the reason and "
        "the identities involved before and after (their records and links, the citizen ID held, what "
        "each id answered with)"
    )
)
class IdentityEvent:
    kind: str
    at: datetime = strawberry.field(description="When it happened")
    actor: str = strawberry.field(description='A steward ("steward:Ms Hoa"), or the engine that linked')
    reason: str | None
    patient_ids: list[strawberry.ID] = strawberry.field(description="The identities involved")
    moves: list[RecordMove]
    event_id: strawberry.ID | None = strawberry.field(description="A steward's change: its id (`undoMerge`)")
    review_id: strawberry.ID | None
    batch_id: strawberry.ID | None = strawberry.field(description="The engine's: the load's batch")
    undoes_event_id: strawberry.ID | None
    undone_by_event_id: strawberry.ID | None
    citizen_id_override: bool = strawberry.field(
        description="A merge of two identities carrying different citizen IDs, made by explicit override"
    )
    before: JSON | None
    after: JSON | None

    @classmethod
    def of(cls, entry: HistoryEntry) -> IdentityEvent:
        return cls(
            kind=entry.kind,
            at=entry.at,
            actor=entry.actor,
            reason=entry.reason,
            patient_ids=[strawberry.ID(str(m)) for m in entry.master_patient_ids],
            moves=[RecordMove.of(m) for m in entry.moves],
            event_id=_id(entry.event_id),
            review_id=_id(entry.review_id),
            batch_id=_id(entry.batch_id),
            undoes_event_id=_id(entry.undoes_event_id),
            undone_by_event_id=_id(entry.undone_by_event_id),
            citizen_id_override=entry.citizen_id_override,
            before=entry.before,
            after=entry.after,
        )
