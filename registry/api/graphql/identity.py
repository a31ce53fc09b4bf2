"""A master patient: its golden identity, its source records with their links, and its history."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import strawberry
from strawberry.scalars import JSON

from registry import reads
from registry.access.roles import Permission
from registry.api.errors import BadUserInput
from registry.api.graphql import encounters as history
from registry.api.graphql.clinical import (
    Condition,
    EncounterFilter,
    EncounterPage,
    LabPoint,
    MedicationUse,
    Referral,
)
from registry.api.graphql.context import Info
from registry.api.graphql.history import IdentityEvent
from registry.api.graphql.operations import Facility
from registry.api.graphql.pagination import page_size, parse_time_cursor
from registry.identity.golden_record import golden_record
from registry.identity.history import identity_history

CURRENT_MEDICATION_DAYS = 30
MAX_FILTER_VALUES = 50


@strawberry.type(description="A birth date as recorded: year only, or year, month and day")
class BirthDate:
    year: int
    month: int | None
    day: int | None
    text: str = strawberry.field(description="yyyy-mm-dd, or yyyy for a year-only birth date")

    @classmethod
    def of(cls, year: int | None, month: int | None, day: int | None) -> BirthDate | None:
        if not year:
            return None
        text = f"{year:04d}-{month:02d}-{day:02d}" if month and day else f"{year:04d}"
        return cls(year=year, month=month, day=day, text=text)


@strawberry.type
class Address:
    text: str | None
    province_code: str | None
    commune_code: str | None


@strawberry.type(description="A golden field and the source record it was taken from")
class FieldSource:
    field: str
    source_record_id: strawberry.ID


@strawberry.type(
    description=(
        "The golden identity, computed from the linked source records. Survivorship: the source bearing a "
        "citizen ID first, then the most recently updated, then the most complete; each field comes from "
        "the best-ranked source that has it, related fields (birth date parts, address parts, insurance "
        "number and cards) together from one source."
    )
)
class Identity:
    full_name: str | None
    birth_date: BirthDate | None
    sex: int | None = strawberry.field(description="1 male, 2 female, 3 undetermined")
    citizen_id: str | None
    social_insurance_number: str | None = strawberry.field(
        description="The insurance card's lifelong 10 digits"
    )
    insurance_cards: list[str]
    phone: str | None
    address: Address
    # Golden field -> the source record it came from; written out only when asked for.
    sources_of_fields: strawberry.Private[dict[str, int]]

    @strawberry.field(description="Which source record each golden field was taken from")
    def provenance(self) -> list[FieldSource]:
        return [
            FieldSource(field=f, source_record_id=strawberry.ID(str(i)))
            for f, i in self.sources_of_fields.items()
        ]

    @classmethod
    def of(cls, sources: list[Any]) -> Identity:
        golden = golden_record(sources)
        v = golden.values
        return cls(
            full_name=v["full_name"],
            birth_date=BirthDate.of(v["birth_year"], v["birth_month"], v["birth_day"]),
            sex=v["sex"],
            citizen_id=v["citizen_id"],
            social_insurance_number=v["social_insurance_number"],
            insurance_cards=list(v["insurance_cards"] or ()),
            phone=v["phone"],
            address=Address(
                text=v["address_text"], province_code=v["province_code"], commune_code=v["commune_code"]
            ),
            sources_of_fields=golden.provenance,
        )


@strawberry.type(
    description="A link from a source record to a master patient; changes supersede, never rewrite"
)
class Link:
    id: strawberry.ID
    master_patient_id: strawberry.ID
    method: str = strawberry.field(description="citizen_id, new_identity, score or steward")
    score: float | None
    explanation: JSON | None
    decided_by: str
    batch_id: strawberry.ID | None
    linked_at: datetime
    superseded_at: datetime | None

    @classmethod
    def from_history(cls, row: Any) -> Link:
        return cls(
            id=strawberry.ID(str(row.id)),
            master_patient_id=strawberry.ID(str(row.master_patient_id)),
            method=row.method,
            score=row.score,
            explanation=row.explanation,
            decided_by=row.decided_by,
            batch_id=strawberry.ID(str(row.batch_id)) if row.batch_id else None,
            linked_at=row.created_at,
            superseded_at=row.superseded_at,
        )

    @classmethod
    def current(cls, row: Any) -> Link:
        return cls(
            id=strawberry.ID(str(row.link_id)),
            master_patient_id=strawberry.ID(str(row.master_patient_id)),
            method=row.link_method,
            score=row.link_score,
            explanation=row.link_explanation,
            decided_by=row.link_decided_by,
            batch_id=strawberry.ID(str(row.link_batch_id)) if row.link_batch_id else None,
            linked_at=row.linked_at,
            superseded_at=None,
        )


@strawberry.type(
    description="A patient as one facility recorded them (the current version), and how it is linked"
)
class SourceRecord:
    id: strawberry.ID
    facility_code: str
    local_id: str = strawberry.field(description="The facility's patient code (MA_BN)")
    full_name: str
    birth_date: BirthDate | None
    sex: int | None
    citizen_id: str | None
    old_id_number: str | None
    passport_number: str | None
    insurance_cards: list[str]
    social_insurance_number: str | None
    phone: str | None
    address: Address
    nationality_code: str | None
    ethnicity_code: str | None
    occupation_code: str | None
    version: int
    first_received_at: datetime
    updated_at: datetime
    link: Link

    @classmethod
    def from_row(cls, row: Any) -> SourceRecord:
        return cls(
            id=strawberry.ID(str(row.id)),
            facility_code=row.facility_code,
            local_id=row.local_id,
            full_name=row.full_name,
            birth_date=BirthDate.of(row.birth_year, row.birth_month, row.birth_day),
            sex=row.sex,
            citizen_id=row.citizen_id,
            old_id_number=row.old_id_number,
            passport_number=row.passport_number,
            insurance_cards=list(row.insurance_cards),
            social_insurance_number=row.social_insurance_number,
            phone=row.phone,
            address=Address(
                text=row.address_text, province_code=row.province_code, commune_code=row.commune_code
            ),
            nationality_code=row.nationality_code,
            ethnicity_code=row.ethnicity_code,
            occupation_code=row.occupation_code,
            version=row.version,
            first_received_at=row.created_at,
            updated_at=row.updated_at,
            link=Link.current(row),
        )

    @strawberry.field
    def facility(self, info: Info) -> Facility:
        return Facility.of(self.facility_code, info.context.facilities)

    @strawberry.field(description="Every link this record has had, newest first")
    async def link_history(self, info: Info) -> list[Link]:
        return [Link.from_history(r) for r in await info.context.loaders.link_history.load(int(self.id))]


def _encounter_filter(given: EncounterFilter | None) -> reads.EncounterFilter:
    if given is None:
        return reads.EncounterFilter()
    facility_codes = tuple(given.facility_codes or ())
    visit_types = tuple(given.visit_types or ())
    if len(facility_codes) > MAX_FILTER_VALUES or len(visit_types) > MAX_FILTER_VALUES:
        raise BadUserInput(f"a filter takes at most {MAX_FILTER_VALUES} values")
    return reads.EncounterFilter(given.admitted_from, given.admitted_to, facility_codes, visit_types)


@strawberry.type(description="A master patient: one person across every facility")
class Patient:
    id: strawberry.ID

    @property
    def master_id(self) -> int:
        return int(self.id)

    @strawberry.field
    def identity(self, info: Info) -> Identity:
        return Identity.of(info.context.sources_of(self.master_id))

    @strawberry.field
    def source_records(self, info: Info) -> list[SourceRecord]:
        return [SourceRecord.from_row(r) for r in info.context.sources_of(self.master_id)]

    @strawberry.field(description="Encounters at every facility, newest admission first")
    async def encounters(
        self, info: Info, first: int = 20, after: str | None = None, filter: EncounterFilter | None = None
    ) -> EncounterPage:
        limit = page_size(first, info.context.config.max_page_size)
        cursor = parse_time_cursor(after) if after else None
        return await history.encounter_page(info, self.master_id, _encounter_filter(filter), cursor, limit)

    @strawberry.field(description="Every ICD-10 code diagnosed, with first and last time seen and where")
    async def conditions(self, info: Info) -> list[Condition]:
        rows = await info.context.db.read(reads.condition_summary(self.master_id))
        return [Condition(**r._asdict()) for r in rows]

    @strawberry.field(description="Drugs ordered since `since` (default: all), latest first")
    async def medications(self, info: Info, since: date | None = None) -> list[MedicationUse]:
        start = datetime.combine(since, time()) if since else None
        rows = await info.context.db.read(reads.medication_uses(self.master_id, start))
        latest = max((r.last_ordered_at for r in rows if r.last_ordered_at), default=None)
        recent = latest - timedelta(days=CURRENT_MEDICATION_DAYS) if latest else None
        return [
            MedicationUse(
                **r._asdict(), current=bool(recent and r.last_ordered_at and r.last_ordered_at >= recent)
            )
            for r in rows
        ]

    @strawberry.field(description="Every result of one lab code across facilities, oldest first")
    async def lab_series(self, info: Info, code: str) -> list[LabPoint]:
        rows = await info.context.db.read(reads.lab_series(self.master_id, code))
        return [
            LabPoint(
                value=r.value,
                unit=r.unit,
                name=r.name,
                result_at=r.result_at,
                facility_code=r.facility_code,
                encounter_id=strawberry.ID(str(r.encounter_id)),
                conclusion=r.conclusion,
            )
            for r in rows
        ]

    @strawberry.field(
        description="The referral chain: episodes that came by referral or ended in one, oldest first"
    )
    async def referrals(self, info: Info) -> list[Referral]:
        return await history.referrals(info, self.master_id)

    @strawberry.field(
        description=(
            "Every event that formed, merged, split or relinked this identity, oldest first: who, when, why, "
            "and for a steward's change the identities before and after (stewards)"
        )
    )
    async def identity_history(self, info: Info) -> list[IdentityEvent]:
        info.context.require(Permission.IDENTITY_WORK)
        entries = await info.context.db.read(identity_history(self.master_id))
        return [IdentityEvent.of(entry) for entry in entries]


@strawberry.type
class FieldComparison:
    comparison: str
    level: str = strawberry.field(description="How the values compare (same, same_letters, missing, ...)")
    weight: float = strawberry.field(description="Evidence in bits: positive for the same person")


@strawberry.type(description="A patient found by search, with why the matching engine ranked it so")
class PatientCandidate:
    patient: Patient
    best_source_record_id: strawberry.ID
    weight: float
    probability: float
    comparisons: list[FieldComparison]
