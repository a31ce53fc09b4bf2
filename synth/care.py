"""The flow of care, day by day: where people go, who is admitted, referred or transferred, and
which records each facility posts on which night.

A facility posts a record on the night the episode ends: an outpatient visit the same night, an
inpatient stay on the night of discharge. Days before the window (the schedule's warm-up) are run
only for the stays that end inside it; stays still open when the window closes are never posted.

A clinic that cannot admit refers the patient to a hospital, and a hospital transfers patients it
cannot treat to the provincial hospital or to Bạch Mai; both sides record the referral
(MA_NOI_DEN at the sender, MA_NOI_DI and the same referral paper at the receiver), except
Bạch Mai, which posts nothing to the province.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from loaders.records import Encounter, Patient, Sex
from synth.clinical import BORN_SINGLE, BORN_TWIN, DELIVERY, DELIVERY_OF_TWINS, Illness, acute_illness
from synth.encounters import DischargeType, Episode, TreatmentResult, build_encounter
from synth.facilities import VISIT_WEIGHTS, Facility, FacilityKind
from synth.noise import Noise
from synth.population import Person, Population
from synth.recording import record_patient, register, registers_twice
from synth.rng import stream
from synth.schedule import VisitKind

USUAL_FACILITY_SHARE = 0.65  # acute visits to the facility the person usually uses
SECOND_ID_SHARE = 0.5  # visits of a twice-registered person that use the second id
FOLLOW_UP_LAB_SHARE = 1 / 3  # chronic follow-ups with blood tests (about quarterly)
IN_HOSPITAL_DEATH = 0.04  # of the old admitted with a stroke or an infarction
RESEND_AFTER_NIGHTS = (1, 5)


@dataclass(frozen=True, slots=True)
class Posting:
    """One record a facility sends, with what the truth must say about it."""

    facility: Facility
    person_index: int
    patient: Patient
    encounter: Encounter
    noise: tuple[Noise, ...]
    rejected: bool
    flags: tuple[str, ...] = ()  # what the loaders must flag ("person_id:inconsistent")


@dataclass(frozen=True, slots=True)
class _Referral:
    person_index: int
    to: Facility
    illness: Illness
    from_code: str
    paper: str
    arrives_at: datetime


class CareFlow:
    def __init__(
        self, seed: int, population: Population, facilities: Iterable[Facility], start: date, days: int
    ):
        self.seed = seed
        self.population = population
        self.start = start
        self.days = days
        every = tuple(facilities)
        self._posting = tuple(f for f in every if f.format is not None)
        self._central = next(f for f in every if f.kind == FacilityKind.CENTRAL_HOSPITAL)
        self._due: defaultdict[int, list[Posting]] = defaultdict(list)
        self._referrals: defaultdict[int, list[_Referral]] = defaultdict(list)
        self._encounter_serials: Counter[tuple[str, date]] = Counter()
        self._paper_serials: Counter[str] = Counter()
        self._born_at: dict[int, str] = {}  # a baby born in sight: the facility of its maternity ward

    def night(self, day: int, visits: Iterable[tuple[int, VisitKind]]) -> list[Posting]:
        """Run day `day` (0 is the window's first; negative days warm up) and return what
        facilities post that night."""
        for person_index, kind in visits:
            self._visit(day, person_index, kind)
        while self._referrals.get(day):
            for referral in self._referrals.pop(day):
                self._arrive(referral)
        return self._due.pop(day, [])

    # --- where people go -----------------------------------------------------------------------

    def _weights(self, person: Person, candidates: tuple[Facility, ...]) -> list[float]:
        district = person.commune.old_district_code
        province = person.commune.old_province_code
        return [
            VISIT_WEIGHTS[f.kind]
            * (4.0 if f.district_code == district else 1.5 if f.province_code == province else 1.0)
            for f in candidates
        ]

    def _pick(self, person: Person, rng: random.Random, *, beds: bool) -> Facility:
        candidates = tuple(f for f in self._posting if f.has_beds or not beds) or self._posting
        return rng.choices(candidates, weights=self._weights(person, candidates))[0]

    def _usual(self, person: Person, *, beds: bool) -> Facility:
        """The facility a person habitually uses (for chronic care: one that has beds)."""
        return self._pick(person, stream(self.seed, "usual", person.index, beds), beds=beds)

    def _higher(self, facility: Facility, person: Person) -> Facility:
        """Where a patient is sent on: a provincial hospital (of their own old province first),
        else Bạch Mai."""
        if facility.kind == FacilityKind.PROVINCIAL_HOSPITAL:
            return self._central
        provincial = [f for f in self._posting if f.kind == FacilityKind.PROVINCIAL_HOSPITAL]
        provincial.sort(key=lambda f: f.province_code != person.commune.old_province_code)
        return provincial[0] if provincial else self._central

    # --- episodes -------------------------------------------------------------------------------

    def _visit(self, day: int, person_index: int, kind: VisitKind) -> None:
        rng = stream(self.seed, "visit", day, person_index, int(kind))
        person = self.population.person(person_index)
        if kind == VisitKind.BIRTH:
            self._birth(person, rng)
            return
        arrived = datetime.combine(self.start + timedelta(days=day), time(7)) + timedelta(
            minutes=rng.randrange(540)
        )
        leaves = arrived + timedelta(minutes=rng.randint(30, 180))
        if kind == VisitKind.FOLLOW_UP:
            facility = self._usual(person, beds=True)
            labs = rng.random() < FOLLOW_UP_LAB_SHARE
            # 08: chronic care with tests; 05: chronic care, examination and drugs only
            self._episode(
                facility, person, "08" if labs else "05", arrived, leaves, None, rng, with_labs=labs
            )
            return
        illness = acute_illness(person.age_on(arrived.date()), person.sex, rng)
        usual = rng.random() < USUAL_FACILITY_SHARE
        facility = self._usual(person, beds=False) if usual else self._pick(person, rng, beds=False)
        if rng.random() >= illness.admit:
            self._episode(facility, person, "01", arrived, leaves, illness, rng)
        elif facility.has_beds:
            self._admit(facility, person, illness, arrived, rng)
        else:
            hospital = self._higher(facility, person)
            paper = self._paper(facility, arrived)
            self._episode(
                facility, person, "01", arrived, leaves, illness, rng,
                result=TreatmentResult.UNCHANGED, discharge=DischargeType.TRANSFERRED,
                referred_to=hospital.code, paper=paper,
            )  # fmt: skip
            self._refer(person, hospital, illness, facility, paper, leaves + timedelta(hours=1))

    def _birth(self, baby: Person, rng: random.Random) -> None:
        """A baby born at a maternity ward, recorded there (under its mother's name: it has none
        yet, `recording.register`) and discharged with its mother, whose delivery is recorded
        there too. Twins are born at one ward within the hour and leave together: the ward, the
        time and the stay come from a stream of the birth, not of the baby."""
        birth = stream(self.seed, "birth", baby.household, baby.birth_date.toordinal())
        ward = self._pick(baby, birth, beds=True)
        arrived = datetime.combine(baby.birth_date, time(0)) + timedelta(minutes=birth.randrange(23 * 60))
        stay = birth.randint(*DELIVERY.stay_days)
        leaves = datetime.combine(baby.birth_date + timedelta(days=stay), time(8)) + timedelta(
            minutes=birth.randrange(180)
        )
        self._born_at[baby.index] = ward.code
        twin = baby.twin_of is not None
        result = TreatmentResult.CURED
        self._episode(
            ward, baby, "03", arrived, leaves, BORN_TWIN if twin else BORN_SINGLE, rng, result=result
        )
        if twin and baby.index > baby.twin_of:
            return  # the elder twin's birth recorded the mother's delivery
        mothers = (self.population.person(i) for i in baby.parents)
        mother = next((parent for parent in mothers if parent.sex == Sex.FEMALE), None)
        if mother is not None:
            delivery = DELIVERY_OF_TWINS if twin else DELIVERY
            self._episode(ward, mother, "03", arrived, leaves, delivery, rng, result=result)

    def _arrive(self, referral: _Referral) -> None:
        rng = stream(self.seed, "referral", referral.person_index, referral.paper)
        person = self.population.person(referral.person_index)
        self._admit(
            referral.to, person, referral.illness, referral.arrives_at, rng,
            referred_from=referral.from_code, paper=referral.paper,
        )  # fmt: skip

    def _admit(
        self,
        facility: Facility,
        person: Person,
        illness: Illness,
        arrived: datetime,
        rng: random.Random,
        *,
        referred_from: str | None = None,
        paper: str | None = None,
    ) -> None:
        transfer = rng.random() < illness.transfer
        stay = rng.randint(1, 2) if transfer else rng.randint(*illness.stay_days)
        leaves = datetime.combine(arrived.date() + timedelta(days=stay), time(8)) + timedelta(
            minutes=rng.randrange(180)
        )
        if transfer:
            # The record carries the paper this facility issues; an incoming one is on the sender's record.
            higher = self._higher(facility, person)
            onward = self._paper(facility, leaves)
            self._episode(
                facility, person, "03", arrived, leaves, illness, rng,
                result=TreatmentResult.UNCHANGED, discharge=DischargeType.TRANSFERRED,
                referred_from=referred_from, referred_to=higher.code, paper=onward,
            )  # fmt: skip
            self._refer(person, higher, illness, facility, onward, leaves + timedelta(hours=2))
            return
        old = person.age_on(arrived.date()) >= 60
        if illness.code in ("I63.9", "I21.9") and old and rng.random() < IN_HOSPITAL_DEATH:
            result = TreatmentResult.DIED
        else:
            result = TreatmentResult.CURED if rng.random() < 0.5 else TreatmentResult.IMPROVED
        self._episode(
            facility, person, "03", arrived, leaves, illness, rng,
            result=result, referred_from=referred_from, paper=paper,
        )  # fmt: skip

    def _refer(
        self,
        person: Person,
        to: Facility,
        illness: Illness,
        sender: Facility,
        paper: str,
        arrives_at: datetime,
    ) -> None:
        day = (arrives_at.date() - self.start).days
        if to.format is not None and day < self.days:  # Bạch Mai's side never reaches the province
            self._referrals[day].append(_Referral(person.index, to, illness, sender.code, paper, arrives_at))

    def _paper(self, facility: Facility, at: datetime) -> str:
        """GIAY_CHUYEN_TUYEN: the sender's referral-paper number."""
        self._paper_serials[facility.code] += 1
        return f"{self._paper_serials[facility.code]:05d}/{at.year}/{facility.code}"

    def _episode(
        self,
        facility: Facility,
        person: Person,
        visit_type: str,
        arrived: datetime,
        leaves: datetime,
        illness: Illness | None,
        rng: random.Random,
        *,
        with_labs: bool = False,
        result: TreatmentResult = TreatmentResult.IMPROVED,
        discharge: DischargeType = DischargeType.DISCHARGED,
        referred_from: str | None = None,
        referred_to: str | None = None,
        paper: str | None = None,
    ) -> None:
        night = (leaves.date() - self.start).days
        if not 0 <= night < self.days:
            return  # ends outside the window: posted on a night not generated
        self._encounter_serials[facility.code, arrived.date()] += 1
        serial = self._encounter_serials[facility.code, arrived.date()]
        episode = Episode(
            encounter_id=f"{facility.code}{arrived:%y%m%d}{serial:05d}",
            facility=facility,
            person=person,
            visit_type=visit_type,
            admitted_at=arrived,
            discharged_at=leaves,
            illness=illness,
            outcome=result,
            discharge_type=discharge,
            with_labs=with_labs,
            referred_from=referred_from,
            referred_to=referred_to,
            referral_paper=paper,
        )
        self._post(night, episode, build_encounter(episode, self.seed, rng), rng)

    def _post(self, night: int, episode: Episode, encounter: Encounter, rng: random.Random) -> None:
        """Queue the record for its night; some are sent incomplete first and corrected later."""
        facility, person = episode.facility, episode.person
        second = registers_twice(facility, person.index, self.seed) and rng.random() < SECOND_ID_SHARE
        day = episode.admitted_at.date()
        born_here = self._born_at.get(person.index) == facility.code
        registration = register(person, facility, self.seed, second=second, on=day, born_here=born_here)
        recorded = record_patient(person, facility, registration, day, self.seed, rng)

        def posting(sent: Encounter, noise: tuple[Noise, ...]) -> Posting:
            return Posting(
                facility, person.index, recorded.patient, sent, noise, recorded.rejected, recorded.flags
            )

        if not facility.noise.strikes(Noise.RESENT_CORRECTION, rng):
            self._due[night].append(posting(encounter, recorded.noise))
            return
        # First sent before the results and the full diagnosis list were in; re-sent complete later.
        draft = encounter.model_copy(
            update={"diagnoses": encounter.diagnoses[:1], "discharge_diagnosis_text": None, "lab_results": ()}
        )
        self._due[night].append(posting(draft, recorded.noise))
        resent = night + rng.randint(*RESEND_AFTER_NIGHTS)
        if resent < self.days:
            self._due[resent].append(posting(encounter, (*recorded.noise, Noise.RESENT_CORRECTION)))
