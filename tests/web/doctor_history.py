"""A patient seen at a district hospital and referred to Bạch Mai, with follow-up lab results at
both: the history the doctor's pages are tested on (tests/web/test_doctor*.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from loaders.records import Diagnosis, LabResult, Medication
from tests.api.conftest import load_records
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record

NAME = "Trần Thị Hồng Nhung"
BORN = (1958, 4, 23)
FACILITIES = {
    "27001": ("Bệnh viện Đa khoa huyện Thuận Thành", "hospital"),
    "01929": ("Bệnh viện Bạch Mai", "central_hospital"),
}


def _glucose(at: datetime, value: str) -> LabResult:
    return LabResult(
        service_code="DV0", code="GLU", name="Glucose máu", value=value, unit="mmol/L", result_at=at
    )


def load_history(database: Database, folder: Path) -> int:
    """The patient's master id. At 27001: a visit for diabetes (referred on to Bạch Mai), and a later
    follow-up; at 01929 (Bạch Mai): the inpatient stay the referral led to."""
    with database.begin() as connection:
        for code, (name, kind) in FACILITIES.items():
            connection.execute(
                "INSERT INTO facility (code, name, kind) VALUES (%(c)s, %(n)s, %(k)s)",
                {"c": code, "n": name, "k": kind},
            )
    first = datetime(2025, 3, 10, 8, 0)
    district = make_patient(
        "BN-501", facility_code="27001", full_name=NAME, born=BORN, sex=2, serial="501501"
    )
    central = make_patient("BM-77", facility_code="01929", full_name=NAME, born=BORN, sex=2, serial="501501")
    sent = make_encounter("TT-1", admitted_at=first, labs=0).model_copy(
        update={
            "visit_type": "01", "outcome": 3, "discharge_type": 2, "departments": ("K01",),
            "referred_to": "01929", "referral_paper": "GCT-501",
            "diagnoses": (Diagnosis(code="E11.9", is_main=True, text="ĐTĐ typ 2"), Diagnosis(code="I10", is_main=False)),
            "lab_results": (_glucose(first + timedelta(hours=1), "11.2"),),
        }
    )  # fmt: skip
    stay_at = first + timedelta(days=2)
    stay = make_encounter("BM-1", admitted_at=stay_at, labs=0).model_copy(
        update={
            "visit_type": "03", "outcome": 2, "discharge_type": 1, "departments": ("K02", "K08"),
            "referred_from": "27001", "referred_to": None,
            "diagnoses": (Diagnosis(code="E11.9", is_main=True), Diagnosis(code="N18.3", is_main=False)),
            "lab_results": (_glucose(stay_at + timedelta(hours=3), "9,4"),),
        }
    )  # fmt: skip
    later = first + timedelta(days=40)
    follow_up = make_encounter("TT-2", admitted_at=later, labs=0).model_copy(
        update={
            "visit_type": "05", "outcome": 2, "discharge_type": 1, "departments": ("K01",),
            "referred_to": None, "referral_paper": None,
            "diagnoses": (Diagnosis(code="E11.9", is_main=True),),
            "medications": (
                Medication(code="40.677", name="Metformin", strength="850mg", dosage="Uống 1 viên x 2 lần/ngày",
                           quantity=Decimal(60), unit="Viên", ordered_at=later),
            ),
            "lab_results": (_glucose(later + timedelta(hours=1), "7.1"),),
        }
    )  # fmt: skip
    load_records(
        database, folder, [make_record(1, district, sent), make_record(2, district, follow_up)], "27001"
    )
    load_records(database, folder, [make_record(1, central, stay)], "01929")
    with database.connect() as connection:
        [master] = connection.execute(
            "SELECT DISTINCT master_patient_id FROM patient_link WHERE superseded_at IS NULL"
        ).scalars()
    return int(master)
