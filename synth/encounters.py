"""An episode of care as the facility's EMR holds it: diagnoses, drugs (XML2), services (XML3),
results (XML4) and, for inpatients, daily progress notes (XML5)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from functools import lru_cache

from loaders.records import Diagnosis, Encounter, LabResult, Medication, ProgressNote, Service, Sex
from synth.clinical import CHRONIC, DRUGS, SERVICES, Illness
from synth.facilities import Facility, FacilityKind
from synth.labs import lab_result
from synth.names import FAMILY_NAMES, given_name, middle_name
from synth.population import Person
from synth.rng import stream

_INFECTIONS = {"J18.9", "J20.9", "K35.8", "N39.0"}
_DEPARTMENTS = {
    "K35.8": ("K01", "K19"),
    "O80": ("K23",),
    "O84.0": ("K23",),
    "I63.9": ("K02", "K03"),
    "I21.9": ("K02", "K03"),
}


class TreatmentResult(IntEnum):
    """KET_QUA_DTRI."""

    CURED = 1
    IMPROVED = 2
    UNCHANGED = 3
    DIED = 5


class DischargeType(IntEnum):
    """MA_LOAI_RV."""

    DISCHARGED = 1
    TRANSFERRED = 2


@dataclass(frozen=True, slots=True)
class Episode:
    """What happened, decided by the care flow; the clinical detail is filled in from it."""

    encounter_id: str
    facility: Facility
    person: Person
    visit_type: str  # MA_LOAI_KCB
    admitted_at: datetime
    discharged_at: datetime
    illness: Illness | None  # None: a chronic follow-up visit
    outcome: TreatmentResult
    discharge_type: DischargeType
    with_labs: bool
    referred_from: str | None = None
    referred_to: str | None = None
    referral_paper: str | None = None

    @property
    def inpatient(self) -> bool:
        return self.visit_type == "03"

    @property
    def days(self) -> int:
        return max((self.discharged_at.date() - self.admitted_at.date()).days, 1)


@lru_cache(maxsize=256)
def doctors(seed: int, facility_code: str) -> tuple[str, ...]:
    """A facility's physicians, as they sign progress notes."""
    rng = stream(seed, "doctors", facility_code)
    names = []
    for _ in range(6):
        sex = Sex.MALE if rng.random() < 0.5 else Sex.FEMALE
        middle = middle_name(sex, 1975, rng)  # practising doctors were mostly born before 1990
        names.append(f"BS. {FAMILY_NAMES.pick(rng)} {middle} {given_name(sex, rng)}")
    return tuple(names)


def build_encounter(episode: Episode, seed: int, rng: random.Random) -> Encounter:
    person = episode.person
    conditions = person.conditions
    main_code, main_text = (
        (episode.illness.code, episode.illness.text)
        if episode.illness
        else (conditions[0], CHRONIC[conditions[0]].text)
    )
    listed = conditions if episode.facility.kind != FacilityKind.CLINIC else conditions[:1]
    diagnoses = [Diagnosis(code=main_code, is_main=True, text=main_text)] + [
        Diagnosis(code=code, is_main=False, text=CHRONIC[code].text) for code in listed if code != main_code
    ]
    drug_keys = episode.illness.drugs if episode.illness else _chronic_drugs(conditions)
    if episode.inpatient:
        supply_days = episode.days
    elif episode.illness is None:
        supply_days = 30  # chronic follow-up: a month's drugs
    else:
        supply_days = rng.randint(5, 7)
    return Encounter(
        encounter_id=episode.encounter_id,
        record_number=f"{episode.admitted_at:%y}/{episode.encounter_id[-6:]}" if episode.inpatient else None,
        visit_type=episode.visit_type,
        admitted_at=episode.admitted_at,
        inpatient_at=episode.admitted_at + timedelta(minutes=rng.randint(30, 120))
        if episode.inpatient
        else None,
        discharged_at=episode.discharged_at,
        departments=_departments(episode),
        outcome=int(episode.outcome),
        discharge_type=int(episode.discharge_type),
        referred_from=episode.referred_from,
        referred_to=episode.referred_to,
        referral_paper=episode.referral_paper,
        admission_diagnosis_text=main_text,
        discharge_diagnosis_text="; ".join(d.text for d in diagnoses if d.text),
        diagnoses=tuple(diagnoses),
        procedures=(episode.illness.procedure,) if episode.illness and episode.illness.procedure else (),
        medications=tuple(_medication(key, supply_days, episode.admitted_at, rng) for key in drug_keys),
        services=_services(episode, rng),
        lab_results=_labs(episode, seed, rng),
        notes=_notes(episode, seed, rng) if episode.inpatient else (),
    )


def _chronic_drugs(conditions: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(drug for code in conditions for drug in CHRONIC[code].drugs))


def _departments(episode: Episode) -> tuple[str, ...]:
    if not episode.inpatient:
        return ("K01",)
    if episode.person.age_on(episode.admitted_at.date()) < 16:
        return ("K16",)
    code = episode.illness.code if episode.illness else ""
    return _DEPARTMENTS.get(code, ("K03",))


def _medication(key: str, days: int, ordered_at: datetime, rng: random.Random) -> Medication:
    drug = DRUGS[key]
    return Medication(
        code=drug.code,
        name=drug.name,
        strength=drug.strength,
        dosage=drug.dosage,
        route=drug.route,
        quantity=drug.per_day * days,
        unit=drug.unit,
        ordered_at=ordered_at + timedelta(minutes=rng.randint(10, 60)),
        performed_at=ordered_at + timedelta(minutes=rng.randint(60, 120)),
    )


def _services(episode: Episode, rng: random.Random) -> tuple[Service, ...]:
    keys = ["exam_paediatric" if episode.person.age_on(episode.admitted_at.date()) < 16 else "exam"]
    keys += list(episode.illness.services) if episode.illness else []
    ordered = episode.admitted_at + timedelta(minutes=rng.randint(5, 30))
    services = [
        Service(
            code=SERVICES[key].code,
            name=SERVICES[key].name,
            quantity=Decimal(1),
            ordered_at=ordered,
            performed_at=ordered + timedelta(minutes=rng.randint(10, 90)),
            result_at=ordered + timedelta(minutes=rng.randint(90, 180)),
        )
        for key in keys
    ]
    if episode.inpatient:
        bed = SERVICES["bed_surgical" if episode.illness and episode.illness.procedure else "bed_internal"]
        services.append(
            Service(code=bed.code, name=bed.name, quantity=Decimal(episode.days), ordered_at=ordered)
        )
    return tuple(services)


def _labs(episode: Episode, seed: int, rng: random.Random) -> tuple[LabResult, ...]:
    person = episode.person
    if episode.illness:
        codes = episode.illness.tests
    elif episode.with_labs:
        codes = tuple(dict.fromkeys(test for code in person.conditions for test in CHRONIC[code].tests))
    else:
        codes = ()
    # Inpatients staying four days or more are tested again before discharge: a short series.
    taken = [episode.admitted_at + timedelta(minutes=rng.randint(20, 90))]
    if episode.inpatient and episode.days >= 4:
        taken.append(episode.discharged_at - timedelta(days=1))
    infection = episode.illness is not None and episode.illness.code in _INFECTIONS
    return tuple(
        lab_result(
            code,
            seed=seed,
            person_index=person.index,
            sex=person.sex,
            conditions=person.conditions,
            infection=infection and at == taken[0],
            taken_at=at,
            rng=rng,
        )
        for at in taken
        for code in codes
    )


def _notes(episode: Episode, seed: int, rng: random.Random) -> tuple[ProgressNote, ...]:
    illness = episode.illness
    course = illness.course if illness and illness.course else ("Vào viện", "Diễn biến ổn định", "Ra viện")
    signers = doctors(seed, episode.facility.code)
    notes = []
    for day in range(episode.days + 1):
        at = (
            episode.admitted_at + timedelta(hours=1)
            if day == 0
            else datetime.combine(episode.admitted_at.date() + timedelta(days=day), datetime.min.time())
            + timedelta(hours=8, minutes=rng.randint(0, 59))
        )
        if at > episode.discharged_at:
            break
        last = day == episode.days
        text = course[0] if day == 0 else course[2] if last else course[1]
        if last and episode.discharge_type == DischargeType.TRANSFERRED:
            text = "Bệnh diễn biến nặng, chuyển tuyến trên điều trị tiếp"
        notes.append(
            ProgressNote(
                text=text,
                stage="Giai đoạn cấp" if day < 2 else "Giai đoạn ổn định",
                consultation="Hội chẩn khoa" if day == 0 and illness and illness.transfer else None,
                surgery="Phẫu thuật nội soi"
                if day == 0 and illness and illness.procedure == "47.01"
                else None,
                recorded_at=at,
                author=rng.choice(signers),
            )
        )
    return tuple(notes)
