"""The ground-truth files written beside the facilities' files: their columns and rows.

truth_persons.csv  who each person really is, and the hard-negative labels: household_id (shared
                   family name, address, phone), twin_of, namesake_of (a parent and child with the
                   same full name) and same_name_group (folded full name and birth year: people who
                   share it are the "same common name, same year, unrelated" negatives).
truth_records.csv  every record posted: its keys, the person it belongs to, the noise it carries,
                   whether the loaders must reject it and the identifier flags they must raise.
truth_files.csv    every posting facility's every night: the file it posted (none, an empty one,
                   or one with records) and how many records.
facilities.csv     code, name, kind, format, the facility's noise rates and the share of its quiet
                   nights on which it posts an empty file.
"""

from __future__ import annotations

from datetime import timedelta

from synth.care import Posting
from synth.facilities import Facility
from synth.names import fold
from synth.noise import Noise
from synth.population import Person, person_id
from synth.recording import MERGER_DATE, address_on

PERSON_COLUMNS = (
    "person_id", "household_id", "family_name", "middle_name", "given_name", "full_name", "sex",
    "birth_date", "birth_province", "citizen_id", "old_id_number", "social_insurance_number",
    "phone", "new_phone", "phone_changed_on", "second_phone", "household_phone", "ethnicity_code",
    "province_code_old", "district_code_old", "commune_code_old", "commune_code_new",
    "address_old", "address_new", "chronic_conditions", "twin_of", "namesake_of", "same_name_group",
    "parent_ids",
)  # fmt: skip
RECORD_COLUMNS = (
    "facility_code", "local_patient_id", "encounter_id", "person_id", "night", "file", "noise",
    "expected_reject", "expected_flags",
)  # fmt: skip
FILE_COLUMNS = ("night", "facility_code", "file", "records")
FACILITY_COLUMNS = (
    "code", "name", "kind", "format", "province_code", "district_code",
    *(f"rate_{noise.value}" for noise in Noise), "empty_file_share",
)  # fmt: skip
NOISE_SEPARATOR = ";"
FLAG_SEPARATOR = ";"


def same_name_group(person: Person) -> str:
    return f"{fold(person.name.full)}|{person.birth_date.year}"


def person_row(person: Person) -> list[str]:
    commune = person.commune
    first_phone = person.phones[0][1] if person.phones else ""
    changed = person.phones[1] if len(person.phones) > 1 else None
    return [
        person.person_id,
        person.household_id,
        person.name.family,
        person.name.middle,
        person.name.given,
        person.name.full,
        str(int(person.sex)),
        person.birth_date.isoformat(),
        person.birth_province,
        person.citizen_id or "",
        person.old_id_number or "",
        person.social_insurance_number,
        first_phone,
        changed[1] if changed else "",
        changed[0].isoformat() if changed else "",
        person.second_phone or "",
        person.household_phone or "",
        person.ethnicity_code,
        commune.old_province_code,
        commune.old_district_code,
        commune.old_commune_code,
        commune.new_commune_code,
        address_on(person, MERGER_DATE - timedelta(days=1), old_form=False).text or "",
        address_on(person, MERGER_DATE, old_form=False).text or "",
        ";".join(person.conditions),
        person_id(person.twin_of) if person.twin_of is not None else "",
        person_id(person.namesake_of) if person.namesake_of is not None else "",
        same_name_group(person),
        ";".join(person_id(parent) for parent in person.parents),
    ]


def record_row(posting: Posting, night: str, file: str) -> list[str]:
    return [
        posting.facility.code,
        posting.patient.local_id,
        posting.encounter.encounter_id,
        person_id(posting.person_index),
        night,
        file,
        NOISE_SEPARATOR.join(posting.noise),
        "1" if posting.rejected else "0",
        FLAG_SEPARATOR.join(posting.flags),
    ]


def facility_row(facility: Facility) -> list[str]:
    return [
        facility.code,
        facility.name,
        facility.kind.value,
        facility.format.value if facility.format else "",
        facility.province_code,
        facility.district_code or "",
        *(f"{facility.noise.rates.get(noise, 0.0):.4f}" for noise in Noise),
        f"{facility.empty_file_share:.4f}",
    ]
