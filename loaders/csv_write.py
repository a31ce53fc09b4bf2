"""Canonical records as a clinic CSV: the inverse of loaders.csv_clinic (synthetic data, tests).

One row per record, a column per profile `csv` key in the profile's order, headed by its first
(Vietnamese) name or its second (English) one. What a clinic CSV has no column for is not
written: drugs, services, labs, notes, diagnosis texts, and all but one person ID (the citizen
ID, else the old ID card, else the passport, all of which arrive in SO_CCCD).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import BinaryIO

from loaders.options import Profile
from loaders.records import SourceRecord


def write_csv(
    records: Iterable[SourceRecord],
    out: BinaryIO,
    profile: Profile,
    *,
    english: bool = False,
    delimiter: str = ",",
    bom: bool = False,
) -> None:
    columns = list(profile.csv_columns)
    header = [names[1] if english and len(names) > 1 else names[0] for names in profile.csv_columns.values()]
    text = io.TextIOWrapper(out, encoding="utf-8-sig" if bom else "utf-8", newline="")
    try:
        writer = csv.writer(text, delimiter=delimiter)
        writer.writerow(header)
        for record in records:
            values = _values(record)
            writer.writerow([values.get(column) or "" for column in columns])
    finally:
        text.flush()
        text.detach()  # the caller's stream stays open


def _values(record: SourceRecord) -> dict[str, str | None]:
    patient, encounter = record.patient, record.encounter
    values: dict[str, str | None] = {
        "facility_code": patient.facility_code,
        "local_id": patient.local_id,
        "full_name": patient.full_name,
        "birth_date": str(patient.birth_date) if patient.birth_date else None,
        "sex": str(patient.sex.value) if patient.sex is not None else None,
        "person_id": patient.citizen_id or patient.old_id_number or patient.passport_number,
        "insurance_card": ";".join(patient.insurance_cards),
        "phone": patient.phone,
        "address": patient.address.text,
        "province_code": patient.address.province_code,
        "district_code": patient.address.district_code,
        "commune_code": patient.address.commune_code,
    }
    if encounter is not None:
        values |= {
            "encounter_id": encounter.encounter_id,
            "visit_type": encounter.visit_type,
            "admitted_at": _time(encounter.admitted_at),
            "discharged_at": _time(encounter.discharged_at),
            "main_diagnosis": next((d.code for d in encounter.diagnoses if d.is_main), None),
            "secondary_diagnoses": ";".join(d.code for d in encounter.diagnoses if not d.is_main),
            "diagnosis_text": encounter.discharge_diagnosis_text,
            "referred_from": encounter.referred_from,
            "referred_to": encounter.referred_to,
            "outcome": str(encounter.outcome) if encounter.outcome is not None else None,
        }
    return values


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(sep=" ", timespec="seconds") if moment else None
