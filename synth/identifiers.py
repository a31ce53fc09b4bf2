"""Identifiers whose digits agree with the person: citizen IDs, old ID cards, insurance cards, phones.

Serial parts come from `scramble` of the person's index, so two people never share a
citizen ID or a social-insurance number (up to a million people per birth province, sex and
year) and no number is sequential.
"""

from __future__ import annotations

import random
from enum import StrEnum
from functools import lru_cache

from loaders.records import Sex
from synth.rng import Weighted, scramble, stream

# Where people living in the province had their birth registered (CCCD digits 1-3).
BIRTH_PROVINCES: Weighted[str] = Weighted(
    [("027", 44), ("024", 46), ("001", 4), ("019", 1.5), ("030", 1.5), ("022", 1), ("020", 1), ("079", 1)]
)
# Multipliers for `scramble`, one per kind of number (all coprime to 10).
_CITIZEN_ID_MIX = 7_919_317
_OLD_ID_CARD_MIX = 2_718_281
_SOCIAL_INSURANCE_MIX = 3_141_593
# First digits of the old 9-digit ID card by issuing province [R]: Bắc Ninh 125, Bắc Giang 121.
_OLD_ID_CARD_PREFIX = {"27": "125", "24": "121"}


@lru_cache(maxsize=64)
def _salt(seed: int, kind: str) -> int:
    return stream(seed, "identifier salt", kind).randrange(10**8)


def citizen_id(birth_province: str, sex: Sex, birth_year: int, serial: int, seed: int) -> str:
    """12 digits: province of birth registration, century+sex, year, six scrambled digits."""
    century_sex = 2 * ((birth_year - 1900) // 100) + (0 if sex == Sex.MALE else 1)
    digits = scramble(serial, 10**6, _salt(seed, "citizen_id"), _CITIZEN_ID_MIX)
    return f"{birth_province}{century_sex}{birth_year % 100:02d}{digits:06d}"


def old_id_card(province: str, serial: int, seed: int) -> str:
    digits = scramble(serial, 10**6, _salt(seed, "old_id_card"), _OLD_ID_CARD_MIX)
    return f"{_OLD_ID_CARD_PREFIX[province]}{digits:06d}"


def social_insurance_number(province: str, serial: int, seed: int) -> str:
    """The lifelong 10 digits of the insurance card (issuing province, then 8 digits)."""
    return f"{province}{scramble(serial, 10**8, _salt(seed, 'social_insurance'), _SOCIAL_INSURANCE_MIX):08d}"


class Career(StrEnum):
    """What pays a working-age adult's insurance; it decides the card's two-letter group."""

    EMPLOYEE = "employee"  # DN, company employee
    CIVIL_SERVANT = "civil_servant"  # HC
    FARMER = "farmer"  # GD, household-based card
    POOR = "poor"  # HN, poor household, state-paid
    UNINSURED = "uninsured"


CAREERS: Weighted[Career] = Weighted(
    [
        (Career.EMPLOYEE, 38),
        (Career.CIVIL_SERVANT, 8),
        (Career.FARMER, 40),
        (Career.POOR, 5),
        (Career.UNINSURED, 9),
    ]
)
_CAREER_GROUP = {
    Career.EMPLOYEE: ("DN", 4),
    Career.CIVIL_SERVANT: ("HC", 4),
    Career.FARMER: ("GD", 4),
    Career.POOR: ("HN", 1),
}
JOB_CHANGE_PER_YEAR = 0.12


def career_in_year(career: Career, age: int, rng: random.Random) -> Career:
    """A working adult may change what pays their card from one year to the next."""
    if career in (Career.EMPLOYEE, Career.FARMER) and 22 <= age < 60 and rng.random() < JOB_CHANGE_PER_YEAR:
        return Career.FARMER if career == Career.EMPLOYEE else Career.EMPLOYEE
    return career


def card_group(age: int, career: Career) -> tuple[str, int] | None:
    """The beneficiary group and benefit level of the card held at this age, or None if uninsured."""
    if age < 6:
        return "TE", 1
    if age < 18:
        return "HS", 4
    if age >= 80:
        return "CT", 2
    if age >= 60 and career in (Career.EMPLOYEE, Career.CIVIL_SERVANT):
        return "HT", 2
    return _CAREER_GROUP.get(career)


def insurance_card(group: str, level: int, province: str, number: str) -> str:
    return f"{group}{level}{province}{number}"


_MOBILE_PREFIXES = (
    "090", "091", "093", "094", "096", "097", "098", "032", "033", "034", "035", "036", "037",
    "038", "039", "086", "088", "089", "070", "076", "077", "078", "079", "081", "082", "083",
    "084", "085", "056", "058",
)  # fmt: skip


def mobile_phone(rng: random.Random) -> str:
    return f"{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(10**7):07d}"
