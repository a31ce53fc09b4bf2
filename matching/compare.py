"""The comparisons the engine makes, one per field, each an ordered list of named levels.

Default m/u are domain estimates (the comment after each level gives its weight, log2(m/u), in
bits); training re-estimates them. Choices that matter for safety:

- An identifier shared by records whose birth years disagree (a child under a parent's citizen
  ID) lands on its own level, weighing nothing: the card says nothing about who carried it.
- Phone and commune agreement keep their default u as a floor: household members share them,
  which a random sample of pairs (where u is measured) hardly ever shows, so measured u alone
  would overstate them.
- Same folded letters with different marks on both sides (Hùng/Hưng) fall through to `different`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from rapidfuzz.distance import OSA, JaroWinkler

from matching.address import CommuneFacts, same_commune
from matching.comparison import Comparison, Level, PersonPair, always, missing, null_level, on_both
from matching.names import NO_PART, NamePart, PersonName, same_name
from matching.person import BirthFacts, HeldIdentifier, PreparedPerson

NAME_TYPO_SIMILARITY = 0.92  # Jaro-Winkler on folded names: one slip in Nguyễn, not Lan/Loan
LONG_NAME = 7  # folded letters: longer than Vietnamese given names


# Identifiers --------------------------------------------------------------------------------------


def _years_agree(left: HeldIdentifier, right: HeldIdentifier) -> bool:
    if left.birth_year is None or right.birth_year is None:
        return True
    return abs(left.birth_year - right.birth_year) <= 1


def identifier(
    name: str,
    description: str,
    attribute: str,
    *,
    same: tuple[float, float],
    one_character_differs: tuple[float, float],
    different: tuple[float, float],
) -> Comparison[HeldIdentifier]:
    return Comparison(
        name,
        description,
        on_both(attribute),
        (
            null_level("missing", "absent on one side or both", missing),
            Level(
                "same",
                "equal, and the birth years agree within a year (or one is unknown)",
                lambda a, b: a.value == b.value and _years_agree(a, b),
                *same,
            ),
            Level(
                "same_other_generation",
                "equal, but recorded for people born years apart: someone else's card",
                lambda a, b: a.value == b.value,
                m=0.002,
                u=0.002,
                fix_m=True,
                u_floor=True,
            ),
            Level(
                "one_character_differs",
                "one character changed or two adjacent swapped: a probable typo",
                lambda a, b: OSA.distance(a.value, b.value, score_cutoff=1) <= 1,
                *one_character_differs,
            ),
            Level("different", "both present and different", always, *different),
        ),
    )


CITIZEN_ID = identifier(
    "citizen_id",
    "12-digit citizen ID (CCCD), lifelong",
    "citizen_id",
    same=(0.96, 1e-6),  # +19.9
    one_character_differs=(0.02, 5e-5),  # +8.6, yet never an automatic link (decide.py)
    different=(0.018, 0.99995),  # -5.8
)
OLD_ID = identifier(
    "old_id",
    "9-digit ID card (CMND); a reissued card may carry a new number",
    "old_id",
    same=(0.9, 2e-6),  # +18.8
    one_character_differs=(0.03, 1e-4),  # +8.2
    different=(0.068, 0.9999),  # -3.9
)
PASSPORT = identifier(
    "passport",
    "passport number; a renewed passport has a new one",
    "passport",
    same=(0.85, 1e-6),  # +19.7
    one_character_differs=(0.03, 1e-5),  # +11.6
    different=(0.118, 0.99999),  # -3.1
)
SOCIAL_INSURANCE = identifier(
    "social_insurance",
    "lifelong 10-digit social-insurance number (the insurance card without its changing prefix)",
    "social_insurance",
    same=(0.95, 1e-6),  # +19.9
    one_character_differs=(0.02, 2e-5),  # +10.0
    different=(0.028, 0.99998),  # -5.2
)


# Names ---------------------------------------------------------------------------------------------


def _name_part(role: str) -> Callable[[PersonPair], tuple[NamePart, NamePart]]:
    """The aligned readings' family, middle or given part (see `names.align`)."""
    return attrgetter(f"left_reading.{role}", f"right_reading.{role}")


def _part_missing(a: NamePart, b: NamePart) -> bool:
    return not a.syllables or not b.syllables


def _no_name(a: NamePart, b: NamePart) -> bool:
    return a is NO_PART or b is NO_PART


def _exact(a: NamePart, b: NamePart) -> bool:
    return a.marked and b.marked and a.exact == b.exact


def _same_letters(a: NamePart, b: NamePart) -> bool:
    return not (a.marked and b.marked) and a.folded == b.folded


def _northern(a: NamePart, b: NamePart) -> bool:
    if a.marked and b.marked:
        return a.northern == b.northern
    return a.northern_folded == b.northern_folded


def _typo(a: NamePart, b: NamePart) -> bool:
    # Equal folded letters with different marks on both sides (Hùng/Hưng) are different names.
    return a.folded != b.folded and JaroWinkler.similarity(a.folded, b.folded) >= NAME_TYPO_SIMILARITY


def _reordered(a: NamePart, b: NamePart) -> bool:
    return (a.reordered or b.reordered) and same_name(a, b)


def _term(part: NamePart) -> str:
    return part.variant_folded


_MISSING_PART = null_level("missing", "no such part on one side", _part_missing)


FAMILY_NAME = Comparison(
    "family_name",
    "family name: the first syllable, or two for a known compound family name",
    _name_part("family"),
    (
        _MISSING_PART,
        Level(
            "reordered",
            "agrees, one name read in another order than written (given name first, family last)",
            _reordered,
            0.01,
            0.002,
            term_frequency=True,
        ),  # +2.3
        Level("exact", "same letters and marks", _exact, 0.86, 0.17, term_frequency=True),  # +2.3
        Level(
            "same_letters",
            "same letters; one side written without marks",
            _same_letters,
            0.06,
            0.01,
            term_frequency=True,
        ),  # +2.6
        Level(
            "regional_variant", "Huỳnh/Hoàng, Vũ/Võ, i/y spellings of one name", same_name, 0.02, 0.004
        ),  # +2.3
        Level(
            "northern_spelling", "differs only in l/n, s/x, ch/tr, d/gi/r", _northern, 0.005, 0.002
        ),  # +1.3
        Level(
            "typo", f"Jaro-Winkler of folded letters >= {NAME_TYPO_SIMILARITY}", _typo, 0.01, 0.002
        ),  # +2.3
        Level("different", "different family names", always, 0.035, 0.81),  # -4.5
    ),
    term=_term,
)

MIDDLE_NAME = Comparison(
    "middle_name",
    "middle names (Văn, Thị, Thị Thu, ...), compared after aligning family and given names",
    _name_part("middle"),
    (
        null_level("missing", "no name on one side", _no_name),
        Level("same", "same middle names (or none on both sides)", same_name, 0.85, 0.3),  # +1.5
        Level(
            "dropped",
            "one side's middle names are part of the other's (one was left out)",
            lambda a, b: _subsequence(a, b) or _subsequence(b, a),
            0.1,
            0.08,
        ),  # +0.3
        # Middle names are few and far apart (Văn, Thị, Đức, Thu ...): one slip (Vn, Thnh, Qaung) is
        # not another middle name, and the family and given names must agree anyway.
        Level(
            "typo",
            "one letter changed, dropped, added, or two adjacent swapped (letters without marks)",
            lambda a, b: a.folded != b.folded and OSA.distance(a.folded, b.folded, score_cutoff=1) <= 1,
            0.02,
            0.01,
        ),  # +1.0
        Level("different", "different middle names", always, 0.05, 0.62),  # -3.6
    ),
)


def _subsequence(shorter: NamePart, longer: NamePart) -> bool:
    key = attrgetter("variant" if shorter.marked and longer.marked else "variant_folded")
    remaining = iter(key(syllable) for syllable in longer.syllables)
    return all(key(syllable) in remaining for syllable in shorter.syllables)


GIVEN_NAME = Comparison(
    "given_name",
    "given name: the last syllable",
    _name_part("given"),
    (
        _MISSING_PART,
        Level("exact", "same letters and marks", _exact, 0.88, 0.02, term_frequency=True),  # +5.5
        Level(
            "same_letters",
            "same letters; one side written without marks",
            _same_letters,
            0.06,
            0.004,
            term_frequency=True,
        ),  # +3.9
        Level("variant", "an i/y or regional spelling of one name", same_name, 0.01, 5e-4),  # +4.3
        # A Vietnamese given name is one syllable (six folded letters at most in practice), and
        # syllables are densely packed: one edit or one northern confusion often lands on another
        # real name (Thu/Thủy, Nguyệt/Nguyên, Trung/Chung). So the northern level starts out
        # weighing nothing, and the typo level is kept for longer (foreign) names.
        Level("northern_spelling", "differs only in l/n, s/x, ch/tr, d/gi/r", _northern, 0.004, 0.004),  # 0
        Level(
            "long_name_typo",
            f"7 letters or more, Jaro-Winkler of folded letters >= {NAME_TYPO_SIMILARITY}",
            lambda a, b: min(len(a.folded), len(b.folded)) >= LONG_NAME and _typo(a, b),
            0.01,
            2e-4,
        ),  # +5.6
        # Weighs as `different` (a short name one letter off is another real name as often as a
        # slip: Huy/Hy, Linh/Lnh, Hùng/Hưng); `decide` tells the two apart for twins.
        Level(
            "one_letter_apart",
            "different given names whose letters without marks are one edit apart, or the same",
            lambda a, b: OSA.distance(a.folded, b.folded, score_cutoff=1) <= 1,
            0.02,
            0.97,
        ),  # -5.6
        Level("different", "different given names, two letters or more apart", always, 0.02, 0.97),  # -5.6
    ),
    term=_term,
)


# A newborn recorded under the mother's name -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameAndBirth:
    """What the newborn comparison reads of a record: its name and its birth date."""

    name: PersonName
    birth: BirthFacts | None
    text: str
    under_mother_name: bool  # the pair's: one record is a young child's under its mother's name alone
    facility_code: str
    at_birth: bool  # made at the birth: the record's first episode began on its birth date

    def __str__(self) -> str:
        return self.text


def _name_and_birth(pair: PersonPair) -> tuple[NameAndBirth, NameAndBirth]:
    alone = pair.under_mother_name
    return _newborn_facts(pair.left, alone), _newborn_facts(pair.right, alone)


def _newborn_facts(person: PreparedPerson, alone: bool) -> NameAndBirth:
    record = person.record
    return NameAndBirth(
        person.name, person.birth, record.full_name, alone, record.facility_code, person.made_at_birth
    )


def _born_together(a: NameAndBirth, b: NameAndBirth) -> bool:
    """Two patients of one facility, both made on their birth day, the same day: a maternity ward
    registers each baby of a birth, so two babies (twins), whatever name each was given."""
    return (
        a.at_birth
        and b.at_birth
        and a.facility_code == b.facility_code
        and a.birth is not None
        and b.birth is not None
        and a.birth.ordinal == b.birth.ordinal
    )


def _newborn_missing(a: NameAndBirth, b: NameAndBirth) -> bool:
    return a.name.mother is None and b.name.mother is None


def _names_the_other(a: NameAndBirth, b: NameAndBirth) -> bool:
    """One record is a newborn's under the name the other carries: the mother's, or the baby's own
    record written under its mother's name alone (told apart by the birth date)."""
    return (a.name.mother is not None and _same_full_name(a.name.mother, b.name)) or (
        b.name.mother is not None and _same_full_name(b.name.mother, a.name)
    )


def _names_the_mother(a: NameAndBirth, b: NameAndBirth) -> bool:
    return _names_the_other(a, b) and not (a.birth and b.birth and _same_date(a.birth, b.birth))


def _same_full_name(one: PersonName, other: PersonName) -> bool:
    if one.likely is None or other.likely is None:
        return False
    return all(
        same_name(getattr(one.likely, role), getattr(other.likely, role))
        for role in ("family", "middle", "given")
    )


def _same_mother(a: NameAndBirth, b: NameAndBirth) -> bool:
    return (
        a.name.mother is not None
        and b.name.mother is not None
        and _same_full_name(a.name.mother, b.name.mother)
    )


def _same_mother_one_facility(a: NameAndBirth, b: NameAndBirth) -> bool:
    return a.facility_code == b.facility_code and _same_mother(a, b)


def _one_at_birth_elsewhere(a: NameAndBirth, b: NameAndBirth) -> bool:
    """Two facilities' records, one made at the birth: the ward's, where a twin would be in sight."""
    return (a.at_birth or b.at_birth) and a.facility_code != b.facility_code


def _same_mother_one_at_birth(a: NameAndBirth, b: NameAndBirth) -> bool:
    return _one_at_birth_elsewhere(a, b) and _same_mother(a, b)


def _newborn_and_own_name(a: NameAndBirth, b: NameAndBirth) -> bool:
    return (a.name.mother is None) != (b.name.mother is None)


NEWBORN = Comparison(
    "newborn",
    "a baby recorded under its mother's name (Con bà ..., CON CUA ..., CB ...): whose baby it is",
    _name_and_birth,
    (
        # Weighs as `names_the_mother` does: two people, unless a desk registered one baby twice
        # on the day it was born (and `decide` holds such a pair back from an automatic link).
        Level(
            "born_together",
            "two patients of one facility, both made on their birth day, the same day: twins born there",
            _born_together,
            1e-6,
            1e-4,
        ),  # -6.6
        # A baby under its mother's name alone and its record under an own name: as with a
        # newborn's record, the names say nothing and the birth date, identifiers and household do.
        # One of them made at the birth, at another facility than the other: a twin would be in
        # sight at the ward (`decide`).
        null_level(
            "under_mother_name_alone_one_at_birth",
            "a young child's record under its mother's name alone and one under an own name, at two"
            " facilities, one made at the birth",
            lambda a, b: a.under_mother_name and _one_at_birth_elsewhere(a, b),
        ),
        null_level(
            "under_mother_name_alone",
            "a young child's record under its mother's name alone (another family and given name, born"
            " the same day, the same sex and phone) and one under an own name",
            lambda a, b: a.under_mother_name,
        ),
        null_level("not_newborn", "neither record is a newborn's under its mother's name", _newborn_missing),
        Level(
            "names_the_mother",
            "a newborn's record under the other record's name, born on another day: the other is its mother",
            _names_the_mother,
            1e-6,
            1e-4,
        ),  # -6.6
        Level(
            "mother_name_alone_one_at_birth",
            "a newborn's record and a record under the mother's name alone, born on the same day, at two"
            " facilities, one made at the birth: the baby",
            lambda a, b: _one_at_birth_elsewhere(a, b) and _names_the_other(a, b),
            0.1,
            0.005,
        ),  # +4.3, as mother_name_alone: what differs is what is in sight
        Level(
            "mother_name_alone",
            "a newborn's record and a record under the mother's name alone, born on the same day: the baby",
            _names_the_other,
            0.1,
            0.005,
        ),  # +4.3
        # Two patients of one facility, both under one mother's name: a maternity ward registers
        # each baby of a birth, so twins (or one baby registered twice); the names say nothing.
        null_level(
            "same_mother_one_facility",
            "both newborns' records, under one mother's name, at one facility: twins born there, or"
            " one baby registered twice",
            _same_mother_one_facility,
        ),
        # One of them made at the birth (at the ward), the other at another facility: the ward
        # registers each baby of a birth, so a twin would be in sight there (`decide`).
        Level(
            "same_mother_one_at_birth",
            "both newborns' records, under one mother's name, at two facilities, one made at the birth",
            _same_mother_one_at_birth,
            0.9,
            0.05,
        ),  # +4.2, as same_mother: the names say as much; what differs is what is in sight
        Level(
            "same_mother", "both newborns' records, under one mother's name", _same_mother, 0.9, 0.05
        ),  # +4.2
        # The child's own name is not known on one side: the names say nothing, the birth date,
        # identifiers and household do.
        null_level(
            "newborn_and_own_name",
            "a newborn's record under its mother's name and a record under an own name",
            _newborn_and_own_name,
        ),
        Level("different", "both newborns' records, under different mothers' names", always, 0.05, 0.95),
        # -4.2
    ),
)


# Birth date, sex ------------------------------------------------------------------------------------


def _same_date(a: BirthFacts, b: BirthFacts) -> bool:
    return a.month is not None and (a.year, a.month, a.day) == (b.year, b.month, b.day)


def _partial_agrees(a: BirthFacts, b: BirthFacts) -> bool:
    """The less precise date (year only, or year and month) says nothing the other contradicts."""
    if a.year != b.year:
        return False
    if a.month is None or b.month is None:
        return True
    return a.month == b.month and (a.day is None or b.day is None)


def _day_month_swapped(a: BirthFacts, b: BirthFacts) -> bool:
    return (
        a.digits is not None
        and b.digits is not None
        and a.year == b.year
        and (a.month, a.day) == (b.day, b.month)
    )


def _one_off(a: BirthFacts, b: BirthFacts) -> bool:
    if a.digits is None or b.digits is None or a.ordinal is None or b.ordinal is None:
        return False
    return abs(a.ordinal - b.ordinal) == 1 or OSA.distance(a.digits, b.digits, score_cutoff=1) <= 1


def _year_off_by_one(a: BirthFacts, b: BirthFacts) -> bool:
    if abs(a.year - b.year) != 1:
        return False
    return a.month is None or b.month is None or (a.month, a.day) == (b.month, b.day)


BIRTH_DATE = Comparison(
    "birth_date",
    "birth date, which may be known to the year only",
    on_both("birth"),
    (
        null_level("missing", "unknown on one side", missing),
        Level("exact", "same date", _same_date, 0.88, 4e-5),  # +14.4
        Level(
            "year_only_agrees",
            "one side knows only the year (or the month), which agrees",
            _partial_agrees,
            0.06,
            0.06 / 70,
        ),  # +6.1
        Level("day_month_swapped", "day and month swapped", _day_month_swapped, 0.01, 2e-5),  # +9.0
        # u: one day apart (7e-5) or one digit apart, mostly a decade slip on the same day (5e-4)
        Level("one_off", "one day apart, or one digit mistyped", _one_off, 0.02, 6e-4),  # +5.1
        Level("year_off_by_one", "years one apart, the rest agrees", _year_off_by_one, 0.01, 8e-4),  # +3.6
        Level("different", "different dates", always, 0.02, 0.9986),  # -5.6
    ),
)


SEX = Comparison(
    "sex",
    "sex (undetermined counts as unknown)",
    on_both("sex"),
    (
        null_level("missing", "unknown on one side", missing),
        Level("same", "same sex", lambda a, b: a == b, 0.98, 0.5),  # +1.0
        Level("different", "different sex", always, 0.02, 0.5),  # -4.6
    ),
)


# Where to reach and find the person -----------------------------------------------------------------


PHONE = Comparison(
    "phone",
    "phone number; households and guardians share one, and people change numbers",
    on_both("phone"),
    (
        null_level("missing", "absent on one side", missing),
        Level("same", "same number", lambda a, b: a == b, 0.6, 0.02, u_floor=True),  # +4.9
        Level(
            "one_digit_differs",
            "one digit changed or two adjacent swapped",
            lambda a, b: OSA.distance(a, b, score_cutoff=1) <= 1,
            0.02,
            0.002,
            u_floor=True,
        ),  # +3.3
        Level("different", "different numbers", always, 0.38, 0.978),  # -1.4
    ),
)


def _commune_unknown(a: CommuneFacts, b: CommuneFacts) -> bool:
    return (a.code is None and a.name is None) or (b.code is None and b.name is None)


def _different_commune(a: CommuneFacts, b: CommuneFacts) -> bool:
    if a.era is None or a.era != b.era:
        return False
    return (a.code is not None and b.code is not None) or (a.name is not None and b.name is not None)


ADDRESS = Comparison(
    "address",
    "commune of residence, by code, else by the commune named in the address text",
    on_both("commune"),
    (
        null_level("missing", "no commune on one side", _commune_unknown),
        Level(
            "same_commune",
            "same commune code or commune name, or an old commune and the one it became in July 2025",
            same_commune,
            0.85,
            0.03,
            u_floor=True,
        ),  # +4.8
        Level(
            "different_commune",
            "different communes in the same administrative era",
            _different_commune,
            0.15,
            0.97,
        ),  # -2.7
        null_level(
            "not_comparable",
            "different communes across the July 2025 reform (merged, renamed), or an unknown era",
            always,
        ),
    ),
)

STANDARD_COMPARISONS: tuple[Comparison, ...] = (
    CITIZEN_ID,
    OLD_ID,
    PASSPORT,
    SOCIAL_INSURANCE,
    FAMILY_NAME,
    MIDDLE_NAME,
    GIVEN_NAME,
    BIRTH_DATE,
    SEX,
    PHONE,
    ADDRESS,
    NEWBORN,
)
