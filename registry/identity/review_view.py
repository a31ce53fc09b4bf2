"""The review queue as an operator reads it without a browser (`provreg review list`, `review show`):
each item with both records as their facilities recorded them, and why the engine hesitated.
Laid out for an 80-column terminal (and the same when piped: no colour, no wider lines), or as
JSON."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from matching import Thresholds
from matching.explain import in_words
from registry.db.sql import Query, Steps
from registry.identity.stewardship import review
from registry.terminal import plain_table

Order = Literal["priority", "newest", "oldest", "weight"]
_SEX = {1: "male", 2: "female", 3: "undetermined"}


@dataclass(frozen=True)
class ReviewRecord:
    """One side of a possible match: the record as recorded, and the identity it is in now."""

    source_patient_id: int
    master_patient_id: int | None
    facility_code: str
    local_id: str
    full_name: str
    birth_date: str | None
    sex: str | None
    citizen_id: str | None
    social_insurance_number: str | None
    phone: str | None
    address: str | None

    @property
    def label(self) -> str:
        return f"{self.facility_code}:{self.local_id}"

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__}


@dataclass(frozen=True)
class ReviewItemView:
    id: int
    status: str
    reason: str
    weight: float
    probability: float
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    record: ReviewRecord  # the record the engine was linking
    candidate: ReviewRecord
    steps: tuple[dict[str, Any], ...]  # the explanation: prior, then each field's level and weight
    model_version: str | None

    @property
    def same_identity(self) -> bool:
        return self.record.master_patient_id == self.candidate.master_patient_id

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "in_words": reason_in_words(self),
            "weight": round(self.weight, 3),
            "probability": self.probability,
            "created_at": self.created_at.isoformat(),
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "same_identity": self.same_identity,
            "model_version": self.model_version,
            "record": self.record.as_json(),
            "candidate": self.candidate.as_json(),
            "explanation": list(self.steps),
        }


def reason_in_words(item: ReviewItemView) -> str:
    """The item's evidence in one line of words, from its stored explanation (what nearly agrees,
    what agrees, what differs): `citizen ID one character apart; same name, birth date, phone`."""
    return in_words(item.steps)


def birth_text(year: int | None, month: int | None, day: int | None) -> str | None:
    """A birth date as recorded: yyyy-mm-dd, yyyy-mm or yyyy."""
    parts = [f"{year:04d}" if year else None]
    if year and month:
        parts.append(f"{month:02d}")
        if day:
            parts.append(f"{day:02d}")
    return "-".join(p for p in parts if p) or None


# Source patients (`sp`) with their current identity.
_WITH_MASTER = (
    "SELECT sp.*, l.master_patient_id FROM source_patient sp"
    " LEFT JOIN patient_link l ON l.source_patient_id = sp.id AND l.superseded_at IS NULL"
)


def _record(row: Any) -> ReviewRecord:
    return ReviewRecord(
        source_patient_id=row.id,
        master_patient_id=row.master_patient_id,
        facility_code=row.facility_code,
        local_id=row.local_id,
        full_name=row.full_name,
        birth_date=birth_text(row.birth_year, row.birth_month, row.birth_day),
        sex=_SEX.get(row.sex) if row.sex else None,
        citizen_id=row.citizen_id,
        social_insurance_number=row.social_insurance_number,
        phone=row.phone,
        address=row.address_text,
    )


def _records(ids: set[int]) -> Query[dict[int, ReviewRecord]]:
    return Query(
        _WITH_MASTER + " WHERE sp.id = ANY(%(ids)s::bigint[])",
        {"ids": sorted(ids)},
        lambda found: {row.id: _record(row) for row in found},
    )


def _views(items: Sequence[Any]) -> Steps[list[ReviewItemView]]:
    records = yield _records(
        {i.source_patient_id for i in items} | {i.candidate_source_patient_id for i in items}
    )
    return [
        ReviewItemView(
            id=i.id,
            status=i.status,
            reason=i.reason,
            weight=i.weight,
            probability=i.probability,
            created_at=i.created_at,
            decided_by=i.decided_by,
            decided_at=i.decided_at,
            record=records[i.source_patient_id],
            candidate=records[i.candidate_source_patient_id],
            steps=tuple((i.explanation or {}).get("steps", ())),
            model_version=(i.explanation or {}).get("model_version"),
        )
        for i in items
    ]


_LAST_VISIT = "(SELECT max(e.admitted_at) FROM encounter e WHERE e.source_patient_id = match_review.{})"


def list_reviews(
    *,
    status: str | None = "open",
    order: Order = "priority",
    limit: int = 50,
    facility: str | None = None,
    min_weight: float | None = None,
) -> Steps[list[ReviewItemView]]:
    """Review items (open ones by default; None: every status) in priority order, newest, oldest or
    strongest first; only those with a record of `facility`, or of at least `min_weight` bits, when
    given. Priority: first the items whose evidence reached the link threshold (held back by a
    safety rule: a steward says "same" to most of them), then the rest; within each, the pair with
    the most recent visit first (a patient being cared for now), then the strongest."""
    ordering = {
        "priority": f"weight >= {Thresholds().link} DESC, greatest({_LAST_VISIT.format('source_patient_id')},"
        f" {_LAST_VISIT.format('candidate_source_patient_id')}) DESC NULLS LAST, weight DESC, id",
        "newest": "created_at DESC, id DESC",
        "oldest": "created_at, id",
        "weight": "weight DESC, id",
    }[order]
    where = ["true"]
    if status is not None:
        where.append("status = %(status)s")
    if facility is not None:
        of_facility = "(SELECT id FROM source_patient WHERE facility_code = %(facility)s)"
        where.append(f"(source_patient_id IN {of_facility} OR candidate_source_patient_id IN {of_facility})")
    if min_weight is not None:
        where.append("weight >= %(min_weight)s")
    items = yield Query(
        f"SELECT * FROM match_review WHERE {' AND '.join(where)} ORDER BY {ordering} LIMIT %(limit)s",
        {"status": status, "facility": facility, "min_weight": min_weight, "limit": limit},
    )
    return (yield from _views(items))


def show_review(review_id: int) -> Steps[ReviewItemView | None]:
    found = yield review(review_id)
    return (yield from _views([found]))[0] if found is not None else None


HOUSEHOLD_SIZE = 10


@dataclass(frozen=True)
class HouseholdMember:
    """Another record sharing something with one side of a possible match (a twin, a parent whose
    card or phone a child's record carries): context for the decision."""

    record: ReviewRecord
    shares: tuple[
        str, ...
    ]  # what it shares: "citizen ID", "insurance number", "phone", "address and birth date"


def household(item: ReviewItemView) -> Query[list[HouseholdMember]]:
    """Other records sharing a citizen ID, an insurance number or a phone with either side, or its
    address and birth date (a twin); at most HOUSEHOLD_SIZE, oldest first."""
    sides = (item.record, item.candidate)
    keys = {
        "citizen ID": ("citizen_id", {r.citizen_id for r in sides} - {None}),
        "insurance number": ("social_insurance_number", {r.social_insurance_number for r in sides} - {None}),
        "phone": ("phone", {r.phone for r in sides} - {None}),
    }
    twins = {(r.address, r.birth_date) for r in sides if r.address and r.birth_date}
    params: dict[str, Any] = {"sides": [r.source_patient_id for r in sides], "limit": HOUSEHOLD_SIZE}
    shared = []
    for column, values in keys.values():
        if values:
            params[column] = sorted(values)
            shared.append(f"sp.{column} = ANY(%({column})s::text[])")
    for i, (address, born) in enumerate(sorted(twins)):
        parts = [int(part) for part in born.split("-")]
        params[f"address{i}"] = address
        same = [f"sp.address_text = %(address{i})s"]
        for column, value in zip(("birth_year", "birth_month", "birth_day"), parts, strict=False):
            params[f"{column}{i}"] = value
            same.append(f"sp.{column} = %({column}{i})s")
        shared.append("(" + " AND ".join(same) + ")")

    def members(found: list[Any]) -> list[HouseholdMember]:
        kept = []
        for row in found:
            record = _record(row)
            shares = [
                name for name, (_, values) in keys.items() if getattr(record, _ATTRIBUTE[name]) in values
            ]
            if any(record.address == a and (record.birth_date or "").startswith(b) for a, b in twins):
                shares.append("address and birth date")
            kept.append(HouseholdMember(record, tuple(shares)))
        return kept

    return Query(
        _WITH_MASTER + " WHERE NOT sp.id = ANY(%(sides)s::bigint[])"
        f" AND ({' OR '.join(shared) or 'false'}) ORDER BY sp.id LIMIT %(limit)s",
        params,
        members,
    )


_ATTRIBUTE = {"citizen ID": "citizen_id", "insurance number": "social_insurance_number", "phone": "phone"}


# The terminal ----------------------------------------------------------------------------------


def _who(record: ReviewRecord) -> Text:
    text = Text(record.full_name, style="bold")
    text.append(f"\n{record.label}", style="dim")
    if record.birth_date:
        text.append(f" {record.birth_date}")
    return text


def queue_table(items: Sequence[ReviewItemView], title: str) -> Table:
    table = plain_table(
        title=title,
        caption="`provreg review show ID`: both records side by side, and why."
        if items
        else "nothing to review",
    )
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("weight", justify="right", no_wrap=True)
    table.add_column("record", ratio=3, min_width=25)  # facility:local id and birth date on one line
    table.add_column("candidate", ratio=3, min_width=25)
    table.add_column("why held back", ratio=2)
    for item in items:
        weight = Text(f"{item.weight:+.1f}")
        weight.append(f"\n{item.probability:.0%}", style="dim")
        reason = Text(item.reason)
        reason.append(f"\n{reason_in_words(item)}", style="dim")
        if item.status != "open":
            reason.append(f"\n{item.status} by {item.decided_by}", style="dim")
        elif item.same_identity:
            reason.append("\n(in one identity now)", style="dim")
        table.add_row(str(item.id), weight, _who(item.record), _who(item.candidate), reason)
    return table


_FIELDS = (
    ("name", "full_name"),
    ("birth date", "birth_date"),
    ("sex", "sex"),
    ("citizen ID", "citizen_id"),
    ("social insurance", "social_insurance_number"),
    ("phone", "phone"),
    ("address", "address"),
    ("facility", "facility_code"),
    ("local id", "local_id"),
    ("source record", "source_patient_id"),
    ("patient (now)", "master_patient_id"),
)


def item_renderables(item: ReviewItemView) -> Iterator[RenderableType]:
    """An item in full: what it is, both records side by side, and the explanation's waterfall."""
    head = Text(f"review {item.id}: {item.status}", style="bold")
    head.append(f", weight {item.weight:+.2f} bits (probability {item.probability:.3f})")
    head.append(f"\nwhy held back: {item.reason}")
    head.append(f"\nin short: {reason_in_words(item)}")
    head.append(f"\nqueued {item.created_at:%Y-%m-%d %H:%M}")
    if item.model_version:
        head.append(f" by model {item.model_version}")
    if item.decided_by:
        when = f" at {item.decided_at:%Y-%m-%d %H:%M}" if item.decided_at else ""
        head.append(f"\ndecided by {item.decided_by}{when}")
    head.append(
        "\nthe two records are in one identity now"
        if item.same_identity
        else "\nthe two records are in two identities now"
    )
    yield head
    sides = plain_table()
    sides.add_column("", no_wrap=True, style="dim")
    sides.add_column("record (the one being linked)", ratio=1)
    sides.add_column("candidate", ratio=1)
    for label, attribute in _FIELDS:
        left, right = getattr(item.record, attribute), getattr(item.candidate, attribute)
        if left is None and right is None:
            continue
        mark = "" if left == right else "bold"
        sides.add_row(label, Text(_shown(left), style=mark), Text(_shown(right), style=mark))
    yield sides
    if item.steps:
        steps = plain_table(title="why: each field's evidence, in bits (positive: the same person)")
        steps.add_column("field", no_wrap=True)
        steps.add_column("level")
        steps.add_column("weight", justify="right", no_wrap=True)
        steps.add_column("total", justify="right", no_wrap=True)
        steps.add_column("values compared")
        for step in item.steps:
            values = " | ".join(str(step.get(side) or "-") for side in ("left", "right"))
            note = step.get("note")
            steps.add_row(
                str(step.get("field", "")),
                str(step.get("level", "")),
                f"{float(step.get('weight', 0.0)):+.2f}",
                f"{float(step.get('cumulative', 0.0)):+.2f}",
                values if step.get("field") != "prior" else str(note or ""),
            )
        yield steps


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)
