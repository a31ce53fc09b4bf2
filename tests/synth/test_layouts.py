"""Each new shape of a facility's file, read back by the real loaders (issue 13: these need its
loaders: split-name CSV columns composed, suspect identifiers flagged instead of rejected)."""

from __future__ import annotations

import io
import random
import unicodedata
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders.options import LoaderOptions
from loaders.read import read_units
from loaders.records import Encounter, FileHeader, Patient, SourceFormat, SourceRecord
from synth.clinical import ILLNESSES
from synth.encounters import DischargeType, Episode, TreatmentResult, build_encounter
from synth.facilities import CsvLayout, Facility, build_facilities
from synth.files import SPLIT_NAME_HEADERS, source_records, split_name, write_facility_file
from synth.noise import Noise, NoiseProfile
from synth.population import Person, Population
from synth.recording import record_patient, register

SEED = 7
DAY = date(2025, 6, 20)
FACILITIES = build_facilities(6, SEED)
SAMPLE = next(p for h in Population(SEED, 50, DAY).households() for p in h.members)
LAYOUTS = [
    CsvLayout(english=english, delimiter=delimiter, bom=bom, name_columns=columns)
    for columns in (1, 2, 3)
    for english, delimiter, bom in ((False, ",", False), (True, ";", True))
]


def _facility(fmt: SourceFormat) -> Facility:
    return next(f for f in FACILITIES if f.format == fmt)


def _read(facility: Facility, content: bytes) -> list[object]:
    options = LoaderOptions(facility_code=facility.code)
    return [u for u in read_units(io.BytesIO(content), options) if not isinstance(u, FileHeader)]


def _written(facility: Facility, patients: list[Patient], encounters: list[Encounter]) -> bytes:
    out = io.BytesIO()
    write_facility_file(facility, source_records(facility, zip(patients, encounters, strict=True)), out, DAY)
    return out.getvalue()


def _encounter(facility: Facility, person: Person, i: int) -> Encounter:
    arrived = datetime.combine(DAY, time(8)) + timedelta(minutes=13 * i)
    episode = Episode(
        encounter_id=f"{facility.code}T{i:05d}", facility=facility, person=person, visit_type="01",
        admitted_at=arrived, discharged_at=arrived + timedelta(hours=1), illness=ILLNESSES[0],
        outcome=TreatmentResult.IMPROVED, discharge_type=DischargeType.DISCHARGED, with_labs=False,
    )  # fmt: skip
    return build_encounter(episode, SEED, random.Random(i))


@pytest.fixture(scope="module")
def adults() -> list[Person]:
    people = (p for h in Population(SEED, 600, DAY).households() for p in h.members)
    return [p for p in people if p.citizen_id and p.phones][:12]


def test_split_name_headers_are_what_clinic_software_writes() -> None:
    assert SPLIT_NAME_HEADERS[2, False] == ("Họ và tên đệm", "Tên")
    assert SPLIT_NAME_HEADERS[3, False] == ("Họ", "Tên đệm", "Tên")
    assert split_name("Nguyễn Thị Thu Hương", 2) == ("Nguyễn Thị Thu", "Hương")
    assert split_name("Nguyễn Thị Thu Hương", 3) == ("Nguyễn", "Thị Thu", "Hương")
    assert split_name("Nguyễn  Hùng ", 3) == ("Nguyễn", "", "Hùng")


_WORD = st.text(
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ",
    min_size=1,
    max_size=7,
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(_WORD.map(str.capitalize), min_size=2, max_size=5),
    st.sampled_from(LAYOUTS),
    st.sampled_from(["plain", "upper", "nfd", "spaces"]),
)
def test_a_name_in_any_clinic_layout_loads_whole(words: list[str], layout: CsvLayout, form: str) -> None:
    """Written in one, two or three columns, the name composes back into the recorded name."""
    clinic = replace(_facility(SourceFormat.CSV), csv_layout=layout)
    sample = SAMPLE
    name = " ".join(words)
    sent = {"plain": name, "upper": name.upper(), "nfd": unicodedata.normalize("NFD", name),
            "spaces": "  ".join(words) + " "}[form]  # fmt: skip
    registration = register(sample, replace(clinic, noise=NoiseProfile({})), SEED, second=False)
    recorded = record_patient(sample, clinic, registration, DAY, SEED, random.Random(0)).patient
    patient = Patient.model_construct(**{**dict(recorded), "full_name": sent})
    units = _read(clinic, _written(clinic, [patient], [_encounter(clinic, sample, 1)]))
    assert len(units) == 1 and isinstance(units[0], SourceRecord), units
    assert units[0].patient.full_name == unicodedata.normalize("NFC", " ".join(sent.split()))


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        (SourceFormat.CSV, Noise.EXCEL_LEADING_ZERO),
        (SourceFormat.CSV, Noise.CITIZEN_ID_SCIENTIFIC),
        *((fmt, kind) for fmt in SourceFormat for kind in (
            Noise.CITIZEN_ID_FULL_WIDTH, Noise.SEX_MISCODED, Noise.CHILD_UNDER_PARENT_ID, Noise.CITIZEN_ID_TYPO,
        )),
    ],
)  # fmt: skip
def test_each_identifier_noise_is_stored_with_the_flag_the_truth_expects(
    fmt: SourceFormat, kind: Noise, adults: list[Person]
) -> None:
    facility = _facility(fmt)
    careful = replace(facility, noise=NoiseProfile({kind: 1.0}))
    people = adults
    if kind == Noise.CHILD_UNDER_PARENT_ID:
        everyone = (p for h in Population(SEED, 600, DAY).households() for p in h.members)
        people = [p for p in everyone if p.guardian_citizen_id and not p.citizen_id and not p.old_id_number][
            :12
        ]
    recorded = []
    for person in people:
        registration = register(person, careful, SEED, second=False)
        recorded.append(record_patient(person, careful, registration, DAY, SEED, random.Random(0)))
    encounters = [_encounter(facility, p, i) for i, p in enumerate(people, 1)]
    units = _read(facility, _written(facility, [r.patient for r in recorded], encounters))
    assert len(units) == len(people)
    assert any(r.flags for r in recorded), "the noise must strike"
    for unit, made, person in zip(units, recorded, people, strict=True):
        assert isinstance(unit, SourceRecord), unit  # stored, never rejected for an identifier
        flags = [f"{f.identifier.value}:{f.kind.value}" for f in unit.patient.flags]
        assert flags == list(made.flags), (made.patient.citizen_id, unit.patient.flags)
        if made.flags == ("person_id:repaired",):
            assert unit.patient.citizen_id == person.citizen_id
        elif made.flags:
            assert unit.patient.citizen_id is None
        if kind == Noise.EXCEL_LEADING_ZERO:
            assert unit.patient.phone == person.phone_on(DAY)  # the phone's zero comes back too


def test_an_empty_night_loads_as_no_records_in_every_format() -> None:
    for fmt in SourceFormat:
        facility = _facility(fmt)
        assert _read(facility, _written(facility, [], [])) == []
    for layout in LAYOUTS:
        clinic = replace(_facility(SourceFormat.CSV), csv_layout=layout)
        assert _read(clinic, _written(clinic, [], [])) == []
