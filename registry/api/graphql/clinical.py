"""A patient's clinical history: encounters at every facility with their details, and summaries across them.

Times are the facilities' local wall-clock times (Asia/Ho_Chi_Minh), without a zone, as sent.
An encounter and everything below it (Diagnosis, Medication, ...) is written as JSON by the
statement that reads it (rendering.py): a field reads the column of its Python name, so a page of
encounters is one statement however deep it goes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from orjson import Fragment
from sqlalchemy import Row

from registry.api.facility_directory import FacilityDirectory
from registry.api.graphql.executor import JsonByKey
from registry.api.graphql.operations import Facility
from registry.api.graphql.pagination import PageInfo


@strawberry.type
class Diagnosis:
    code: str = strawberry.field(description="ICD-10, upper case and dotted (J18.9)")
    is_main: bool
    text: str | None


@strawberry.type
class Medication:
    code: str | None
    name: str | None
    strength: str | None
    dosage: str | None
    route: str | None
    quantity: Decimal | None
    unit: str | None
    ordered_at: datetime | None
    performed_at: datetime | None


@strawberry.type
class Service:
    code: str | None
    supply_code: str | None
    name: str | None
    quantity: Decimal | None
    ordered_at: datetime | None
    performed_at: datetime | None
    result_at: datetime | None


@strawberry.type
class LabResult:
    service_code: str | None
    code: str | None
    name: str | None
    value: str | None = strawberry.field(description="As the facility sent it: not always a number")
    unit: str | None
    description: str | None
    conclusion: str | None
    result_at: datetime | None


@strawberry.type
class ProgressNote:
    text: str | None
    stage: str | None
    consultation: str | None
    surgery: str | None
    recorded_at: datetime | None
    author: str | None


@strawberry.type(description="One treatment episode (XML 130: one MA_LK) at one facility")
class Encounter:
    """Never built in Python: PostgreSQL writes an encounter's JSON (rendering.py), from this definition."""

    id: strawberry.ID
    facility_code: str
    encounter_key: str = strawberry.field(description="The facility's episode key (MA_LK)")
    source_record_id: strawberry.ID
    record_number: str | None
    visit_type: str | None = strawberry.field(
        description="MA_LOAI_KCB: 01 exam, 02 outpatient, 03 inpatient, ..."
    )
    admitted_at: datetime | None
    inpatient_at: datetime | None
    discharged_at: datetime | None
    departments: list[str]
    outcome: int | None = strawberry.field(description="KET_QUA_DTRI: 1 cured, 2 improved, ... 5 died")
    discharge_type: int | None = strawberry.field(description="MA_LOAI_RV: 1 discharged, 2 transferred, ...")
    facility: Facility
    referred_from_code: str | None
    referred_from: Facility | None = strawberry.field(
        description="The facility that referred the patient here (MA_NOI_DI)"
    )
    referred_to_code: str | None
    referred_to: Facility | None = strawberry.field(
        description="The facility the patient was referred to (MA_NOI_DEN)"
    )
    referral_paper: str | None
    admission_diagnosis_text: str | None
    discharge_diagnosis_text: str | None
    procedures: list[str] = strawberry.field(description="ICD-9-CM codes")
    version: int
    updated_at: datetime
    # The details: written with the encounter, in the same statement, when the operation asks for them.
    diagnoses: list[Diagnosis]
    medications: list[Medication]
    services: list[Service]
    lab_results: list[LabResult]
    notes: list[ProgressNote]


@strawberry.type
class EncounterPage:
    nodes: list[Encounter]
    page_info: PageInfo


@strawberry.input(description="Every condition given must hold; dates are days of admission, inclusive")
class EncounterFilter:
    admitted_from: date | None = None
    admitted_to: date | None = None
    facility_codes: list[str] | None = None
    visit_types: list[str] | None = None


@strawberry.type(description="One ICD-10 code across the patient's history")
class Condition:
    code: str
    text: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    facility_codes: list[str]
    encounters: int
    ever_main: bool = strawberry.field(description="Was it ever the main diagnosis of an episode")


@strawberry.type(description="One drug (code, name, strength) across the patient's history")
class MedicationUse:
    code: str | None
    name: str | None
    strength: str | None
    dosage: str | None
    unit: str | None
    first_ordered_at: datetime | None
    last_ordered_at: datetime | None
    orders: int
    facility_codes: list[str]
    current: bool = strawberry.field(
        description="Ordered within 30 days of the patient's latest medication order"
    )


@strawberry.type(description="One result of a lab code, at whichever facility measured it")
class LabPoint:
    value: str | None
    unit: str | None
    name: str | None
    result_at: datetime | None
    facility_code: str
    encounter_id: strawberry.ID
    conclusion: str | None


@strawberry.type(
    description="One step of the referral chain: an episode that came by referral or ended in one"
)
class Referral:
    encounter: Encounter
    from_facility: Facility | None
    at_facility: Facility
    to_facility: Facility | None

    @classmethod
    def of(cls, row: Row[Any], keys: list[str], facilities: FacilityDirectory) -> Referral:
        """A row of reads.referrals: the encounter's JSON for each response key, its facility codes."""
        return cls(
            encounter=JsonByKey((key, Fragment(row[i])) for i, key in enumerate(keys)),  # type: ignore[arg-type]
            from_facility=Facility.of(row.referred_from, facilities) if row.referred_from else None,
            at_facility=Facility.of(row.facility_code, facilities),
            to_facility=Facility.of(row.referred_to, facilities) if row.referred_to else None,
        )
