"""Births in sight: a baby born during the window is recorded at the maternity ward it was born in,
under its mother's name until its birth is registered, and twins are born there together."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders.records import Sex
from synth.care import CareFlow, Posting
from synth.facilities import Facility, FacilityKind, build_facilities
from synth.noise import Noise, NoiseProfile
from synth.population import Person, Population
from synth.recording import NAMED_WITHIN_DAYS, named_on, record_patient, register
from synth.schedule import VisitKind
from synth.writer import SynthSummary

SEED = 3
START = date(2025, 6, 16)
Province = tuple[Path, SynthSummary]


@pytest.fixture(scope="module")
def population() -> Population:
    """Children born up to a year after START, so that some twins are born after it."""
    population = Population(SEED, 30_000, START, born_until=START + timedelta(days=365))
    for _ in population.households():
        pass
    return population


@pytest.fixture(scope="module")
def babies(population: Population) -> list[Person]:
    return [population.person(i) for i in range(population.size) if population.person(i).mother_name]


def _young(babies: list[Person]) -> list[Person]:
    return [p for p in babies if p.birth_date >= START - timedelta(days=400)][:60]


@pytest.fixture(scope="module")
def clinic() -> Facility:
    return next(f for f in build_facilities(6, SEED) if f.kind == FacilityKind.CLINIC)


@settings(max_examples=60, deadline=None)
@given(pick=st.integers(0, 10**6), age=st.integers(0, 400), born_here=st.booleans())
def test_a_baby_is_under_its_mothers_name_only_until_its_birth_is_registered(
    babies: list[Person], clinic: Facility, pick: int, age: int, born_here: bool
) -> None:
    """With every desk naming an unnamed baby after its mother (or at the ward it was born in,
    whatever the desk's rate), the mother's name is on its records before the birth is registered,
    never after; and no card before it either (the card comes with the registration)."""
    young = _young(babies)
    baby = young[pick % len(young)]
    rate = 0.0 if born_here else 1.0
    desk = replace(clinic, noise=NoiseProfile({Noise.NEWBORN_MOTHER_NAME: rate}))
    day = baby.birth_date + timedelta(days=age)
    registered = named_on(baby, SEED)
    assert NAMED_WITHIN_DAYS[0] <= (registered - baby.birth_date).days <= NAMED_WITHIN_DAYS[1]
    registration = register(baby, desk, SEED, second=False, on=day, born_here=born_here)
    recorded = record_patient(baby, desk, registration, day, SEED, random.Random(pick))
    unnamed = day < registered
    assert (Noise.NEWBORN_MOTHER_NAME in registration.noise) is unnamed
    assert (registration.full_name != baby.name.full) is unnamed
    if unnamed:
        assert recorded.patient.insurance_cards == () and recorded.patient.social_insurance_number is None
    assert recorded.patient.sex == baby.sex and not recorded.rejected


def test_a_desk_that_does_not_use_the_mothers_name_keeps_the_babys_own(
    babies: list[Person], clinic: Facility
) -> None:
    desk = replace(clinic, noise=NoiseProfile({}))
    for baby in _young(babies):
        registration = register(baby, desk, SEED, second=False, on=baby.birth_date)
        assert registration.full_name == baby.name.full and registration.without_card


def _postings(flow: CareFlow, birth: int, visits: list[tuple[int, VisitKind]], days: int) -> list[Posting]:
    posted = flow.night(birth, visits)
    for day in range(birth + 1, days):
        posted += flow.night(day, [])
    return posted


def test_twins_are_born_at_one_maternity_ward_with_their_mother(population: Population) -> None:
    twins = [
        p
        for p in (population.person(i) for i in range(population.size))
        if p.twin_of is not None and p.index < p.twin_of and p.birth_date > START and p.mother_name
    ]
    assert twins
    sites = build_facilities(9, SEED)
    for elder in twins[:5]:
        younger = population.person(elder.twin_of or 0)
        start = elder.birth_date - timedelta(days=2)
        flow = CareFlow(SEED, population, sites, start, 10)
        births = [(elder.index, VisitKind.BIRTH), (younger.index, VisitKind.BIRTH)]
        posted = _postings(flow, 2, births, 10)
        by_person = defaultdict(list)
        for posting in posted:
            by_person[posting.person_index].append(posting)
        mother = next(i for i in elder.parents if population.person(i).sex == Sex.FEMALE)
        assert set(by_person) == {elder.index, younger.index, mother}
        records = [by_person[elder.index][0], by_person[younger.index][0], by_person[mother][0]]
        assert len({r.facility.code for r in records}) == 1 and records[0].facility.has_beds
        assert len({r.encounter.admitted_at.date() for r in records}) == 1
        assert records[0].encounter.admitted_at.date() == elder.birth_date
        assert len({r.encounter.discharged_at for r in records}) == 1
        assert [r.encounter.diagnoses[0].code for r in records] == ["Z38.3", "Z38.3", "O84.0"]
        for baby in records[:2]:
            assert Noise.NEWBORN_MOTHER_NAME in baby.noise
        assert records[0].patient.local_id != records[1].patient.local_id


def test_in_the_province_babies_born_in_the_window_are_recorded_where_they_were_born(
    province: Province,
) -> None:
    out, _ = province
    start = date.fromisoformat(_rows(out / "truth_files.csv")[0]["night"])
    kinds = {row["code"]: row["kind"] for row in _rows(out / "facilities.csv")}
    persons = {row["person_id"]: row for row in _rows(out / "truth_persons.csv")}
    records = defaultdict(list)
    for row in _rows(out / "truth_records.csv"):
        records[row["person_id"]].append(row)
    born_inside = [p for p in persons.values() if start <= date.fromisoformat(p["birth_date"])]
    assert born_inside
    seen = 0
    for baby in born_inside:
        born = date.fromisoformat(baby["birth_date"])
        at_birth = [r for r in records[baby["person_id"]] if _admitted(r) == born]
        for record in at_birth:
            seen += 1
            assert not kinds[record["facility_code"]].endswith("clinic")
            if baby["parent_ids"] and any(persons[p]["sex"] == "2" for p in baby["parent_ids"].split(";")):
                assert "newborn_mother_name" in record["noise"].split(";")
    assert seen
    # The mother's name is on a baby's records in its first 60 days only.
    for person_id, rows in records.items():
        born = date.fromisoformat(persons[person_id]["birth_date"])
        for row in rows:
            if "newborn_mother_name" in row["noise"].split(";"):
                assert (_admitted(row) - born).days < NAMED_WITHIN_DAYS[1]


def _admitted(record: dict[str, str]) -> date:
    """The admission day, from the encounter id: facility code, yymmdd, serial."""
    digits = record["encounter_id"][5:11]
    return date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:]))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
