"""Canonical records for tests, built in code (no committed data files)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from loaders.dates import BirthDate
from loaders.records import (
    Address,
    Diagnosis,
    Encounter,
    LabResult,
    Medication,
    Patient,
    ProgressNote,
    Service,
    Sex,
    SourceRecord,
)


def citizen_id(province: str = "027", sex: int = 1, year: int = 1985, serial: str = "012345") -> str:
    """A citizen ID whose digits agree with the sex and birth year given."""
    century_sex = 2 * ((year - 1900) // 100) + (0 if sex == 1 else 1)
    return f"{province}{century_sex}{year % 100:02d}{serial}"


def make_patient(
    local_id: str = "BN0001",
    *,
    facility_code: str = "27001",
    full_name: str = "Nguyễn Văn An",
    born: tuple[int, int, int] = (1985, 3, 14),
    sex: int = 1,
    with_citizen_id: bool = True,
    serial: str = "012345",
) -> Patient:
    return Patient(
        facility_code=facility_code,
        local_id=local_id,
        full_name=full_name,
        birth_date=BirthDate(year=born[0], month=born[1], day=born[2]),
        sex=Sex(sex),
        citizen_id=citizen_id(sex=sex, year=born[0], serial=serial) if with_citizen_id else None,
        insurance_cards=(f"DN427{serial:0>10}",),
        social_insurance_number=f"{serial:0>10}",
        phone=f"09{serial:0>8}",
        address=Address(text="Thôn Đông, xã Tam Sơn, Bắc Ninh", province_code="24", commune_code="09241"),
    )


def make_encounter(
    encounter_id: str = "LK0001",
    *,
    admitted_at: datetime = datetime(2025, 11, 3, 8, 15),
    drugs: int = 3,
    services: int = 3,
    labs: int = 2,
    notes: int = 1,
    main_diagnosis: str = "E11",
) -> Encounter:
    at = admitted_at
    return Encounter(
        encounter_id=encounter_id,
        record_number=f"HS-{encounter_id}",
        visit_type="03",
        admitted_at=at,
        inpatient_at=at + timedelta(hours=1),
        discharged_at=at + timedelta(days=3),
        departments=("K01", "K19"),
        outcome=2,
        discharge_type=1,
        referred_to="01929",
        referral_paper="GCT-7",
        discharge_diagnosis_text="Đái tháo đường typ 2",
        diagnoses=(Diagnosis(code=main_diagnosis, is_main=True), Diagnosis(code="I10", is_main=False)),
        medications=tuple(
            Medication(
                code=f"40.{i}",
                name="Metformin",
                strength="500mg",
                dosage="1 viên x 2 lần/ngày",
                quantity=Decimal("20.5"),
                unit="viên",
                ordered_at=at + timedelta(hours=i),
            )
            for i in range(drugs)
        ),
        services=tuple(
            Service(
                code=f"DV{i}",
                name="Xét nghiệm",
                quantity=Decimal(1),
                ordered_at=at,
                result_at=at + timedelta(hours=2),
            )
            for i in range(services)
        ),
        lab_results=tuple(
            LabResult(
                service_code="DV0",
                code=f"GLU{i}",
                name="Glucose",
                value=f"{7 + i}.2",
                unit="mmol/L",
                result_at=at + timedelta(hours=2),
            )
            for i in range(labs)
        ),
        notes=tuple(
            ProgressNote(text="Bệnh nhân ổn định", recorded_at=at + timedelta(days=1)) for _ in range(notes)
        ),
    )


def make_record(position: int, patient: Patient, encounter: Encounter | None) -> SourceRecord:
    return SourceRecord(position=position, locator=f"HOSO {position}", patient=patient, encounter=encounter)
