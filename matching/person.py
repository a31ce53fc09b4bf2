"""The engine's input, one source record of a person, and its form prepared for comparison.

`prepare` does all per-record work once (parsing the name, folding, decoding identifiers), so
comparing a pair only reads attributes: a record is prepared once and compared many times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from loaders.identifiers import (
    InvalidIdentifier,
    citizen_id_facts,
    clean_identifier,
    normalise_phone,
    parse_insurance_card,
)
from matching.address import CommuneFacts, commune_facts
from matching.names import PersonName, parse_name


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonRecord:
    record_id: int
    facility_code: str
    full_name: str
    birth_year: int | None = None
    birth_month: int | None = None  # None with birth_day for a year-only birth date
    birth_day: int | None = None
    sex: int | None = None  # GIOI_TINH: 1 male, 2 female, 3 undetermined
    citizen_id: str | None = None  # 12 digits
    old_id_number: str | None = None  # 9 digits (CMND)
    passport: str | None = None
    social_insurance_number: str | None = None  # the card's lifelong 10 digits (a whole card is accepted)
    phone: str | None = None
    address_text: str | None = None
    province_code: str | None = None
    district_code: str | None = None  # present only in three-level (pre-July 2025) addresses
    commune_code: str | None = None
    recorded_at: date | None = None  # date of the episode the record comes from
    # The day the patient's earliest episode at this facility began: a baby's record made at its
    # birth (at the maternity ward it was born in) has its birth date here.
    first_visit: date | None = None


@dataclass(frozen=True, slots=True)
class BirthFacts:
    year: int
    month: int | None
    day: int | None
    digits: str | None  # yyyymmdd when the full date is known
    ordinal: int | None  # days since 0001-01-01 when the full date is known

    def __str__(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        return f"{self.year:04d}-{self.month:02d}" + (f"-{self.day:02d}" if self.day else "")


@dataclass(frozen=True, slots=True)
class HeldIdentifier:
    """An identifier with the birth year of the person it was recorded for.

    A card is sometimes recorded for someone else (a child under a parent's citizen ID), so
    agreement counts as the same person's only when the birth years agree too.
    """

    value: str
    birth_year: int | None

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class PreparedPerson:
    record: PersonRecord
    name: PersonName
    birth: BirthFacts | None
    sex: int | None  # 1 or 2; undetermined counts as unknown
    citizen_id: HeldIdentifier | None  # only a valid citizen ID
    old_id: HeldIdentifier | None
    passport: HeldIdentifier | None
    social_insurance: HeldIdentifier | None
    phone: str | None
    commune: CommuneFacts
    made_at_birth: bool = False  # its first episode began on its birth date: a baby's, at its ward

    @property
    def record_id(self) -> int:
        return self.record.record_id


def prepare(record: PersonRecord) -> PreparedPerson:
    birth = _birth_date(record)
    year = birth.year if birth else None
    return PreparedPerson(
        record=record,
        name=parse_name(record.full_name),
        birth=birth,
        sex=record.sex if record.sex in (1, 2) else None,
        citizen_id=_held(_valid_citizen_id(record.citizen_id), year),
        old_id=_held(_cleaned(record.old_id_number), year),
        passport=_held(_cleaned(record.passport), year),
        social_insurance=_held(_social_insurance(record.social_insurance_number), year),
        phone=normalise_phone(record.phone) if record.phone else None,
        commune=commune_facts(
            text=record.address_text,
            district_code=record.district_code,
            commune_code=record.commune_code,
            recorded_at=record.recorded_at,
        ),
        made_at_birth=(
            birth is not None
            and birth.ordinal is not None
            and record.first_visit is not None
            and record.first_visit.toordinal() == birth.ordinal
        ),
    )


def _birth_date(record: PersonRecord) -> BirthFacts | None:
    if record.birth_year is None:
        return None
    if record.birth_month is None or record.birth_day is None:
        month = record.birth_month if record.birth_month in range(1, 13) else None
        return BirthFacts(record.birth_year, month, None, None, None)
    try:
        born = date(record.birth_year, record.birth_month, record.birth_day)
    except ValueError:
        return BirthFacts(record.birth_year, None, None, None, None)
    digits = f"{born.year:04d}{born.month:02d}{born.day:02d}"  # as strftime("%Y%m%d"), at a fifth of its cost
    return BirthFacts(born.year, born.month, born.day, digits, born.toordinal())


def _held(value: str | None, birth_year: int | None) -> HeldIdentifier | None:
    return HeldIdentifier(value, birth_year) if value else None


def _cleaned(raw: str | None) -> str | None:
    return clean_identifier(raw) or None if raw else None


def _valid_citizen_id(raw: str | None) -> str | None:
    value = _cleaned(raw)
    if value is None:
        return None
    try:
        citizen_id_facts(value)
    except InvalidIdentifier:
        return None
    return value


def _social_insurance(raw: str | None) -> str | None:
    value = _cleaned(raw)
    if value is not None and len(value) == 15:
        try:
            return parse_insurance_card(value).social_insurance_number
        except InvalidIdentifier:
            return value
    return value
