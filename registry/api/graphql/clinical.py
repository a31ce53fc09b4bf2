"""A patient's clinical history: encounters at every facility with their details, and summaries across them.

Times are the facilities' local wall-clock times (Asia/Ho_Chi_Minh), without a zone, as sent.
An encounter and everything below it (Diagnosis, Medication, ...) is read by encounters.py: written
as JSON by the statement that reads it, or built here from its row (`Encounter.of`) with its
details loaded when asked for.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import strawberry

from registry.api.facility_directory import FacilityDirectory
from registry.api.graphql.context import Info
from registry.api.graphql.operations import Facility
from registry.api.graphql.pagination import PageInfo
from registry.codes import labels

T = TypeVar("T")


def _of_row(cls: type[T], row: Any) -> T:
    """An object whose every field is the column of its name."""
    return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


@strawberry.type(
    description="A code of an XML 130 code list with its labels (registry/codes/xml130.toml); "
    "the labels are null for a code the list does not have"
)
class CodeLabel:
    code: str = strawberry.field(description="As the facility sent it")
    vi: str | None = strawberry.field(description="In Vietnamese")
    en: str | None = strawberry.field(description="In English")

    @classmethod
    def of(cls, code_list: labels.CodeList, code: str | int | None) -> CodeLabel | None:
        found = labels.label(code_list, code)
        return None if found is None else cls(code=found.code, vi=found.vi, en=found.en)


@strawberry.type
class Diagnosis:
    code: str = strawberry.field(description="ICD-10, upper case and dotted (J18.9)")
    is_main: bool
    text: str | None = strawberry.field(description="The title the facility sent, as sent")
    title: str | None = strawberry.field(
        description="The code's title: the province's ICD-10 catalogue (Vietnamese) when loaded and "
        "holding the code, else the WHO's ICD-10 2019 (English); null for a code in neither"
    )
    title_en: str | None = strawberry.field(description="The code's title in the WHO's ICD-10 2019 (English)")


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
    id: strawberry.ID
    facility_code: str
    encounter_key: str = strawberry.field(description="The facility's episode key (MA_LK)")
    source_record_id: strawberry.ID
    record_number: str | None
    visit_type: str | None = strawberry.field(
        description="MA_LOAI_KCB: 01 exam, 02 outpatient, 03 inpatient, ..."
    )
    visit_type_label: CodeLabel | None = strawberry.field(description="MA_LOAI_KCB in words")
    admitted_at: datetime | None
    inpatient_at: datetime | None
    discharged_at: datetime | None
    departments: list[str]
    department_labels: list[CodeLabel] = strawberry.field(description="MA_KHOA in words, in order")
    outcome: int | None = strawberry.field(description="KET_QUA_DTRI: 1 cured, 2 improved, ... 5 died")
    outcome_label: CodeLabel | None = strawberry.field(description="KET_QUA_DTRI in words")
    discharge_type: int | None = strawberry.field(description="MA_LOAI_RV: 1 discharged, 2 transferred, ...")
    discharge_type_label: CodeLabel | None = strawberry.field(description="MA_LOAI_RV in words")
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

    @classmethod
    def of(cls, row: Any, facilities: FacilityDirectory) -> Encounter:
        """The encounter of an `encounter` row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            facility_code=row.facility_code,
            encounter_key=row.encounter_key,
            source_record_id=strawberry.ID(str(row.source_patient_id)),
            record_number=row.record_number,
            visit_type=row.visit_type,
            visit_type_label=CodeLabel.of("visit_type", row.visit_type),
            admitted_at=row.admitted_at,
            inpatient_at=row.inpatient_at,
            discharged_at=row.discharged_at,
            departments=list(row.departments),
            department_labels=[CodeLabel.of("department", d) for d in row.departments],  # type: ignore[misc]
            outcome=row.outcome,
            outcome_label=CodeLabel.of("outcome", row.outcome),
            discharge_type=row.discharge_type,
            discharge_type_label=CodeLabel.of("discharge_type", row.discharge_type),
            facility=Facility.of(row.facility_code, facilities),
            referred_from_code=row.referred_from,
            referred_from=Facility.of(row.referred_from, facilities) if row.referred_from else None,
            referred_to_code=row.referred_to,
            referred_to=Facility.of(row.referred_to, facilities) if row.referred_to else None,
            referral_paper=row.referral_paper,
            admission_diagnosis_text=row.admission_diagnosis_text,
            discharge_diagnosis_text=row.discharge_diagnosis_text,
            procedures=list(row.procedures),
            version=row.version,
            updated_at=row.updated_at,
        )

    # The details, each kind read for every encounter of the request at once (a DataLoader).
    @strawberry.field
    async def diagnoses(self, info: Info) -> list[Diagnosis]:
        return [_of_row(Diagnosis, r) for r in await info.context.loaders.diagnoses.load(int(self.id))]

    @strawberry.field
    async def medications(self, info: Info) -> list[Medication]:
        return [_of_row(Medication, r) for r in await info.context.loaders.medications.load(int(self.id))]

    @strawberry.field
    async def services(self, info: Info) -> list[Service]:
        return [_of_row(Service, r) for r in await info.context.loaders.services.load(int(self.id))]

    @strawberry.field
    async def lab_results(self, info: Info) -> list[LabResult]:
        return [_of_row(LabResult, r) for r in await info.context.loaders.lab_results.load(int(self.id))]

    @strawberry.field
    async def notes(self, info: Info) -> list[ProgressNote]:
        return [_of_row(ProgressNote, r) for r in await info.context.loaders.notes.load(int(self.id))]


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
    text: str | None = strawberry.field(description="A title a facility sent, as sent")
    title: str | None = strawberry.field(
        description="The province's ICD-10 title (Vietnamese) when loaded, else the WHO's (English)"
    )
    title_en: str | None = strawberry.field(description="The WHO's ICD-10 2019 title (English)")
    chapter: str | None = strawberry.field(description="The ICD-10 chapter, a roman numeral (IX)")
    chapter_title: str | None
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
