"""Vietnamese person and facility identifiers: shape rules and what their digits say.

Every check returns a reason a facility can act on, phrased without the field name;
the loader that knows the source field name (SO_CCCD, MA_THE_BHYT, ...) prefixes it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

_CITIZEN_ID = re.compile(r"\d{12}", re.ASCII)
_OLD_ID_CARD = re.compile(r"\d{9}", re.ASCII)
_PASSPORT = re.compile(r"[A-Z]\d{7}", re.ASCII)
_INSURANCE_CARD = re.compile(r"([A-Z]{2})([1-5])(\d{2})(\d{10})", re.ASCII)
_FACILITY_CODE = re.compile(r"[0-9A-Z]{5}", re.ASCII)
_ID_SEPARATORS = re.compile(r"[\s.\-]")
_NOT_DIGIT = re.compile(r"\D", re.ASCII)
# What a spreadsheet makes of a 12-digit number in a cell typed as a number: 2.41851E+11.
_SPREADSHEET_NUMBER = re.compile(r"\d+(?:[.,]\d+)?E\+?\d+", re.ASCII)

# Province-of-registration codes used in citizen IDs: "0" + the pre-2025 province statistics code.
# The 63 codes are 001..096 with gaps (the statistics codes skip numbers); not rewritten after 2025.
CITIZEN_ID_PROVINCES: frozenset[str] = frozenset(
    f"{code:03d}"
    for code in (
        1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36,
        37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72,
        74, 75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
    )
)  # fmt: skip


class InvalidIdentifier(ValueError):
    """An identifier whose shape or digits are wrong; the message says what is wrong."""


class InconsistentIdentifier(InvalidIdentifier):
    """A well-formed identifier that contradicts the rest of the record (a parent's ID on a child)."""


class PersonIdKind(StrEnum):
    CITIZEN_ID = "citizen_id"
    OLD_ID_CARD = "old_id_card"
    PASSPORT = "passport"


@dataclass(frozen=True, slots=True)
class CitizenIdFacts:
    """What the first six digits of a citizen ID state about its holder."""

    province: str
    sex: int  # 1 male, 2 female (GIOI_TINH codes)
    century_start: int  # 1900, 2000 or 2100
    year_last_two: int

    @property
    def birth_year(self) -> int:
        return self.century_start + self.year_last_two


def clean_identifier(raw: str) -> str:
    """Strip the spacing and separators people type inside ID numbers; keep everything else."""
    if raw.isalnum():  # nothing to strip: most values, and all the registry stores (matched by the million)
        return raw.upper()
    return _ID_SEPARATORS.sub("", raw).upper()


@dataclass(frozen=True, slots=True)
class PersonId:
    """A person identifier as read from SO_CCCD (or its equivalent), ready to be used as a key."""

    kind: PersonIdKind
    value: str
    repair: str | None = None  # how the value sent was repaired, when it was


ASCII_REPAIR = "full-width or other look-alike characters read as ASCII"


def ascii_form(raw: str) -> str:
    """NFKC, so full-width and other compatibility digits and letters become ASCII (０２７ -> 027)."""
    return raw if raw.isascii() else unicodedata.normalize("NFKC", raw)


def read_person_id(raw: str, *, sex: int | None, birth_year: int | None) -> PersonId:
    """SO_CCCD checked against the record it came with.

    Raises InvalidIdentifier when the value is no identifier at all, InconsistentIdentifier when a
    valid citizen ID cannot be this person's (sex or birth year disagree). Two damages are repaired,
    and said so: compatibility digits (full-width) read as ASCII, and the leading zero a spreadsheet
    drops from an 11-digit citizen ID, when restoring it gives a valid ID that agrees with the record.
    """
    value = clean_identifier(ascii_form(raw))
    repairs = [ASCII_REPAIR] if not raw.isascii() else []
    if _SPREADSHEET_NUMBER.fullmatch(value):
        raise InvalidIdentifier(
            f"{raw.strip()!r} is a number in spreadsheet notation: its digits are lost (export the ID as text)"
        )
    if len(value) == 11 and value.isascii() and value.isdigit():
        restored = "0" + value
        try:
            conflict = citizen_id_conflicts(restored, sex=sex, birth_year=birth_year)
        except InvalidIdentifier:
            pass  # not a citizen ID with its zero back either: reported as 11 digits below
        else:
            if conflict:
                raise InconsistentIdentifier(f"citizen ID (11 digits, its leading zero restored) {conflict}")
            repairs.append("11 digits: the leading zero a spreadsheet drops was restored")
            return PersonId(PersonIdKind.CITIZEN_ID, restored, "; ".join(repairs))
    kind, value = classify_person_id(value)
    if kind is PersonIdKind.CITIZEN_ID:
        conflict = citizen_id_conflicts(value, sex=sex, birth_year=birth_year)
        if conflict:
            raise InconsistentIdentifier(f"citizen ID {conflict}")
    return PersonId(kind, value, "; ".join(repairs) or None)


def classify_person_id(raw: str) -> tuple[PersonIdKind, str]:
    """Tell a citizen ID, an old 9-digit ID card and a passport apart (all arrive in SO_CCCD)."""
    value = clean_identifier(raw)
    if _CITIZEN_ID.fullmatch(value):
        citizen_id_facts(value)
        return PersonIdKind.CITIZEN_ID, value
    if _OLD_ID_CARD.fullmatch(value):
        return PersonIdKind.OLD_ID_CARD, value
    if _PASSPORT.fullmatch(value):
        return PersonIdKind.PASSPORT, value
    if value.isascii() and value.isdigit():
        raise InvalidIdentifier(f"{len(value)} digits, expected 12 (citizen ID) or 9 (old ID card)")
    raise InvalidIdentifier(
        f"{raw.strip()!r} is not a citizen ID (12 digits), an old ID card (9 digits) "
        "or a passport number (a letter and 7 digits)"
    )


def citizen_id_facts(citizen_id: str) -> CitizenIdFacts:
    """Decode province, sex and birth century/year; reject codes no citizen ID can carry."""
    if not _CITIZEN_ID.fullmatch(citizen_id):
        raise InvalidIdentifier(f"{len(citizen_id)} characters, expected 12 digits")
    province = citizen_id[:3]
    if province not in CITIZEN_ID_PROVINCES:
        raise InvalidIdentifier(f"province code {province} does not exist (digits 1-3)")
    century_sex = int(citizen_id[3])
    if century_sex > 5:
        raise InvalidIdentifier(f"century/sex digit {century_sex} is not used (digit 4 must be 0-5)")
    return CitizenIdFacts(
        province=province,
        sex=1 if century_sex % 2 == 0 else 2,
        century_start=1900 + 100 * (century_sex // 2),
        year_last_two=int(citizen_id[4:6]),
    )


def citizen_id_conflicts(citizen_id: str, *, sex: int | None, birth_year: int | None) -> str | None:
    """Why this citizen ID cannot belong to a person of this sex and birth year, or None."""
    facts = citizen_id_facts(citizen_id)
    if sex in (1, 2) and sex != facts.sex:
        said = "a man" if facts.sex == 1 else "a woman"
        return f"digit 4 ({citizen_id[3]}) says {said}, but the recorded sex is {_sex_word(sex)}"
    if birth_year is not None:
        if not facts.century_start <= birth_year < facts.century_start + 100:
            return (
                f"digit 4 ({citizen_id[3]}) says born {facts.century_start}-{facts.century_start + 99}, "
                f"but the recorded birth year is {birth_year}"
            )
        if birth_year % 100 != facts.year_last_two:
            return f"digits 5-6 ({citizen_id[4:6]}) say born in {facts.birth_year}, but the recorded birth year is {birth_year}"
    return None


def _sex_word(sex: int) -> str:
    return {1: "male", 2: "female"}.get(sex, "undetermined")


@dataclass(frozen=True, slots=True)
class InsuranceCard:
    """A 15-character health-insurance card: the prefix changes over a life, the last 10 digits do not."""

    code: str
    beneficiary_group: str
    benefit_level: int
    province: str
    social_insurance_number: str


def parse_insurance_card(raw: str) -> InsuranceCard:
    value = clean_identifier(raw)
    match = _INSURANCE_CARD.fullmatch(value)
    if match is None:
        if len(value) != 15:
            raise InvalidIdentifier(f"{value!r} has {len(value)} characters, expected 15")
        raise InvalidIdentifier(
            f"{value!r} is not 2 letters, a benefit level 1-5, 2 province digits and 10 digits"
        )
    group, level, province, number = match.groups()
    return InsuranceCard(value, group, int(level), province, number)


def check_facility_code(raw: str) -> str:
    value = raw.strip().upper()
    if not _FACILITY_CODE.fullmatch(value):
        raise InvalidIdentifier(f"{raw!r} is not a 5-character facility code")
    return value


def normalise_phone(raw: str) -> str | None:
    """Vietnamese phone numbers in national form (0xxxxxxxxx); None when too short to be one."""
    digits = raw if raw.isascii() and raw.isdigit() else _NOT_DIGIT.sub("", raw)
    if digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if len(digits) < 9 or len(digits) > 11:
        return None
    return digits if digits.startswith("0") else "0" + digits
