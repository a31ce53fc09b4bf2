"""The people of the province, generated household by household.

A household is regenerated from (seed, household number) alone, so the population never has
to be held in memory: the generator keeps only where each household's people start.
Households are where the hard negatives live: members share the family name (children take
the father's; Vietnamese wives keep their own), the address and the household phone; some
have twins; in some a child carries a parent's full name; and some heads are drawn from the
very common full names with birth years in a narrow band, so that unrelated people share both.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

from loaders.records import Sex
from synth.admin_units import COMMUNES, Commune
from synth.clinical import chronic_conditions
from synth.identifiers import (
    BIRTH_PROVINCES,
    CAREERS,
    Career,
    citizen_id,
    mobile_phone,
    old_id_card,
    social_insurance_number,
)
from synth.names import (
    FAMILY_NAMES,
    VERY_COMMON_BIRTH_YEARS,
    VERY_COMMON_FULL_NAMES,
    PersonName,
    given_name,
    middle_name,
    twin_given_name,
)
from synth.rng import Weighted, stream

CITIZEN_ID_AGE = 14  # children under 14 usually have no citizen ID yet
OLD_ID_CARD_ONLY_BEFORE = 1955  # some of the elderly never replaced their 9-digit card
OLD_ID_CARD_ONLY_SHARE = 0.25
TWIN_SHARE = 0.04  # of households with children (boosted from ~1.5% of births: a hard negative)
NAMESAKE_CHILD_SHARE = 0.015  # of households with a child: the child carries a parent's full name
VERY_COMMON_NAME_SHARE = 0.03  # of household heads
PHONE_CHANGE_SHARE = 0.25  # of phone owners change number within a year either side of the start
SECOND_PHONE_SHARE = 0.12

ETHNICITIES: Weighted[str] = Weighted([("01", 94.0), ("07", 2.5), ("02", 2.0), ("04", 0.7), ("06", 0.8)])
_VILLAGES = (
    "Đông", "Đoài", "Thượng", "Hạ", "Trung", "Nam", "Bắc", "Tiền", "Hậu", "Chùa", "Cầu", "Chợ",
    "Đình", "Mới", "Ngọc", "An", "Phú", "Lạc", "Yên", "Hòa",
)  # fmt: skip
_STREETS = (
    "Lý Thái Tổ", "Trần Hưng Đạo", "Nguyễn Văn Cừ", "Ngô Gia Tự", "Lê Lợi", "Hoàng Hoa Thám",
    "Nguyễn Trãi", "Lý Thường Kiệt", "Xương Giang", "Quang Trung",
)  # fmt: skip


class HouseholdKind(StrEnum):
    SINGLE = "single"
    COUPLE = "couple"
    FAMILY = "family"
    THREE_GENERATIONS = "three_generations"


HOUSEHOLD_KINDS: Weighted[HouseholdKind] = Weighted(
    [
        (HouseholdKind.SINGLE, 14),
        (HouseholdKind.COUPLE, 14),
        (HouseholdKind.FAMILY, 50),
        (HouseholdKind.THREE_GENERATIONS, 22),
    ]
)


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    household: int
    name: PersonName
    sex: Sex
    birth_date: date
    birth_province: str  # citizen-ID digits 1-3
    citizen_id: str | None
    old_id_number: str | None
    social_insurance_number: str
    career: Career
    phones: tuple[tuple[date, str], ...]  # (since, number), oldest first; empty for children
    second_phone: str | None
    household_phone: str | None
    commune: Commune
    address_line: str
    ethnicity_code: str
    conditions: tuple[str, ...]
    guardian_citizen_id: str | None = None  # a parent's, for children without one
    mother_name: str | None = None  # the mother's full name, if she lives in the household
    twin_of: int | None = None
    namesake_of: int | None = None
    parents: tuple[int, ...] = ()  # indexes of the parents living in the household (truth only)

    @property
    def person_id(self) -> str:
        return person_id(self.index)

    @property
    def household_id(self) -> str:
        return f"H{self.household + 1:07d}"

    @property
    def insurance_province(self) -> str:
        return self.commune.old_province_code

    def age_on(self, day: date) -> int:
        return _age(self.birth_date, day)

    def phone_on(self, day: date) -> str | None:
        """The person's own number on that day, or the household's for those without one."""
        current = None
        for since, number in self.phones:
            if since <= day:
                current = number
        return current or self.household_phone


def person_id(index: int) -> str:
    return f"P{index + 1:07d}"


@dataclass(frozen=True, slots=True)
class _Member:
    """A person before identifiers are given: who they are within the household."""

    name: PersonName
    sex: Sex
    birth_date: date
    parent_slots: tuple[int, ...] = ()
    twin_slot: int | None = None
    namesake_slot: int | None = None


@dataclass(frozen=True, slots=True)
class Household:
    index: int
    members: tuple[Person, ...]


def _birthday(year: int, rng: random.Random) -> date:
    return date(year, 1, 1) + timedelta(days=rng.randrange(365))


def _adult(sex: Sex, family: str, birth_year: int, rng: random.Random) -> _Member:
    name = PersonName(family, middle_name(sex, birth_year, rng), given_name(sex, rng))
    return _Member(name, sex, _birthday(birth_year, rng))


def _sex(rng: random.Random) -> Sex:
    return Sex.MALE if rng.random() < 0.51 else Sex.FEMALE


def _head(sex: Sex, birth_year: int, very_common: bool, rng: random.Random) -> _Member:
    """The household head; a few carry one of the very common full names and birth years."""
    if not very_common:
        return _adult(sex, FAMILY_NAMES.pick(rng), birth_year, rng)
    family, middle, given = rng.choice(VERY_COMMON_FULL_NAMES[sex])
    return _Member(
        PersonName(family, middle, given), sex, _birthday(rng.choice(VERY_COMMON_BIRTH_YEARS), rng)
    )


def _children(father: int, mother: int, members: list[_Member], born_until: date, rng: random.Random) -> None:
    """One to three children of members[father] and members[mother], born by `born_until`; maybe
    twins, maybe a son who carries his father's full name."""
    family = members[father].name.family
    year = members[mother].birth_date.year + rng.randint(20, 30)
    slots: list[int] = []
    for _ in range(rng.choices((1, 2, 3), weights=(30, 50, 20))[0]):
        birth = _birthday(year, rng)
        if birth > born_until:
            break
        sex = _sex(rng)
        given = given_name(sex, rng)
        while any(members[slot].name.given == given for slot in slots):
            given = given_name(sex, rng)
        members.append(
            _Member(PersonName(family, middle_name(sex, year, rng), given), sex, birth, (father, mother))
        )
        slots.append(len(members) - 1)
        year += rng.randint(2, 6)
    if slots and rng.random() < TWIN_SHARE:
        elder = members[slots[-1]]
        sex = elder.sex if rng.random() < 0.7 else Sex(3 - elder.sex)
        name = PersonName(family, elder.name.middle, twin_given_name(sex, elder.name.given, rng))
        members.append(_Member(name, sex, elder.birth_date, (father, mother), twin_slot=slots[-1]))
        members[slots[-1]] = replace(elder, twin_slot=len(members) - 1)
    sons = [slot for slot in slots if members[slot].sex == Sex.MALE]
    if sons and rng.random() < NAMESAKE_CHILD_SHARE:
        members[sons[0]] = replace(members[sons[0]], name=members[father].name, namesake_slot=father)
        members[father] = replace(members[father], namesake_slot=sons[0])


def _members(kind: HouseholdKind, reference: date, born_until: date, rng: random.Random) -> list[_Member]:
    year = reference.year
    very_common = rng.random() < VERY_COMMON_NAME_SHARE
    if kind == HouseholdKind.SINGLE:
        age = rng.randint(18, 35) if rng.random() < 0.5 else rng.randint(65, 95)
        return [_head(_sex(rng), year - age, very_common, rng)]
    if kind == HouseholdKind.COUPLE:
        father_age = rng.randint(22, 30) if rng.random() < 0.5 else rng.randint(60, 85)
    else:
        father_age = rng.randint(25, 45) if kind == HouseholdKind.THREE_GENERATIONS else rng.randint(24, 58)
    father = _head(Sex.MALE, year - father_age, very_common, rng)
    members: list[_Member] = []
    if kind == HouseholdKind.THREE_GENERATIONS:
        grand_year = max(father.birth_date.year - rng.randint(22, 32), year - 98)
        if rng.random() < 0.6:
            members.append(_adult(Sex.MALE, father.name.family, grand_year, rng))
        members.append(_adult(Sex.FEMALE, FAMILY_NAMES.pick(rng), grand_year + rng.randint(0, 5), rng))
        father = replace(father, parent_slots=tuple(range(len(members))))  # the grandparents
    members.append(father)
    father_slot = len(members) - 1
    mother_year = min(father.birth_date.year + rng.randint(0, 5), year - 18)
    members.append(_adult(Sex.FEMALE, FAMILY_NAMES.pick(rng), mother_year, rng))
    if kind != HouseholdKind.COUPLE:
        _children(father_slot, len(members) - 1, members, born_until, rng)
    return members


def _address_line(commune: Commune, rng: random.Random) -> str:
    if commune.is_urban:
        return f"Số {rng.randint(1, 250)} đường {rng.choice(_STREETS)}"
    return f"Thôn {rng.choice(_VILLAGES)}"


def _phones(age: int, reference: date, rng: random.Random) -> tuple[tuple[date, str], ...]:
    if age < 18 or rng.random() > (0.92 if age < 70 else 0.6):
        return ()
    first = (date.min, mobile_phone(rng))
    if rng.random() < PHONE_CHANGE_SHARE:
        return (first, (reference + timedelta(days=rng.randint(-365, 365)), mobile_phone(rng)))
    return (first,)


def generate_household(
    seed: int, index: int, first_person: int, reference: date, limit: int, born_until: date | None = None
) -> Household:
    """Household `index`, its people numbered from `first_person`, at most `limit` of them
    (the last household is cut to make the population exactly the size asked for). Ages are on
    `reference` (the window's start); children are born up to `born_until` (default: `reference`),
    so a window's own births are in it: a baby born after `reference` is of age -1 there."""
    rng = stream(seed, "household", index)
    commune = rng.choice(COMMUNES)
    address_line = _address_line(commune, rng)
    members = _members(HOUSEHOLD_KINDS.pick(rng), reference, born_until or reference, rng)[:limit]
    born_here = rng.random() < 0.85
    people: list[Person] = []
    for slot, member in enumerate(members):
        index_ = first_person + slot
        age = _age(member.birth_date, reference)
        province = f"0{commune.old_province_code}" if born_here and age < 40 else BIRTH_PROVINCES.pick(rng)
        has_citizen_id = age >= CITIZEN_ID_AGE and not (
            member.birth_date.year < OLD_ID_CARD_ONLY_BEFORE and rng.random() < OLD_ID_CARD_ONLY_SHARE
        )
        cid = (
            citizen_id(province, member.sex, member.birth_date.year, index_, seed) if has_citizen_id else None
        )
        old_id = None if cid or age < CITIZEN_ID_AGE else old_id_card(commune.old_province_code, index_, seed)
        people.append(
            Person(
                index=index_,
                household=index,
                name=member.name,
                sex=member.sex,
                birth_date=member.birth_date,
                birth_province=province,
                citizen_id=cid,
                old_id_number=old_id,
                social_insurance_number=social_insurance_number(commune.old_province_code, index_, seed),
                career=CAREERS.pick(rng),
                phones=_phones(age, reference, rng),
                second_phone=mobile_phone(rng) if age >= 18 and rng.random() < SECOND_PHONE_SHARE else None,
                household_phone=None,
                commune=commune,
                address_line=address_line,
                ethnicity_code=ETHNICITIES.pick(rng),
                conditions=chronic_conditions(age, member.sex, rng),
                twin_of=_slot_index(member.twin_slot, first_person, len(members)),
                namesake_of=_slot_index(member.namesake_slot, first_person, len(members)),
            )
        )
    return Household(index, _with_family_links(people, members))


def _with_family_links(people: list[Person], members: list[_Member]) -> tuple[Person, ...]:
    """Fill what depends on other members: the household phone, a parent's ID for children."""
    household_phone = next((p.phones[-1][1] for p in people if p.phones), None)
    linked = []
    for person, member in zip(people, members, strict=True):
        guardians = [people[slot].citizen_id for slot in member.parent_slots if slot < len(people)]
        guardian = next((cid for cid in guardians[::-1] if cid), None)
        parents = [people[p].index for p in member.parent_slots if p < len(people)]
        mothers = [
            people[p].name.full
            for p in member.parent_slots
            if p < len(people) and people[p].sex == Sex.FEMALE
        ]
        linked.append(
            replace(
                person,
                household_phone=household_phone,
                guardian_citizen_id=guardian,
                parents=tuple(parents),
                mother_name=mothers[-1] if mothers else None,
            )
        )
    return tuple(linked)


def _slot_index(slot: int | None, first_person: int, size: int) -> int | None:
    return first_person + slot if slot is not None and slot < size else None


def _age(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class Population:
    """`size` people, in households; a person can be looked up again by index at any time.
    Ages are on `reference`; children are born up to `born_until` (default: `reference`)."""

    def __init__(self, seed: int, size: int, reference: date, born_until: date | None = None) -> None:
        self.seed = seed
        self.size = size
        self.reference = reference
        self.born_until = born_until or reference
        self._starts = array("Q")
        self._household = lru_cache(maxsize=4096)(self._generate)

    def households(self) -> Iterator[Household]:
        """Generate every household once, in order, remembering where each starts."""
        self._starts = array("Q")
        first = 0
        index = 0
        while first < self.size:
            self._starts.append(first)
            household = self._generate(index, first)
            yield household
            first += len(household.members)
            index += 1

    def person(self, index: int) -> Person:
        """Person `index`, regenerated (households() must have run once, to know where each starts)."""
        household = bisect_right(self._starts, index) - 1
        members = self._household(household, self._starts[household]).members
        return members[index - self._starts[household]]

    def _generate(self, index: int, first: int) -> Household:
        return generate_household(self.seed, index, first, self.reference, self.size - first, self.born_until)
