"""The canonical record: what every loader produces, whatever the source format.

One record is one treatment episode (encounter) with the patient as the facility recorded
them at that episode; a patient sent without any episode (a FHIR Patient alone) is a record
with no encounter. Values are already validated and normalised (NFC text, dotted ICD-10,
12-digit citizen IDs, compact phones). A unit that cannot be stored meaningfully becomes a Reject;
a suspect identifier does not: it is left out of the canonical fields and kept in `flags`.
The JSON Schema of `SourceRecord` is published in schema/canonical-record.schema.json.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loaders import limits
from loaders.dates import BirthDate
from loaders.identifiers import citizen_id_conflicts

FacilityCode = Annotated[str, Field(pattern=r"^[0-9A-Z]{5}$", description="5-character MA_CSKCB")]
CitizenId = Annotated[str, Field(pattern=r"^[0-9]{12}$", description="12-digit citizen ID (CCCD)")]
Icd10Code = Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$", description="dotted ICD-10")]
# Text fields by kind, each with its length limit (loaders/limits.py).
Key = Annotated[str, Field(max_length=limits.KEY_CHARS)]
Code = Annotated[str, Field(max_length=limits.CODE_CHARS)]
Codes = Annotated[str, Field(max_length=limits.CODES_CHARS)]
Name = Annotated[str, Field(max_length=limits.NAME_CHARS)]
Label = Annotated[str, Field(max_length=limits.LABEL_CHARS)]
Text = Annotated[str, Field(max_length=limits.TEXT_CHARS)]
Note = Annotated[str, Field(max_length=limits.NOTE_CHARS)]


class Sex(IntEnum):
    """GIOI_TINH codes."""

    MALE = 1
    FEMALE = 2
    UNDETERMINED = 3


class SourceFormat(StrEnum):
    XML130 = "xml130"
    FHIR = "fhir"
    CSV = "csv"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FlagKind(StrEnum):
    """What is wrong with a field that was stored anyway (see README, "What is validated")."""

    MALFORMED = "malformed"  # not a value the field can hold: kept as sent, not used
    INCONSISTENT = (
        "inconsistent"  # a valid shape contradicting the record (a parent's ID on a child): not used
    )
    REPAIRED = (
        "repaired"  # recovered (a leading zero restored, full-width digits): the repaired value is used
    )


class FlaggedIdentifier(StrEnum):
    """Which identifier a flagged field was meant to hold."""

    PERSON_ID = "person_id"  # SO_CCCD: a citizen ID, an old ID card or a passport number
    INSURANCE_CARD = "insurance_card"
    REFERRAL_FACILITY = "referral_facility"  # MA_NOI_DI / MA_NOI_DEN


class FieldFlag(_Frozen):
    """A suspect field kept with the record instead of refusing the visit.

    The canonical field is left empty (or holds the repaired value) and the value sent is kept
    here exactly as sent, for the facility to fix. A malformed or inconsistent identifier is never
    a key: it cannot found or join an identity, and it is never an identity's citizen ID.
    """

    field: str = Field(description="the source field as the facility names it: SO_CCCD, identifier[cccd]")
    identifier: FlaggedIdentifier | None = Field(description="which identifier, for identifier fields")
    kind: FlagKind
    reason: str = Field(description="what is wrong, worded as a rejection would be, prefixed by the field")
    value: str = Field(max_length=200, description="the value exactly as sent (cut at 200 characters)")


# Omitted from the JSON when empty, so the content hash of an unflagged record is what it always was.
Flags = Annotated[tuple[FieldFlag, ...], Field(default=(), exclude_if=lambda flags: not flags)]


class Address(_Frozen):
    """Free text as written, plus administrative codes where the source gives them.

    Codes may be of either era: before July 2025 (province, district, commune) or after it
    (province, commune; districts abolished). The registry maps them with a dated crosswalk.
    """

    text: Label | None = None
    province_code: Code | None = None
    district_code: Code | None = None
    commune_code: Code | None = None


class Patient(_Frozen):
    facility_code: FacilityCode
    local_id: str = Field(
        min_length=1, max_length=limits.KEY_CHARS, description="MA_BN: the facility's patient code"
    )
    full_name: str = Field(
        min_length=1, max_length=limits.NAME_CHARS, description="HO_TEN, NFC, spacing folded"
    )
    birth_date: BirthDate | None = None
    sex: Sex | None = None
    citizen_id: CitizenId | None = None
    old_id_number: str | None = Field(default=None, pattern=r"^[0-9]{9}$", description="9-digit CMND")
    passport_number: str | None = Field(default=None, pattern=r"^[A-Z][0-9]{7}$")
    insurance_cards: tuple[Code, ...] = Field(
        default=(), max_length=limits.CODES_PER_FIELD, description="15-character MA_THE_BHYT codes"
    )
    social_insurance_number: str | None = Field(
        default=None, pattern=r"^[0-9]{10}$", description="lifelong 10 digits of the insurance card"
    )
    phone: Code | None = None
    address: Address = Address()
    nationality_code: Code | None = None
    ethnicity_code: Code | None = None
    occupation_code: Code | None = None
    flags: Flags = ()

    @model_validator(mode="after")
    def _citizen_id_agrees(self) -> Patient:
        if self.citizen_id is not None:
            year = self.birth_date.year if self.birth_date else None
            conflict = citizen_id_conflicts(self.citizen_id, sex=self.sex, birth_year=year)
            if conflict:
                raise ValueError(f"citizen ID {conflict}")
        return self


class Diagnosis(_Frozen):
    code: Icd10Code
    is_main: bool
    text: Text | None = None


class Medication(_Frozen):
    code: Codes | None = Field(default=None, description="MA_THUOC; several ingredients joined by '+'")
    name: Label | None = None
    strength: Label | None = None
    dosage: Label | None = Field(default=None, description="LIEU_DUNG, free text")
    route: Label | None = None
    quantity: Decimal | None = None
    unit: Label | None = None
    ordered_at: datetime | None = None
    performed_at: datetime | None = None


class Service(_Frozen):
    code: Codes | None = Field(default=None, description="MA_DICH_VU")
    supply_code: Codes | None = Field(default=None, description="MA_VAT_TU")
    name: Label | None = None
    quantity: Decimal | None = None
    ordered_at: datetime | None = None
    performed_at: datetime | None = None
    result_at: datetime | None = None


class LabResult(_Frozen):
    service_code: Codes | None = None
    code: Codes | None = Field(default=None, description="MA_CHI_SO")
    name: Label | None = None
    value: Label | None = Field(default=None, description="GIA_TRI, a string: not always numeric")
    unit: Label | None = None
    description: Text | None = None
    conclusion: Text | None = None
    result_at: datetime | None = None


class ProgressNote(_Frozen):
    text: Note | None = None
    stage: Note | None = None
    consultation: Note | None = None
    surgery: Note | None = None
    recorded_at: datetime | None = None
    author: Name | None = None


class Encounter(_Frozen):
    encounter_id: str = Field(min_length=1, max_length=limits.KEY_CHARS, description="MA_LK: the episode key")
    record_number: Key | None = Field(default=None, description="MA_HSBA")
    visit_type: str | None = Field(default=None, pattern=r"^[0-9]{2}$", description="MA_LOAI_KCB")
    admitted_at: datetime | None = None
    inpatient_at: datetime | None = None
    discharged_at: datetime | None = None
    departments: tuple[Code, ...] = Field(default=(), max_length=limits.CODES_PER_FIELD)
    outcome: int | None = Field(default=None, ge=1, le=8, description="KET_QUA_DTRI")
    discharge_type: int | None = Field(default=None, ge=1, le=5, description="MA_LOAI_RV")
    referred_from: FacilityCode | None = None
    referred_to: FacilityCode | None = None
    referral_paper: Key | None = None
    admission_diagnosis_text: Text | None = None
    discharge_diagnosis_text: Text | None = None
    diagnoses: tuple[Diagnosis, ...] = ()
    procedures: tuple[Code, ...] = Field(
        default=(), max_length=limits.CODES_PER_FIELD, description="ICD-9-CM codes (MA_PTTT_QT)"
    )
    medications: tuple[Medication, ...] = ()
    services: tuple[Service, ...] = ()
    lab_results: tuple[LabResult, ...] = ()
    notes: tuple[ProgressNote, ...] = ()
    flags: Flags = ()

    @model_validator(mode="after")
    def _ordered_times(self) -> Encounter:
        if self.admitted_at and self.discharged_at and self.discharged_at < self.admitted_at:
            raise ValueError("discharge time is before admission time")
        if sum(d.is_main for d in self.diagnoses) > 1:
            raise ValueError("more than one main diagnosis")
        return self


class SourceRecord(_Frozen):
    """One unit of a facility's file, validated: a patient and, usually, one encounter."""

    position: int = Field(description="1-based position of the unit in its file")
    locator: str = Field(description="where in the file, for people: 'HOSO 12', 'line 57', 'Bundle 3'")
    patient: Patient
    encounter: Encounter | None = None
    skipped_tables: tuple[str, ...] = Field(
        default=(), description="tables of the unit that provreg does not read (XML 130: XML7, XML13, ...)"
    )


class Reject(_Frozen):
    """A unit of a file that could not be accepted, with reasons a facility can act on."""

    position: int
    locator: str
    reasons: tuple[str, ...]
    excerpt: str = Field(default="", description="raw text around the problem, cut short")
    facility_code: str | None = None
    local_id: str | None = None
    encounter_id: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


class FileHeader(_Frozen):
    """What a file says about itself before its records."""

    format: SourceFormat | None = Field(
        description="None only for an empty file whose format was not declared"
    )
    facility_code: str | None = None
    created_at: datetime | None = None
    declared_count: int | None = None


LoadItem = SourceRecord | Reject


class UnreadableFile(Exception):
    """The file as a whole cannot be read (truncated, not UTF-8, bad base64, hostile XML, unknown format).

    Raised possibly after some records were yielded: the caller must discard the whole file.
    """
