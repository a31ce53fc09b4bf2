"""What a facility's desk and spreadsheet make of a person's identifiers, and the flags the truth expects."""

from __future__ import annotations

import csv
import random
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from loaders.records import Sex
from synth.facilities import Facility, FacilityKind, build_facilities
from synth.noise import (
    Noise,
    NoiseProfile,
    full_width,
    scientific_notation,
    strip_leading_zeros,
)
from synth.population import CITIZEN_ID_AGE, Person, Population
from synth.recording import RecordedPatient, record_patient, register
from synth.writer import SynthSummary

SEED = 7
DAY = date(2025, 6, 20)
Province = tuple[Path, SynthSummary]


@pytest.fixture(scope="module")
def people() -> list[Person]:
    return [p for household in Population(SEED, 3000, DAY).households() for p in household.members]


@pytest.fixture(scope="module")
def clinic() -> Facility:
    return next(f for f in build_facilities(6, SEED) if f.kind == FacilityKind.CLINIC)


def _recorded(person: Person, facility: Facility, *kinds: Noise) -> RecordedPatient:
    """The person's record at `facility` where the desk always makes exactly these mistakes."""
    careful = replace(facility, noise=NoiseProfile(dict.fromkeys(kinds, 1.0)))
    registration = register(person, careful, SEED, second=False)
    return record_patient(person, careful, registration, DAY, SEED, random.Random(1))


def _adults(people: list[Person], province: str | None = None) -> list[Person]:
    return [
        p
        for p in people
        if p.citizen_id and p.phones and (province is None or p.citizen_id.startswith(province))
    ][:20]


def test_a_clean_record_carries_its_id_unflagged(people: list[Person], clinic: Facility) -> None:
    for person in _adults(people):
        recorded = _recorded(person, clinic)
        assert recorded.patient.citizen_id == person.citizen_id and recorded.flags == ()
        assert not recorded.rejected and recorded.noise == ()


def test_a_spreadsheet_drops_the_leading_zeros_of_id_and_phone(
    people: list[Person], clinic: Facility
) -> None:
    for person in _adults(people, "02"):
        assert person.citizen_id
        recorded = _recorded(person, clinic, Noise.EXCEL_LEADING_ZERO)
        assert recorded.patient.citizen_id == person.citizen_id[1:]
        assert recorded.patient.phone == person.phone_on(DAY)[1:]  # type: ignore[index]
        assert recorded.noise == (Noise.EXCEL_LEADING_ZERO,)
        assert recorded.flags == ("person_id:repaired",) and not recorded.rejected
    hanoi = _adults(people, "001")
    assert hanoi, "some people were born in Hà Nội"
    for person in hanoi:  # 001...: two zeros lost, 10 digits: nothing to restore
        assert _recorded(person, clinic, Noise.EXCEL_LEADING_ZERO).flags == ("person_id:malformed",)


def test_scientific_notation_and_full_width_digits(people: list[Person], clinic: Facility) -> None:
    for person in _adults(people):
        assert person.citizen_id
        sci = _recorded(person, clinic, Noise.CITIZEN_ID_SCIENTIFIC)
        assert sci.patient.citizen_id == scientific_notation(person.citizen_id)
        assert sci.flags == ("person_id:malformed",) and not sci.rejected
        assert sci.patient.phone == strip_leading_zeros(person.phone_on(DAY) or "")  # the same spreadsheet's
        assert Noise.CITIZEN_ID_SCIENTIFIC in sci.noise
        wide = _recorded(person, clinic, Noise.CITIZEN_ID_FULL_WIDTH)
        assert wide.patient.citizen_id == full_width(person.citizen_id)
        assert wide.flags == ("person_id:repaired",) and wide.noise == (Noise.CITIZEN_ID_FULL_WIDTH,)


def test_a_miscoded_sex_makes_the_id_inconsistent(people: list[Person], clinic: Facility) -> None:
    for person in _adults(people):
        recorded = _recorded(person, clinic, Noise.SEX_MISCODED)
        assert recorded.patient.sex == (Sex.FEMALE if person.sex == Sex.MALE else Sex.MALE)
        assert recorded.patient.citizen_id == person.citizen_id  # sent as it is
        assert recorded.flags == ("person_id:inconsistent",) and not recorded.rejected
    child = next(p for p in people if p.age_on(DAY) < CITIZEN_ID_AGE)
    assert _recorded(child, clinic, Noise.SEX_MISCODED).flags == ()  # no ID of their own to contradict


def test_a_child_under_a_parents_id_is_stored_with_the_id_flagged(
    people: list[Person], clinic: Facility
) -> None:
    children = [
        p for p in people if p.guardian_citizen_id and p.citizen_id is None and p.old_id_number is None
    ]
    assert children
    for child in children[:20]:
        recorded = _recorded(child, clinic, Noise.CHILD_UNDER_PARENT_ID)
        assert recorded.patient.citizen_id == child.guardian_citizen_id
        assert recorded.flags == ("person_id:inconsistent",) and not recorded.rejected
        # the same parent's ID, through the clinic's spreadsheet: restored, still the parent's
        through = _recorded(child, clinic, Noise.CHILD_UNDER_PARENT_ID, Noise.EXCEL_LEADING_ZERO)
        assert through.flags == (
            ("person_id:malformed",)
            if child.guardian_citizen_id.startswith("00")
            else ("person_id:inconsistent",)  # type: ignore[union-attr]
        )


def test_an_id_not_shown_that_day_has_nothing_to_flag(people: list[Person], clinic: Facility) -> None:
    for person in _adults(people):
        recorded = _recorded(person, clinic, Noise.CITIZEN_ID_MISSING, Noise.CITIZEN_ID_SCIENTIFIC)
        assert recorded.patient.citizen_id is None and recorded.flags == ()
        assert Noise.CITIZEN_ID_SCIENTIFIC not in recorded.noise  # it changed nothing on this record


# --- the province's truth ------------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_nothing_is_expected_to_be_rejected_for_an_identifier(province: Province) -> None:
    out, summary = province
    rows = _rows(out / "truth_records.csv")
    assert summary.expected_rejects == 0 and all(row["expected_reject"] == "0" for row in rows)
    flagged = [row for row in rows if row["expected_flags"]]
    assert len(flagged) == summary.flagged_records > 0
    id_noise = {"citizen_id_typo", "child_under_parent_id", "excel_leading_zero", "citizen_id_scientific",
                "citizen_id_full_width", "sex_miscoded"}  # fmt: skip
    for row in flagged:
        assert set(row["noise"].split(";")) & id_noise, row
        assert all(flag.split(":")[0] == "person_id" for flag in row["expected_flags"].split(";"))
    children = [row for row in rows if "child_under_parent_id" in row["noise"].split(";")]
    assert children and all(row["expected_flags"] or "citizen_id_missing" in row["noise"] for row in children)


def test_every_facility_night_is_accounted_for(province: Province) -> None:
    out, summary = province
    files = _rows(out / "truth_files.csv")
    facilities = [row for row in _rows(out / "facilities.csv") if row["format"]]
    assert len(files) == len(facilities) * summary.nights
    posted = [row for row in files if row["file"]]
    assert sorted(row["file"] for row in posted) == sorted(
        str(p.relative_to(out)) for p in out.glob("nights/*/*")
    )
    assert len(posted) == summary.files and sum(int(row["records"]) for row in posted) == summary.records
    empty = [row for row in posted if row["records"] == "0"]
    assert len(empty) == summary.empty_files > 0
    assert any(not row["file"] for row in files), "on other quiet nights nothing is posted"
    for row in empty:
        content = (out / row["file"]).read_bytes()
        if row["file"].endswith(".ndjson"):
            assert content == b""
        elif row["file"].endswith(".xml"):
            assert b"<SOLUONGHOSO>0</SOLUONGHOSO>" in content and b"<HOSO>" not in content
        else:
            assert len(content.decode("utf-8-sig").splitlines()) == 1  # the header alone


def test_parents_are_in_the_household_and_older(province: Province) -> None:
    out, _ = province
    persons = {row["person_id"]: row for row in _rows(out / "truth_persons.csv")}
    with_parents = [row for row in persons.values() if row["parent_ids"]]
    assert len(with_parents) > len(persons) / 4
    for row in with_parents:
        for parent in row["parent_ids"].split(";"):
            assert persons[parent]["household_id"] == row["household_id"]
            assert int(persons[parent]["birth_date"][:4]) <= int(row["birth_date"][:4]) - 14
    for row in (row for row in persons.values() if row["namesake_of"]):  # a parent and a child
        other = persons[row["namesake_of"]]
        assert row["person_id"] in other["parent_ids"].split(";") or other["person_id"] in row["parent_ids"]
