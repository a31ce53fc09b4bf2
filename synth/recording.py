"""How a facility records a person: its local patient id, what its desk typed at registration,
and the patient part of each record, with the noise it carries.

An identifier no valid canonical record can hold as sent (a child under a parent's citizen ID, a
citizen-ID typo that contradicts the sex or birth year, 11 digits left by a spreadsheet, 2.4185E+10,
full-width digits) is put in the file as sent (the patient is built with `model_construct`). The
loaders store such a record with a flag on the identifier (`person_id_flag` says which), so the
truth lists the flag; a record is an expected reject only when it could not be stored even with
its suspect identifiers set aside (none of the generator's noise does that).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from pydantic import ValidationError

from loaders.dates import BirthDate
from loaders.records import Address, FlaggedIdentifier, FlagKind, Patient, Sex
from synth.admin_units import NEW_PROVINCE_CODE, NEW_PROVINCE_NAME, OLD_PROVINCE_NAMES
from synth.facilities import Facility, FacilityKind
from synth.identifiers import Career, card_group, career_in_year, insurance_card
from synth.noise import (
    Noise,
    citizen_id_typo,
    drop_diacritics,
    drop_middle,
    extra_spaces,
    full_width,
    given_first,
    miscode_sex,
    newborn_name,
    partly_unaccented,
    person_id_flag,
    repaired_person_id,
    scientific_notation,
    spelling_variant,
    strip_leading_zeros,
    swap_day_month,
    telex_remnant,
    to_nfd,
    to_upper,
    typo,
    year_only,
)
from synth.population import Person
from synth.rng import scramble, stream

MERGER_DATE = date(2025, 7, 1)
YEAR_ONLY_BIRTHS_BEFORE = 1970  # exact birth dates are unknown mostly for the old
SECOND_PHONE_GIVEN = 0.3  # of visits by people with two numbers, those where they give the second
# A birth is registered within 60 days (Law on Civil Status 2014, art. 15), which names the baby and,
# through the linked online procedure, issues its insurance card (TE, under 6): until then a desk
# has no name of its own for it [R: recollection of how the procedure runs, not measured].
NAMED_WITHIN_DAYS = (7, 60)
SECOND_REGISTRATION_OFFSET = 50_000_000  # second local ids come from indices above every person's
_LOCAL_ID_MIX = 9_876_543
_LOCAL_ID_PREFIX = {
    FacilityKind.PROVINCIAL_HOSPITAL: "BN",
    FacilityKind.MEDICAL_CENTRE: "",
    FacilityKind.PRIVATE_HOSPITAL: "PID",
    FacilityKind.CLINIC: "KH",
}


def local_patient_id(facility: Facility, person_index: int, seed: int, *, second: bool) -> str:
    """MA_BN: unique within the facility, stable for the person; a second registration differs."""
    number = person_index + (SECOND_REGISTRATION_OFFSET if second else 0)
    digits = scramble(number, 10**8, _salt(seed, facility.code), _LOCAL_ID_MIX)
    return f"{_LOCAL_ID_PREFIX[facility.kind]}{digits:08d}"


@lru_cache(maxsize=256)
def _salt(seed: int, facility_code: str) -> int:
    return stream(seed, "local id salt", facility_code).randrange(10**8)


def registers_twice(facility: Facility, person_index: int, seed: int) -> bool:
    """Whether this person was registered a second time at this facility, under another id."""
    return facility.noise.strikes(
        Noise.DUPLICATE_REGISTRATION, stream(seed, "duplicate", facility.code, person_index)
    )


@dataclass(frozen=True, slots=True)
class Registration:
    """What the facility has on file for one local patient id."""

    local_id: str
    full_name: str
    birth_date: BirthDate
    sex: Sex
    citizen_id: str | None  # the ID on file (maybe a typo or a parent's), in ASCII digits
    old_id_number: str | None
    noise: tuple[Noise, ...]
    without_card: bool = False  # a baby's, before its birth was registered (the card comes with it)
    # How the facility writes the person's ID and phone (its spreadsheet's or keyboard's damage):
    # each kind is in `noise` only on the records where it changed what was written.
    written_as: tuple[Noise, ...] = ()

    def written_id(self, citizen_id: str) -> tuple[str, tuple[Noise, ...]]:
        """The citizen ID as this facility's file carries it, and the kinds that changed it."""
        if Noise.CITIZEN_ID_SCIENTIFIC in self.written_as:
            return scientific_notation(citizen_id), (Noise.CITIZEN_ID_SCIENTIFIC,)
        if Noise.EXCEL_LEADING_ZERO in self.written_as and citizen_id.startswith("0"):
            return strip_leading_zeros(citizen_id), (Noise.EXCEL_LEADING_ZERO,)
        if Noise.CITIZEN_ID_FULL_WIDTH in self.written_as:
            return full_width(citizen_id), (Noise.CITIZEN_ID_FULL_WIDTH,)
        return citizen_id, ()

    def written_phone(self, phone: str) -> tuple[str, tuple[Noise, ...]]:
        if Noise.EXCEL_LEADING_ZERO in self.written_as and phone.startswith("0"):
            return strip_leading_zeros(phone), (Noise.EXCEL_LEADING_ZERO,)
        return phone, ()


def named_on(person: Person, seed: int) -> date:
    """The day the person's birth was registered: from then on every desk has the baby's own name."""
    after = stream(seed, "birth registered", person.index).randint(*NAMED_WITHIN_DAYS)
    return person.birth_date + timedelta(days=after)


def register(
    person: Person,
    facility: Facility,
    seed: int,
    *,
    second: bool,
    on: date | None = None,
    born_here: bool = False,
) -> Registration:
    """What the desk typed for a record made `on` that day (if given). A baby whose birth is not
    registered yet has no card, and is under its mother's name at the maternity ward it was born
    in (`born_here`), and at other facilities at their rate of `newborn_mother_name` (a desk may
    instead take the name the parents have chosen)."""
    rng = stream(seed, "registration", facility.code, person.index, second)
    later = stream(seed, "registration later", facility.code, person.index, second)  # kinds added later
    newer = stream(seed, "registration issue 18", facility.code, person.index, second)
    rates = facility.noise
    noise: list[Noise] = [Noise.DUPLICATE_REGISTRATION] if second else []
    young = on is not None and (on - person.birth_date).days < NAMED_WITHIN_DAYS[1]
    unnamed = young and on is not None and on < named_on(person, seed)
    newborn = (
        unnamed
        and person.mother_name is not None
        and (born_here or rates.strikes(Noise.NEWBORN_MOTHER_NAME, newer))
    )

    name = person.name
    if name.middle and rates.strikes(Noise.NAME_MIDDLE_DROPPED, rng):
        name = drop_middle(name)
        noise.append(Noise.NAME_MIDDLE_DROPPED)
    text = name.full
    if rates.strikes(Noise.NAME_SWAPPED, rng):
        text = given_first(name)
        noise.append(Noise.NAME_SWAPPED)
    for kind, change in (
        (Noise.NAME_TYPO, lambda t: typo(t, rng)),
        (Noise.NAME_SPELLING_VARIANT, spelling_variant),
        (Noise.NAME_NO_DIACRITICS, drop_diacritics),
        (Noise.NAME_UPPER, to_upper),
        (Noise.NAME_NFD, to_nfd),
        (Noise.NAME_EXTRA_SPACES, lambda t: extra_spaces(t, rng)),
    ):
        if rates.strikes(kind, rng) and (changed := change(text)) != text:
            text = changed
            noise.append(kind)
    for kind, change in (
        (Noise.NAME_TELEX, lambda t: telex_remnant(t, newer)),
        (Noise.NAME_PARTLY_UNACCENTED, lambda t: partly_unaccented(t, newer)),
    ):
        if not newborn and rates.strikes(kind, newer) and (changed := change(text)) != text:
            text = changed
            noise.append(kind)
    if newborn:
        assert person.mother_name is not None
        text = newborn_name(person.mother_name, newer)
        noise = [kind for kind in noise if not kind.value.startswith("name_")]
        noise.append(Noise.NEWBORN_MOTHER_NAME)

    born = person.birth_date
    birth = BirthDate(year=born.year, month=born.month, day=born.day)
    if born.year < YEAR_ONLY_BIRTHS_BEFORE and rates.strikes(Noise.BIRTH_YEAR_ONLY, rng):
        birth = year_only(born)
        noise.append(Noise.BIRTH_YEAR_ONLY)
    elif rates.strikes(Noise.BIRTH_DAY_MONTH_SWAPPED, rng) and (swapped := swap_day_month(born)):
        birth = swapped
        noise.append(Noise.BIRTH_DAY_MONTH_SWAPPED)

    citizen_id = person.citizen_id
    if citizen_id and rates.strikes(Noise.CITIZEN_ID_TYPO, rng):
        citizen_id = citizen_id_typo(citizen_id, rng)
        noise.append(Noise.CITIZEN_ID_TYPO)
    elif (
        citizen_id is None
        and person.guardian_citizen_id
        and person.old_id_number is None
        and (rates.strikes(Noise.CHILD_UNDER_PARENT_ID, rng) or (newborn and newer.random() < 0.5))
    ):
        citizen_id = person.guardian_citizen_id
        noise.append(Noise.CHILD_UNDER_PARENT_ID)

    sex = person.sex
    if rates.strikes(Noise.SEX_MISCODED, later):
        sex = miscode_sex(sex)
        noise.append(Noise.SEX_MISCODED)
    # Scientific notation is a spreadsheet's too, so it comes with the lost zeros (of the phone).
    scientific = rates.strikes(Noise.CITIZEN_ID_SCIENTIFIC, later)
    written_as = tuple(
        kind
        for kind, struck in (
            (Noise.EXCEL_LEADING_ZERO, rates.strikes(Noise.EXCEL_LEADING_ZERO, later) or scientific),
            (Noise.CITIZEN_ID_SCIENTIFIC, scientific),
            (Noise.CITIZEN_ID_FULL_WIDTH, rates.strikes(Noise.CITIZEN_ID_FULL_WIDTH, later)),
        )
        if struck
    )
    return Registration(
        local_id=local_patient_id(facility, person.index, seed, second=second),
        full_name=text,
        birth_date=birth,
        sex=sex,
        citizen_id=citizen_id,
        old_id_number=person.old_id_number,
        noise=tuple(noise),
        without_card=unnamed,
        written_as=written_as,
    )


def insurance_card_on(person: Person, day: date, seed: int) -> str | None:
    """The card valid that year: its group follows age and what pays for it; its 10 digits never change."""
    age = day.year - person.birth_date.year
    career = person.career
    if career != Career.UNINSURED:
        career = career_in_year(career, age, stream(seed, "career", person.index, day.year))
    group = card_group(age, career)
    if group is None:
        return None
    return insurance_card(*group, person.insurance_province, person.social_insurance_number)


def address_on(person: Person, day: date, *, old_form: bool) -> Address:
    """Three-level (commune, district, old province) before the merger, two-level after it."""
    commune = person.commune
    if day < MERGER_DATE or old_form:
        return Address(
            text=f"{person.address_line}, {commune.old_commune_name}, {commune.old_district_name}, "
            f"{OLD_PROVINCE_NAMES[commune.old_province_code]}",
            province_code=commune.old_province_code,
            district_code=commune.old_district_code,
            commune_code=commune.old_commune_code,
        )
    return Address(
        text=f"{person.address_line}, {commune.new_commune_name}, {NEW_PROVINCE_NAME}",
        province_code=NEW_PROVINCE_CODE,
        commune_code=commune.new_commune_code,
    )


@dataclass(frozen=True, slots=True)
class RecordedPatient:
    patient: Patient  # as the file carries it (identifiers as sent)
    noise: tuple[Noise, ...]
    rejected: bool  # the loaders must reject it: it cannot be stored even without its suspect identifiers
    flags: tuple[str, ...] = ()  # the loaders must flag these: "person_id:inconsistent"


def record_patient(
    person: Person, facility: Facility, registration: Registration, day: date, seed: int, rng: random.Random
) -> RecordedPatient:
    """The patient part of one record made on `day`."""
    noise = list(registration.noise)
    citizen_id, old_id = registration.citizen_id, registration.old_id_number
    if (citizen_id or old_id) and facility.noise.strikes(Noise.CITIZEN_ID_MISSING, rng):
        citizen_id = old_id = None
        noise.append(Noise.CITIZEN_ID_MISSING)
    old_form = day >= MERGER_DATE and facility.noise.strikes(Noise.ADDRESS_OLD_FORM, rng)
    if old_form:
        noise.append(Noise.ADDRESS_OLD_FORM)
    card = None if registration.without_card else insurance_card_on(person, day, seed)
    second_phone = person.second_phone and rng.random() < SECOND_PHONE_GIVEN
    phone = person.second_phone if second_phone else person.phone_on(day)
    written: list[Noise] = []
    if phone:
        phone, changed = registration.written_phone(phone)
        written += changed
    sent_id = None
    if citizen_id:
        sent_id, changed = registration.written_id(citizen_id)
        written += changed
    noise += dict.fromkeys(written)  # in order, once each
    fields = {
        "facility_code": facility.code,
        "local_id": registration.local_id,
        "full_name": registration.full_name,
        "birth_date": registration.birth_date,
        "sex": registration.sex,
        "citizen_id": citizen_id,
        "old_id_number": old_id,
        "insurance_cards": (card,) if card else (),
        "social_insurance_number": person.social_insurance_number if card else None,
        "phone": phone,
        "address": address_on(person, day, old_form=old_form),
        "ethnicity_code": person.ethnicity_code,
    }
    flag = None
    if sent_id is not None:
        year = registration.birth_date.year
        flag = person_id_flag(sent_id, sex=registration.sex, birth_year=year)
        # What the loaders keep: the repaired ID, or none at all for a suspect one.
        fields["citizen_id"] = (
            citizen_id if flag is None else repaired_person_id(sent_id) if flag == FlagKind.REPAIRED else None
        )
    flags = (f"{FlaggedIdentifier.PERSON_ID.value}:{flag.value}",) if flag else ()
    try:
        stored = Patient(**fields)
    except ValidationError:
        as_sent = Patient.model_construct(**{**fields, "citizen_id": sent_id})
        return RecordedPatient(as_sent, tuple(noise), rejected=True, flags=flags)
    if sent_id != stored.citizen_id:
        stored = Patient.model_construct(**{**dict(stored), "citizen_id": sent_id})
    return RecordedPatient(stored, tuple(noise), rejected=False, flags=flags)
