"""FHIR R4 Bundles and NDJSON: round trips through the writer, the mapping rules, every rejection."""

from __future__ import annotations

import io
import json
import tracemalloc
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders import fhir
from loaders.dates import BirthDate
from loaders.fhir import read_fhir
from loaders.fhir_write import fhir_json, record_bundle, write_fhir_ndjson
from loaders.options import LoaderOptions, default_profile
from loaders.records import (
    Address,
    Diagnosis,
    Encounter,
    FileHeader,
    LabResult,
    Medication,
    Patient,
    Reject,
    SourceFormat,
    SourceRecord,
    UnreadableFile,
)
from loaders.text import clean_text
from tests.factories import citizen_id, make_encounter, make_patient

PROFILE = default_profile()
CCCD = PROFILE.fhir_identifier_systems["citizen_id"][0]
BHYT = PROFILE.fhir_identifier_systems["insurance_card"][0]
FACILITY = PROFILE.fhir_identifier_systems["facility"][0]
MA_LK = PROFILE.fhir_identifier_systems["encounter"][0]
V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
DEFAULT_OPTIONS = LoaderOptions()

Item = FileHeader | SourceRecord | Reject


# --- Record strategies (test_csv.py uses them too) ----------------------------------------------

_CHARACTERS = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))


def texts(max_size: int = 30) -> st.SearchStrategy[str]:
    """Text as the loaders store it: NFC, trimmed, single spaces; quotes, commas and semicolons included."""
    return st.text(_CHARACTERS, min_size=1, max_size=max_size).map(clean_text).filter(bool)  # type: ignore[arg-type]


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


facility_codes = st.from_regex(r"[0-9A-Z]{5}", fullmatch=True)
moments = st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)).map(lambda m: m.replace(microsecond=0))


@st.composite
def birth_dates(draw: st.DrawFn) -> BirthDate:
    born = draw(st.dates(date(1930, 1, 1), date(2023, 12, 31)))
    precision = draw(st.sampled_from(["day", "month", "year"]))
    return BirthDate(
        year=born.year,
        month=born.month if precision != "year" else None,
        day=born.day if precision == "day" else None,
    )


@st.composite
def patients(draw: st.DrawFn, *, one_person_id: bool = False) -> Patient:
    """Patients whose citizen ID agrees with their sex and birth year, as the model requires."""
    birth_date = draw(optional(birth_dates()))
    sex = draw(st.sampled_from([None, 1, 2, 3]))
    kinds = draw(st.sets(st.sampled_from(["citizen_id", "old_id_number", "passport_number"])))
    if one_person_id:
        kinds = set(sorted(kinds)[:1])
    year = birth_date.year if birth_date else draw(st.integers(1930, 2023))
    cards = draw(st.lists(st.from_regex(r"[A-Z]{2}[1-5][0-9]{12}", fullmatch=True), max_size=2, unique=True))
    return Patient(
        facility_code=draw(facility_codes),
        local_id=draw(texts(100)),
        full_name=draw(texts(60)),
        birth_date=birth_date,
        sex=sex,
        citizen_id=citizen_id(
            province="024",
            sex=sex if sex in (1, 2) else draw(st.sampled_from([1, 2])),
            year=year,
            serial=draw(st.from_regex(r"[0-9]{6}", fullmatch=True)),
        )
        if "citizen_id" in kinds
        else None,
        old_id_number=draw(st.from_regex(r"[0-9]{9}", fullmatch=True)) if "old_id_number" in kinds else None,
        passport_number=draw(st.from_regex(r"[A-Z][0-9]{7}", fullmatch=True))
        if "passport_number" in kinds
        else None,
        insurance_cards=tuple(cards),
        social_insurance_number=cards[0][5:] if cards else None,
        phone=draw(optional(st.from_regex(r"0[0-9]{9}", fullmatch=True))),
        address=Address(
            text=draw(optional(texts())),
            province_code=draw(optional(st.from_regex(r"[0-9]{2}", fullmatch=True))),
            district_code=draw(optional(st.from_regex(r"[0-9]{3}", fullmatch=True))),
            commune_code=draw(optional(st.from_regex(r"[0-9]{5}", fullmatch=True))),
        ),
    )


@st.composite
def lab_results(draw: st.DrawFn) -> LabResult:
    # Only valueQuantity carries a unit, and it needs a number: a unit comes with a number or nothing.
    # JSON has no integer -0 (it reads back as 0): negative numbers start with a non-zero digit.
    number = st.from_regex(r"(-?[1-9][0-9]{0,4}|0)(\.[0-9]{1,3})?", fullmatch=True)
    value, unit = draw(st.tuples(optional(number), texts(10)) | st.tuples(optional(texts()), st.none()))
    return LabResult(
        code=draw(optional(texts(10))),
        name=draw(optional(texts())),
        value=value,
        unit=unit,
        description=draw(optional(texts())),
        conclusion=draw(optional(texts())),
        result_at=draw(optional(moments)),
    )


medications = st.builds(
    Medication,
    code=optional(texts(10)),
    name=optional(texts()),
    dosage=optional(texts()),
    route=optional(texts(10)),
    quantity=optional(st.decimals(min_value=0, max_value=10**6, places=3)),
    unit=optional(texts(10)),
    ordered_at=optional(moments),
)


@st.composite
def encounters(draw: st.DrawFn, *, fhir: bool) -> Encounter:
    """Episodes with what the format carries: FHIR has drugs, labs and diagnosis texts; CSV has outcome."""
    admitted = draw(optional(moments))
    stay = draw(optional(st.integers(0, 60 * 24 * 90)))
    codes = draw(st.lists(st.from_regex(r"[A-Z][0-9]{2}(\.[0-9])?", fullmatch=True), max_size=4, unique=True))
    has_main = draw(st.booleans())
    return Encounter(
        encounter_id=draw(texts(100)),
        visit_type=draw(optional(st.sampled_from([f"{n:02d}" for n in range(1, 10)]))),
        admitted_at=admitted,
        discharged_at=admitted + timedelta(minutes=stay) if admitted and stay is not None else None,
        referred_from=draw(optional(facility_codes)),
        referred_to=draw(optional(facility_codes)),
        admission_diagnosis_text=draw(optional(texts())) if fhir else None,
        discharge_diagnosis_text=None if fhir else draw(optional(texts())),
        outcome=None if fhir else draw(optional(st.integers(1, 8))),
        diagnoses=tuple(
            Diagnosis(
                code=code, is_main=has_main and number == 0, text=draw(optional(texts())) if fhir else None
            )
            for number, code in enumerate(codes)
        ),
        lab_results=tuple(draw(st.lists(lab_results(), max_size=3))) if fhir else (),
        medications=tuple(draw(st.lists(medications, max_size=3))) if fhir else (),
    )


@st.composite
def source_records(draw: st.DrawFn, *, fhir: bool) -> SourceRecord:
    return SourceRecord(
        position=1,
        locator="",
        patient=draw(patients(one_person_id=not fhir)),
        encounter=draw(optional(encounters(fhir=fhir))),
    )


def relocated(records: list[SourceRecord], locator: Callable[[int], str]) -> list[SourceRecord]:
    return [
        record.model_copy(update={"position": n, "locator": locator(n)})
        for n, record in enumerate(records, 1)
    ]


# --- Helpers ------------------------------------------------------------------------------------


class GeneratedFile(io.RawIOBase):
    """A file made on demand from a head, `count` copies of a body and a tail: never whole in memory."""

    def __init__(self, head: bytes, body: bytes, count: int, tail: bytes = b"") -> None:
        self._pieces: Iterator[bytes] = iter([head, *(body for _ in range(count)), tail])
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._pending = piece
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


# Ten times the units may not cost this much more at the peak: the garbage collector's timing moves
# the peak by ~150 KiB, while keeping each ~5 KB unit would add megabytes.
GROWTH_ALLOWED = 512 * 1024


def peak_memory(read: Callable[[BinaryIO], Iterator[Item]], make: Callable[[], BinaryIO]) -> tuple[int, int]:
    """(units read, peak bytes traced) for reading one generated file, discarding each item."""
    tracemalloc.start()
    try:
        count = sum(1 for _ in read(make()))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def read_bytes(data: bytes, options: LoaderOptions = DEFAULT_OPTIONS) -> list[SourceRecord | Reject]:
    items = list(read_fhir(io.BytesIO(data), options))
    assert items[0] == FileHeader(format=SourceFormat.FHIR, facility_code=options.facility_code)
    return items[1:]  # type: ignore[return-value]


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def read_bundle(
    *resources: dict[str, Any], options: LoaderOptions = DEFAULT_OPTIONS
) -> list[SourceRecord | Reject]:
    return read_bytes(fhir_json(bundle(*resources)), options)


def only_record(items: list[SourceRecord | Reject]) -> SourceRecord:
    assert len(items) == 1 and isinstance(items[0], SourceRecord), items
    return items[0]


def reasons(items: list[SourceRecord | Reject]) -> tuple[str, ...]:
    assert len(items) == 1 and isinstance(items[0], Reject), items
    return items[0].reasons


def patient(**changes: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"type": {"coding": [{"system": V2, "code": "MR"}]}, "value": "BN0001"},
            {"system": CCCD, "value": citizen_id(sex=1, year=1985)},
        ],
        "name": [{"family": "Nguyễn", "given": ["Văn", "An"]}],
        "gender": "male",
        "birthDate": "1985-03-14",
        "managingOrganization": {"identifier": {"system": FACILITY, "value": "27001"}},
    }
    return resource | changes


def encounter(**changes: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Encounter",
        "id": "e1",
        "identifier": [{"system": MA_LK, "value": "LK0001"}],
        "status": "finished",
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2025-11-03T08:15:00+07:00", "end": "2025-11-06T08:15:00+07:00"},
    }
    return resource | changes


def condition(ident: str, icd10: str, **changes: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Condition",
        "id": ident,
        "code": {"coding": [{"system": ICD10, "code": icd10}]},
        "encounter": {"reference": "Encounter/e1"},
    }
    return resource | changes


def diagnosis_entry(ident: str, rank: int | None = None, role: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"condition": {"reference": f"Condition/{ident}"}}
    if rank is not None:
        entry["rank"] = rank
    if role is not None:
        entry["use"] = {"coding": [{"code": role}]}
    return entry


# --- Round trips --------------------------------------------------------------------------------


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(source_records(fhir=True), min_size=1, max_size=4))
def test_records_survive_ndjson_writer_and_reader(records: list[SourceRecord]) -> None:
    out = io.BytesIO()
    write_fhir_ndjson(records, out, PROFILE)
    # One line is read as a JSON Bundle (the same unit); more lines are NDJSON, a unit per line.
    where = (lambda n: f"line {n}") if len(records) > 1 else (lambda n: f"Bundle {n}")
    assert read_bytes(out.getvalue()) == relocated(records, where)


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(source_records(fhir=True), min_size=1, max_size=4))
def test_records_survive_a_batch_bundle_of_bundles(records: list[SourceRecord]) -> None:
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": record_bundle(r, PROFILE)} for r in records],
    }
    assert read_bytes(fhir_json(batch)) == relocated(records, lambda n: f"Bundle {n}")


def test_a_record_from_the_factories_survives_the_round_trip_but_for_what_fhir_does_not_carry() -> None:
    encounter_ = make_encounter(drugs=1, services=0, labs=1, notes=0)
    record = SourceRecord(position=1, locator="Bundle 1", patient=make_patient(), encounter=encounter_)
    out = io.BytesIO()
    write_fhir_ndjson([record], out, PROFILE)
    read = only_record(read_bytes(out.getvalue()))
    assert read.patient == record.patient
    assert read.encounter is not None
    assert read.encounter.diagnoses == encounter_.diagnoses
    assert read.encounter.referred_to == "01929"
    assert read.encounter.medications[0].quantity == Decimal("20.5")
    assert read.encounter.lab_results[0].value == "7.2" and read.encounter.lab_results[0].unit == "mmol/L"
    assert read.encounter.medications[0].strength is None  # not carried by MedicationRequest here


def test_the_writer_keeps_strings_verbatim_and_the_reader_normalises_them() -> None:
    name = unicodedata.normalize("NFD", "NGUYỄN VĂN AN")
    record = SourceRecord(
        position=1, locator="", patient=make_patient().model_copy(update={"full_name": name})
    )
    line = fhir_json(record_bundle(record, PROFILE))
    assert name.encode() in line
    assert only_record(read_bytes(line)).patient.full_name == unicodedata.normalize("NFC", name)


def test_a_pretty_printed_bundle_with_a_bom_is_read() -> None:
    text = json.dumps(bundle(patient(), encounter()), indent=2, ensure_ascii=False)
    record = only_record(read_bytes(b"\xef\xbb\xbf" + text.encode()))
    assert record.locator == "Bundle 1" and record.encounter is not None


def test_ndjson_units_are_located_by_line_and_blank_lines_are_skipped() -> None:
    lines = [json.dumps(bundle(patient())), "", json.dumps(bundle(patient(id="p2", identifier=[])))]
    items = read_bytes("\n".join(lines).encode() + b"\n")
    assert [(item.position, item.locator) for item in items] == [(1, "line 1"), (2, "line 3")]
    assert only_record(items[1:]).patient.local_id == "p2"


# --- Mapping rules ------------------------------------------------------------------------------


def test_patient_fields_are_mapped() -> None:
    resource = patient(
        identifier=[
            {"type": {"coding": [{"code": "PI"}]}, "value": "BN9"},
            {"system": BHYT, "value": "DN4270123456789"},
            {"system": "urn:unknown", "value": "ignored"},
        ],
        name=[
            {"use": "old", "text": "Tên cũ"},
            {"use": "official", "family": "Hoàng Phủ", "given": ["Bình", "Minh"]},
        ],
        gender="other",
        birthDate="1985-03",
        telecom=[{"system": "email", "value": "a@b.vn"}, {"system": "phone", "value": "+84 912 345 678"}],
        address=[{"line": ["Thôn Đông"], "city": "09241", "district": "Tiên Du", "state": "24"}],
    )
    record = only_record(read_bundle(resource))
    assert record.encounter is None
    assert record.patient == Patient(
        facility_code="27001",
        local_id="BN9",
        full_name="Hoàng Phủ Bình Minh",
        birth_date=BirthDate(year=1985, month=3),
        sex=3,
        insurance_cards=("DN4270123456789",),
        social_insurance_number="0123456789",
        phone="0912345678",
        address=Address(text="Thôn Đông, Tiên Du", province_code="24", commune_code="09241"),
    )


def test_ids_default_to_resource_ids_and_the_declared_facility() -> None:
    items = read_bundle(
        patient(identifier=[], managingOrganization=None),
        encounter(identifier=[]),
        options=LoaderOptions(facility_code="27001"),
    )
    record = only_record(items)
    assert (record.patient.local_id, record.patient.facility_code) == ("p1", "27001")
    assert record.encounter is not None and record.encounter.encounter_id == "e1"


def test_the_facility_comes_from_service_provider_then_managing_organization_then_a_bundled_organization() -> (
    None
):
    organisation = {
        "resourceType": "Organization",
        "id": "o1",
        "identifier": [{"system": FACILITY, "value": "27002"}],
    }
    contained = {
        "resourceType": "Organization",
        "id": "sp",
        "identifier": [{"system": FACILITY, "value": "27003"}],
    }
    visit = encounter(serviceProvider={"reference": "#sp"}, contained=[contained])
    assert only_record(read_bundle(patient(), visit)).patient.facility_code == "27003"
    assert only_record(read_bundle(patient(), encounter())).patient.facility_code == "27001"
    by_reference = patient(managingOrganization={"reference": "Organization/o1"})
    assert only_record(read_bundle(by_reference, organisation)).patient.facility_code == "27002"
    assert (
        only_record(read_bundle(patient(managingOrganization=None), organisation)).patient.facility_code
        == "27002"
    )


def test_a_unit_of_another_facility_spoils_the_file() -> None:
    with pytest.raises(UnreadableFile, match="27001 is not the declared facility 27999"):
        read_bundle(patient(), options=LoaderOptions(facility_code="27999"))


def test_one_record_per_encounter_and_one_for_a_patient_without_one() -> None:
    second_patient = patient(id="p2", identifier=[{"type": {"coding": [{"code": "MR"}]}, "value": "BN0002"}])
    visits = [encounter(), encounter(id="e2", identifier=[])]
    items = read_bundle(patient(), second_patient, *visits)
    assert [(r.patient.local_id, r.encounter and r.encounter.encounter_id) for r in items] == [
        ("BN0001", "LK0001"),
        ("BN0001", "e2"),
        ("BN0002", None),
    ]
    assert {r.position for r in items} == {1}


def test_an_encounter_without_subject_belongs_to_the_only_patient_and_times_become_vietnamese() -> None:
    visit = encounter(subject=None, period={"start": "2025-11-03T01:15:00Z", "end": "2025-11-04"})
    record = only_record(read_bundle(patient(), visit))
    assert record.encounter is not None
    assert record.encounter.admitted_at == datetime(2025, 11, 3, 8, 15)
    assert record.encounter.discharged_at == datetime(2025, 11, 4)  # a date alone is its midnight


@pytest.mark.parametrize(
    ("entries", "main"),
    [
        ([diagnosis_entry("c1", 1, "AD"), diagnosis_entry("c2", 1, "DD")], "E11"),
        ([diagnosis_entry("c1", 1, "AD"), diagnosis_entry("c2", 2, "DD")], "J18.9"),
        ([diagnosis_entry("c1", 1, "CM"), diagnosis_entry("c2")], None),
        ([diagnosis_entry("c1", 1), diagnosis_entry("c2", 2)], "J18.9"),
        ([diagnosis_entry("c1", 1, "billing")], "J18.9"),
        ([], None),
    ],
)
def test_the_main_diagnosis_is_ranked_1_discharge_before_admission(
    entries: list[dict[str, Any]], main: str | None
) -> None:
    conditions = [condition("c1", "j189"), condition("c2", "E11")]
    record = only_record(read_bundle(patient(), encounter(diagnosis=entries), *conditions))
    assert record.encounter is not None
    assert [d.code for d in record.encounter.diagnoses if d.is_main] == ([main] if main else [])
    assert {d.code for d in record.encounter.diagnoses} == {"J18.9", "E11"}
    assert record.encounter.diagnoses[0].is_main == (main is not None)


def test_conditions_attach_through_diagnosis_or_the_only_encounter_and_non_icd10_ones_are_skipped() -> None:
    listed = condition("c1", "I10", encounter=None)
    snomed = condition(
        "c2",
        "38341003",
        encounter=None,
        code={"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
    )
    icd10_vn = condition(
        "c3",
        "E11",
        encounter=None,
        code={"coding": [{"system": "https://icd-10.vn/x", "code": "E11"}], "text": "Đái tháo đường"},
    )
    record = only_record(
        read_bundle(patient(), encounter(diagnosis=[diagnosis_entry("c1", 1)]), listed, snomed, icd10_vn)
    )
    assert record.encounter is not None
    assert record.encounter.diagnoses == (
        Diagnosis(code="I10", is_main=True),
        Diagnosis(code="E11", is_main=False, text="Đái tháo đường"),
    )


def test_observations_and_medication_requests_become_labs_and_drugs() -> None:
    observation = {
        "resourceType": "Observation",
        "id": "o1",
        "encounter": {"reference": "Encounter/e1"},
        "code": {"coding": [{"system": "urn:x", "code": "GLU", "display": "Glucose"}]},
        "valueQuantity": {"value": Decimal("7.20"), "unit": "mmol/L"},
        "issued": "2025-11-03T10:00:00+07:00",
    }
    coded = {"resourceType": "Observation", "valueCodeableConcept": {"coding": [{"display": "Âm tính"}]}}
    request = {
        "resourceType": "MedicationRequest",
        "medicationCodeableConcept": {"coding": [{"code": "40.17", "display": "Metformin"}]},
        "dosageInstruction": [{"text": "1 viên x 2", "route": {"coding": [{"display": "Uống"}]}}],
        "dispenseRequest": {"quantity": {"value": 20, "code": "viên"}},
        "authoredOn": "2025-11-03",
    }
    record = only_record(read_bundle(patient(), encounter(), observation, coded, request))
    assert record.encounter is not None
    assert record.encounter.lab_results == (
        LabResult(
            code="GLU", name="Glucose", value="7.20", unit="mmol/L", result_at=datetime(2025, 11, 3, 10)
        ),
        LabResult(value="Âm tính"),
    )
    assert record.encounter.medications == (
        Medication(
            code="40.17", name="Metformin", dosage="1 viên x 2", route="Uống", quantity=Decimal(20), unit="viên",
            ordered_at=datetime(2025, 11, 3),
        ),
    )  # fmt: skip


def test_referrals_need_a_facility_identifier() -> None:
    origin = {
        "resourceType": "Organization",
        "id": "ref",
        "identifier": [{"system": FACILITY, "value": "01001"}],
    }
    hospitalization = {
        "origin": {"reference": "Organization/ref"},
        "destination": {"reference": "Location/l1"},
    }
    visit = encounter(
        hospitalization=hospitalization,
        serviceProvider={"identifier": {"system": FACILITY, "value": "27001"}},
    )
    record = only_record(read_bundle(patient(), visit, origin))
    assert record.encounter is not None
    assert (record.encounter.referred_from, record.encounter.referred_to) == ("01001", None)


def test_resources_provreg_does_not_read_are_listed_as_skipped() -> None:
    record = only_record(
        read_bundle(patient(), {"resourceType": "Procedure"}, {"resourceType": "AllergyIntolerance"})
    )
    assert record.skipped_tables == ("AllergyIntolerance", "Procedure")


def test_a_vendor_identifier_system_is_read_only_with_the_vendor_profile() -> None:
    vendor_system = "urn:oid:2.16.704.1.99.1"
    identifiers = [{"system": vendor_system, "value": citizen_id(sex=1, year=1985)}]
    resource = patient(identifier=identifiers)
    assert only_record(read_bundle(resource)).patient.citizen_id is None
    vendor = PROFILE.overridden_by({"fhir": {"identifier_systems": {"citizen_id": [vendor_system]}}})
    record = only_record(read_bundle(resource, options=LoaderOptions(profile=vendor)))
    assert record.patient.citizen_id == citizen_id(sex=1, year=1985)
    out = io.BytesIO()
    write_fhir_ndjson([record], out, vendor)
    assert vendor_system.encode() in out.getvalue()


def test_an_identifier_of_an_unknown_system_is_read_by_its_type_code() -> None:
    resource = patient(
        identifier=[{"system": "urn:x", "type": {"coding": [{"code": "NNVNM"}]}, "value": "024085012345"}]
    )
    assert only_record(read_bundle(resource)).patient.citizen_id == "024085012345"


# --- Rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ([patient(name=[])], "name: missing"),
        ([patient(id=None, identifier=[])], "identifier[local_id]: missing"),
        ([patient(managingOrganization={"identifier": {"system": FACILITY, "value": "2701"}})], "managingOrganization: "),
        ([patient(managingOrganization=None)], "managingOrganization: no facility code"),
        ([encounter()], "Bundle: no Patient"),
        ([patient(), encounter(period={"start": "2025-11-03T08:15", "end": "2025-11-02"})], "Encounter: discharge time is before admission time"),
        ([patient(), encounter(period={"start": "03/11/2025"})], "Encounter/e1.period.start: "),
        ([patient(), encounter(subject={"reference": "Patient/nobody"})], "Encounter/e1.subject: does not refer to a Patient"),
        ([patient(), encounter(identifier=[], id=None)], "Encounter.identifier[encounter]: missing"),
        ([patient(), encounter(), condition("c1", "E11", encounter={"reference": "Encounter/e9"})], "Condition/c1.encounter: does not refer to an Encounter"),
        ([patient(), encounter(), encounter(id="e2"), condition("c1", "E11", encounter=None)], "Condition/c1: no encounter, and the Bundle has 2 Encounters"),
    ],
)  # fmt: skip
def test_a_bundle_with_a_problem_is_one_reject_naming_the_fhir_element(
    resources: list[dict[str, Any]], expected: str
) -> None:
    found = reasons(read_bundle(*resources))
    assert any(reason.startswith(expected) for reason in found), found


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ([patient(identifier=[{"system": CCCD, "value": "02708501234"}])], "identifier[citizen_id]: 11 digits"),
        (
            [patient(identifier=[{"system": CCCD, "value": "027085012345"}, {"system": CCCD, "value": "027085099999"}])],
            "identifier[citizen_id]: two different citizen_id numbers on one patient: neither is used",
        ),
        ([patient(identifier=[{"system": BHYT, "value": "DN42701234"}])], "identifier[insurance_card]: "),
        ([patient(gender="female")], "identifier[citizen_id]: citizen ID digit 4"),
        ([patient(), encounter(hospitalization={"origin": {"identifier": {"system": FACILITY, "value": "x"}}})], "Encounter/e1.hospitalization.origin: "),
        ([patient(birthDate="1985-13-01")], "birthDate: "),
        ([patient(gender="M")], "gender: 'M' is not male, female, other or unknown"),
        ([patient(), encounter(), condition("c1", "XYZ")], "Condition/c1.code: "),
        ([patient(), encounter(), {"resourceType": "MedicationRequest", "id": "m1", "dispenseRequest": {"quantity": {"value": "ten"}}}], "MedicationRequest/m1.dispenseRequest.quantity.value: "),
    ],
)  # fmt: skip
def test_a_suspect_field_is_flagged_and_the_record_stored_without_it(
    resources: list[dict[str, Any]], expected: str
) -> None:
    record = only_record(read_bundle(*resources))
    flags = record.patient.flags + (record.encounter.flags if record.encounter else ())
    assert any(flag.reason.startswith(expected) for flag in flags), flags


def test_a_reject_carries_the_unit_keys_and_an_excerpt() -> None:
    items = read_bundle(patient(), encounter(period={"start": "bad"}))
    assert isinstance(items[0], Reject)
    assert (items[0].facility_code, items[0].local_id, items[0].encounter_id) == ("27001", "BN0001", "LK0001")
    assert items[0].excerpt.startswith('{"resource": {"resourceType": "Patient"')


def test_a_bad_ndjson_line_is_one_reject_and_the_others_are_read() -> None:
    lines = [json.dumps(bundle(patient())), '{"resourceType": "Bundle", "entry": [', json.dumps(patient())]
    items = read_bytes("\n".join(lines).encode())
    assert isinstance(items[0], SourceRecord)
    assert reasons(items[1:2])[0].startswith("not JSON: ")
    assert reasons(items[2:]) == ("resourceType: 'Patient', expected a Bundle per line",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not JSON"),
        (b"not json at all", "not JSON"),
        (b'[{"resourceType": "Bundle"}]', "not a FHIR Bundle: the JSON is not an object"),
        (json.dumps(patient()).encode(), "not a FHIR Bundle: resourceType is 'Patient'"),
        (b'{"entry": []}', "not a FHIR Bundle: no resourceType"),
        (json.dumps(bundle(patient()))[:-5].encode(), "not JSON"),
        (json.dumps(bundle(bundle(patient()), patient())).encode(), "a Bundle holds either Bundles or resources"),
        (json.dumps(bundle(patient(), bundle(patient()))).encode(), "a Bundle holds either Bundles or resources"),
        (json.dumps(bundle(patient())).encode() + b"\n" + '{"name": "Nguy\xe1n"}'.encode("latin-1") + b"\n", "not UTF-8 (line 2, byte offset"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_read_as_a_whole_raises(data: bytes, message: str) -> None:
    with pytest.raises(UnreadableFile, match=message.replace("(", r"\(")):
        read_bytes(data)


# --- Memory -------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["ndjson", "bundle of bundles"])
def test_memory_does_not_grow_with_the_file(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The NDJSON sniff window is a fixed cost: made small, so that both files are larger than it.
    monkeypatch.setattr(fhir, "SNIFF_BYTES", 64 * 1024)
    record = SourceRecord(
        position=1, locator="", patient=make_patient(), encounter=make_encounter(services=0)
    )
    unit = fhir_json(record_bundle(record, PROFILE))

    def generated(count: int) -> Callable[[], BinaryIO]:
        if layout == "ndjson":
            return lambda: GeneratedFile(b"", unit + b"\n", count)  # type: ignore[return-value]
        head = b'{"resourceType":"Bundle","type":"batch","entry":[{"resource":' + unit + b"}"
        return lambda: GeneratedFile(head, b',{"resource":' + unit + b"}", count - 1, b"]}")  # type: ignore[return-value]

    def read(stream: BinaryIO) -> Iterator[Item]:
        return read_fhir(stream, DEFAULT_OPTIONS)

    peak_memory(read, generated(20))  # warm caches before measuring
    small_count, small_peak = peak_memory(read, generated(100))
    large_count, large_peak = peak_memory(read, generated(1000))
    assert (small_count, large_count) == (101, 1001)
    assert large_peak < small_peak + GROWTH_ALLOWED, (small_peak, large_peak)
