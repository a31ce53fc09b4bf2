"""Canonical records as FHIR R4 NDJSON: one collection Bundle per record, the inverse of loaders.fhir.

Used by the synthetic-data generator and the tests. Strings are written exactly as the record
holds them (NFD, upper case ...): reading them back is where they get normalised. Identifier
systems are the first of each profile list. What the reader does not map is not written:
strength and performed_at of drugs, services, notes, procedures, departments, outcome, and
a lab unit whose value is not a number (only valueQuantity carries a unit).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, BinaryIO

from loaders.fhir import (
    DIAGNOSIS_ROLE_SYSTEM,
    GENDERS,
    ICD10_SYSTEM,
    IDENTIFIER_TYPE_SYSTEM,
    VISIT_TYPE_SYSTEM,
    Json,
)
from loaders.options import Profile
from loaders.records import Encounter, LabResult, Medication, Patient, SourceRecord

_SEX_GENDERS = {sex: gender for gender, sex in GENDERS.items() if sex is not None}
# Encounter.class (v3 ActCode) is required by FHIR; MA_LOAI_KCB itself travels in Encounter.type.
_VISIT_CLASSES = {"03": "IMP", "04": "IMP", "09": "IMP", "06": "SS"}
_ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?")
_VIETNAM_ZONE = "+07:00"

PATIENT = "Patient/patient"
FACILITY = "Organization/facility"
ENCOUNTER = "Encounter/encounter"


def write_fhir_ndjson(records: Iterable[SourceRecord], out: BinaryIO, profile: Profile) -> None:
    for record in records:
        out.write(fhir_json(record_bundle(record, profile)) + b"\n")


def fhir_json(document: Any) -> bytes:
    """Compact UTF-8 JSON in which a Decimal is a number written digit for digit ("5.10" stays 5.10).

    json cannot write a Decimal as a number, so each goes in as a string marked with a token made
    for this call, and the marked strings are unquoted afterwards.
    """
    mark = secrets.token_hex(16)

    def marked(value: object) -> str:
        if isinstance(value, Decimal) and value.is_finite():
            return f"{mark}{value}"
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=marked)
    return re.sub(f'"{mark}([^"]*)"', r"\1", text).encode("utf-8")


def record_bundle(record: SourceRecord, profile: Profile) -> Json:
    """The record as a collection Bundle; Decimals stay Decimals (write them with fhir_json)."""
    resources = [_patient(record.patient, profile), _organisation(record.patient.facility_code, profile)]
    if record.encounter is not None:
        resources += _encounter_resources(record.encounter, profile)
    entries = [{"fullUrl": f"urn:provreg:{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "collection", "entry": _pruned(entries)}


def _system(profile: Profile, kind: str) -> str:
    return profile.fhir_identifier_systems[kind][0]


def _identifier(profile: Profile, kind: str, value: str | None) -> Json | None:
    return {"system": _system(profile, kind), "value": value} if value is not None else None


def _patient(patient: Patient, profile: Profile) -> Json:
    local_id_type = {
        "coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": profile.fhir_identifier_types["local_id"][0]}]
    }
    address = patient.address
    return {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [
            {"type": local_id_type, "value": patient.local_id},
            _identifier(profile, "citizen_id", patient.citizen_id),
            _identifier(profile, "old_id_card", patient.old_id_number),
            _identifier(profile, "passport", patient.passport_number),
            *(_identifier(profile, "insurance_card", card) for card in patient.insurance_cards),
        ],
        # One text, never split: a Vietnamese name's given part cannot be told from its last word.
        "name": [{"text": patient.full_name}],
        "gender": _SEX_GENDERS.get(patient.sex) if patient.sex is not None else None,
        "birthDate": str(patient.birth_date) if patient.birth_date else None,
        "telecom": [{"system": "phone", "value": patient.phone}] if patient.phone else None,
        "address": [
            {
                "text": address.text,
                "city": address.commune_code,
                "district": address.district_code,
                "state": address.province_code,
            }
        ],
        "managingOrganization": {"reference": FACILITY},
    }


def _organisation(code: str, profile: Profile) -> Json:
    return {
        "resourceType": "Organization",
        "id": "facility",
        "identifier": [_identifier(profile, "facility", code)],
    }


def _encounter_resources(encounter: Encounter, profile: Profile) -> list[Json]:
    conditions = [
        {
            "resourceType": "Condition",
            "id": f"condition-{number}",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": ICD10_SYSTEM, "code": diagnosis.code}], "text": diagnosis.text},
            "subject": {"reference": PATIENT},
            "encounter": {"reference": ENCOUNTER},
        }
        for number, diagnosis in enumerate(encounter.diagnoses, start=1)
    ]
    diagnosis_entries = [
        {
            "condition": {"reference": f"Condition/condition-{number}"},
            "use": {"coding": [{"system": DIAGNOSIS_ROLE_SYSTEM, "code": "DD"}]},
            "rank": 1 if diagnosis.is_main else None,
        }
        for number, diagnosis in enumerate(encounter.diagnoses, start=1)
    ]
    resource = {
        "resourceType": "Encounter",
        "id": "encounter",
        "identifier": [_identifier(profile, "encounter", encounter.encounter_id)],
        "status": "finished" if encounter.discharged_at else "in-progress",
        "class": {"system": _ACT_CODE_SYSTEM, "code": _VISIT_CLASSES.get(encounter.visit_type or "", "AMB")},
        "type": [{"coding": [{"system": VISIT_TYPE_SYSTEM, "code": encounter.visit_type}]}]
        if encounter.visit_type
        else None,
        "subject": {"reference": PATIENT},
        "period": {"start": _time(encounter.admitted_at), "end": _time(encounter.discharged_at)},
        "reasonCode": [{"text": encounter.admission_diagnosis_text}],
        "diagnosis": diagnosis_entries,
        "hospitalization": {
            "origin": _facility_reference(profile, encounter.referred_from),
            "destination": _facility_reference(profile, encounter.referred_to),
        },
        "serviceProvider": {"reference": FACILITY},
    }
    observations = [
        _observation(number, result) for number, result in enumerate(encounter.lab_results, start=1)
    ]
    requests = [
        _medication_request(number, drug) for number, drug in enumerate(encounter.medications, start=1)
    ]
    return [resource, *conditions, *observations, *requests]


def _facility_reference(profile: Profile, code: str | None) -> Json | None:
    return {"identifier": _identifier(profile, "facility", code)} if code else None


def _observation(number: int, result: LabResult) -> Json:
    value: Json = {}
    if result.unit is not None and (result.value is None or _NUMBER.fullmatch(result.value)):
        amount = Decimal(result.value) if result.value is not None else None
        value = {"valueQuantity": {"value": amount, "unit": result.unit}}
    elif result.value is not None:
        value = {"valueString": result.value}
    return {
        "resourceType": "Observation",
        "id": f"observation-{number}",
        "status": "final",
        "code": {"coding": [{"code": result.code}], "text": result.name},
        "subject": {"reference": PATIENT},
        "encounter": {"reference": ENCOUNTER},
        "effectiveDateTime": _time(result.result_at),
        **value,
        "interpretation": [{"text": result.conclusion}],
        "note": [{"text": result.description}],
    }


def _medication_request(number: int, drug: Medication) -> Json:
    return {
        "resourceType": "MedicationRequest",
        "id": f"medication-request-{number}",
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"code": drug.code}], "text": drug.name},
        "subject": {"reference": PATIENT},
        "encounter": {"reference": ENCOUNTER},
        "authoredOn": _time(drug.ordered_at),
        "dosageInstruction": [{"text": drug.dosage, "route": {"text": drug.route}}],
        "dispenseRequest": {"quantity": {"value": drug.quantity, "unit": drug.unit}},
    }


def _time(moment: datetime | None) -> str | None:
    """FHIR wants a zone on a dateTime with a time; provreg's times are Vietnamese wall-clock times."""
    return moment.isoformat(timespec="seconds") + _VIETNAM_ZONE if moment else None


def _pruned(value: Any) -> Any:
    """Without the empty: a resource built with every element drops those the record has no value for."""
    if isinstance(value, dict):
        kept = {key: _pruned(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, {}, [])}
    if isinstance(value, list):
        kept_items = [_pruned(item) for item in value]
        return [item for item in kept_items if item not in (None, {}, [])]
    return value
