"""The stewards' review queue: possible duplicates the engine would not decide alone, and the decisions.

Stewards only. Each item shows both source records as recorded, their current identities and why
the engine hesitated (the explanation's steps); every identity shown or changed is audited with
the stated purpose. The work itself is registry/identity/stewardship.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from matching.explain import in_words
from registry.access.roles import Permission
from registry.api.errors import NotFound
from registry.api.graphql.context import Info
from registry.api.graphql.identity import Patient, SourceRecord
from registry.api.graphql.loaders import Loaders
from registry.api.graphql.pagination import PageInfo, page_size, parse_id, parse_time_cursor, time_cursor
from registry.identity.stewardship import (
    ReviewDecided,
    decide_review,
    open_reviews,
    review,
    undo_review_decision,
)

Purpose = Annotated[str | None, strawberry.argument(description="Why (else the X-Purpose header)")]


@strawberry.type(description="One step of the match weight: a field's comparison level and its evidence")
class ExplanationStep:
    field: str = strawberry.field(description="The comparison (prior first: two records at random)")
    level: str
    weight: float = strawberry.field(description="Evidence in bits: positive for the same person")
    cumulative: float = strawberry.field(description="The match weight after this step")
    left: str = strawberry.field(description="The value compared, from the item's record")
    right: str = strawberry.field(description="The value compared, from the candidate")
    note: str

    @classmethod
    def of(cls, step: dict[str, Any]) -> ExplanationStep:
        return cls(
            field=str(step.get("field", "")),
            level=str(step.get("level", "")),
            weight=float(step.get("weight", 0.0)),
            cumulative=float(step.get("cumulative", 0.0)),
            left=str(step.get("left", "")),
            right=str(step.get("right", "")),
            note=str(step.get("note", "")),
        )


@strawberry.type(description="A steward's standing decision on a pair of source records")
class PairDecision:
    same_person: bool
    decided_by: str
    decided_at: datetime


@strawberry.type(description="One record of a possible match: as its facility recorded it, and its identity")
class ReviewRecord:
    source_record_id: strawberry.ID
    master_id: strawberry.Private[int]

    @strawberry.field(description="The master identity the record is linked to now")
    def patient(self) -> Patient:
        return Patient(id=strawberry.ID(str(self.master_id)))

    @strawberry.field(description="Facility, local id and demographics as recorded, with the current link")
    def source_record(self, info: Info) -> SourceRecord:
        for row in info.context.sources_of(self.master_id):
            if str(row.id) == self.source_record_id:
                return SourceRecord.from_row(row)
        raise NotFound("the record is no longer linked to that patient")


@strawberry.type(
    description="A possible match for a steward: two source records the engine would not decide on"
)
class ReviewItem:
    id: strawberry.ID
    status: str = strawberry.field(description="open, same, different or dismissed")
    reason: str = strawberry.field(description="Why it was held back for a steward")
    weight: float = strawberry.field(description="Match weight in bits")
    probability: float
    model_version: str | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    record: ReviewRecord = strawberry.field(description="The record the engine was linking")
    candidate: ReviewRecord = strawberry.field(description="The record it might be the same person as")
    same_identity: bool = strawberry.field(description="Whether the two are in one identity now")
    explanation: list[ExplanationStep] = strawberry.field(
        description="Why: the prior, then each field's level and weight (a waterfall)"
    )
    in_words: str = strawberry.field(
        description="The explanation in one line of words: what nearly agrees, what agrees, what differs"
    )
    pair_decision: PairDecision | None = strawberry.field(
        description="The decision standing on this pair (from this item or another), if any"
    )

    @classmethod
    def from_row(cls, row: Any) -> ReviewItem:
        explanation = row.explanation or {}
        return cls(
            id=strawberry.ID(str(row.id)),
            status=row.status,
            reason=row.reason,
            weight=round(row.weight, 3),
            probability=row.probability,
            model_version=explanation.get("model_version"),
            created_at=row.created_at,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            record=ReviewRecord(
                source_record_id=strawberry.ID(str(row.source_patient_id)), master_id=row.master_patient_id
            ),
            candidate=ReviewRecord(
                source_record_id=strawberry.ID(str(row.candidate_source_patient_id)),
                master_id=row.candidate_master_patient_id,
            ),
            same_identity=row.master_patient_id == row.candidate_master_patient_id,
            explanation=[ExplanationStep.of(step) for step in explanation.get("steps", ())],
            in_words=in_words(explanation.get("steps", ())),
            pair_decision=PairDecision(
                same_person=row.pair_same_person,
                decided_by=row.pair_decided_by,
                decided_at=row.pair_decided_at,
            )
            if row.pair_same_person is not None
            else None,
        )


@strawberry.type
class ReviewPage:
    nodes: list[ReviewItem]
    page_info: PageInfo


@strawberry.type(description="What a decision (or its undoing) did")
class ReviewOutcome:
    review: ReviewItem
    link_id: strawberry.ID | None = strawberry.field(
        description="The steward link made, or null when no record had to move"
    )
    moved_from_id: strawberry.ID | None = strawberry.field(
        description="The identity the item's record left, if it moved, even when the move retired it"
    )
    moved_from: Patient | None = strawberry.field(
        description=(
            "The identity the item's record left, if it moved, as it is now; when the move left it without "
            "records it is retired, and this is the identity its records went to (as `patient(id:)` answers)"
        )
    )
    patients: list[Patient] = strawberry.field(
        description="The identities affected, as they are now: both records' identities, and the one left if active"
    )


def _linked(row: Any) -> bool:
    return row.master_patient_id is not None and row.candidate_master_patient_id is not None


@strawberry.type
class ReviewQuery:
    @strawberry.field(
        description=(
            "Open possible matches, newest first (stewards); every identity shown is audited with its purpose"
        )
    )
    async def review_queue(
        self, info: Info, first: int = 20, after: str | None = None, purpose: Purpose = None
    ) -> ReviewPage:
        context = info.context
        context.require(Permission.IDENTITY_WORK)
        stated = context.purpose(purpose)
        limit = page_size(first, context.config.max_page_size)
        cursor = parse_time_cursor(after) if after else None
        rows = await context.db.read(open_reviews(cursor, limit + 1))
        page = rows[:limit]
        shown = [
            r for r in page if _linked(r)
        ]  # a record always has a link; an item without one is not shown
        await context.audit(
            [m for r in shown for m in (r.master_patient_id, r.candidate_master_patient_id)],
            "reviewQueue",
            stated,
        )
        last = page[-1] if len(rows) > limit else None
        return ReviewPage(
            nodes=[ReviewItem.from_row(r) for r in shown],
            page_info=PageInfo(
                has_next_page=last is not None,
                end_cursor=time_cursor(last.created_at, last.id) if last is not None else None,
            ),
        )


async def _outcome(
    info: Info, decided: tuple[ReviewDecided, set[int]], operation: str, purpose: str
) -> ReviewOutcome:
    """What the decision did, answered from the state it leaves: an identity it emptied is retired by
    now, and is shown as the identity its records went to (never as an error, once the change is made)."""
    context = info.context
    done, audited = decided
    context.loaders = Loaders(context.db)  # what this request loaded before the change is stale
    relinked = done.relinked
    moved_from = relinked.previous_master_id if relinked else None
    now = await context.identities_now([*done.master_ids, *([moved_from] if moved_from else [])])
    shown = [m for m in dict.fromkeys(now.values()) if m is not None]
    await context.read_sources(m for m in shown if m in audited)
    unaudited = [m for m in shown if m not in audited]
    if unaudited:
        await context.audit(unaudited, operation, purpose)
    row = await context.db.read(review(done.review_id))
    moved_from_now = now.get(moved_from) if moved_from else None
    return ReviewOutcome(
        review=ReviewItem.from_row(row),
        link_id=strawberry.ID(str(relinked.link_id)) if relinked else None,
        moved_from_id=strawberry.ID(str(moved_from)) if moved_from else None,
        moved_from=Patient(id=strawberry.ID(str(moved_from_now))) if moved_from_now else None,
        patients=[Patient(id=strawberry.ID(str(m))) for m in shown],
    )


@strawberry.type
class ReviewMutation:
    @strawberry.mutation(
        description=(
            "A steward's answer to a review item, kept for the pair (every later run honours it) and applied: "
            "same person moves the item's record to the candidate's identity; different people, when the "
            "two share an identity, gives the item's record one of its own. Moves are steward links."
        )
    )
    async def decide_review(
        self, info: Info, id: strawberry.ID, same_person: bool, purpose: Purpose = None
    ) -> ReviewOutcome:
        context = info.context
        context.require(Permission.IDENTITY_WORK)
        stated = context.purpose(purpose)
        steward = f"steward:{context.principal.name}"
        review_id = parse_id(id, "a review item id")
        done = await context.change("decideReview", stated, decide_review, review_id, same_person, steward)
        return await _outcome(info, done, "decideReview", stated)

    @strawberry.mutation(
        description=(
            "Undo a review decision: the record goes back to its previous identity (a new steward link), "
            "the pair's constraint is removed and the item is open again"
        )
    )
    async def undo_review_decision(
        self, info: Info, id: strawberry.ID, purpose: Purpose = None
    ) -> ReviewOutcome:
        context = info.context
        context.require(Permission.IDENTITY_WORK)
        stated = context.purpose(purpose)
        steward = f"steward:{context.principal.name}"
        review_id = parse_id(id, "a review item id")
        done = await context.change("undoReviewDecision", stated, undo_review_decision, review_id, steward)
        return await _outcome(info, done, "undoReviewDecision", stated)
