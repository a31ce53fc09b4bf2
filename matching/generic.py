"""The generic configuration: the engine for person records that are not Vietnamese.

Sources outside Viet Nam (and the FEBRL benchmark's synthetic Australians) give a name in two
fields, given and family, a birth date, one national identifier, and an address in parts: house
number, street, locality, postcode, region. None of the Vietnamese readings apply (syllables,
marks, names written in either order, communes across the 2025 reform), so this configuration
compares the parts as written, with the string measures record linkage uses for such data:

- Names: exact (weighed by how common the name is), written in the other name field (given and
  family swapped), then Jaro-Winkler similarity at 0.92, 0.88 and 0.7 (Splink's levels).
- Birth date: the digits as written (a mistyped date may be no valid date): exact, one digit
  changed or two adjacent swapped, day and month swapped, then days apart (a month, a year, ten).
- Identifier: exact, one and two edits (a digit changed, two adjacent swapped).
- Address: house number, street, locality, postcode, region, each compared on its own. They
  are independent evidence when errors strike fields independently (as in FEBRL); a household
  shares them all, which is why the safety rules below hold such links back.

Blocking: each rule's key alone makes a candidate (a pair shares at least one key), and the rules
overlap so that a person's records keep a key in common whatever one or two fields were mistyped:
the identifier, the birth date, the two names (either order, as written or as Soundex codes), a
name's Soundex code with the birth year or the postcode, the postcode with the house number, the
house number with the street's Soundex code.

Records are built with `generic_record`, which cleans every text once (case, spacing, marks).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import NamedTuple

from jellyfish import soundex
from rapidfuzz.distance import OSA, JaroWinkler

from matching.blocking import BlockingRule
from matching.comparison import Comparison, Level, PersonPair, always, missing, null_level
from matching.decide import SafetyRule, conflict
from matching.model import ModelParameters, default_parameters
from matching.person import PersonRecord, PreparedPerson

NAME_SIMILARITY = (0.92, 0.88, 0.7)  # Jaro-Winkler thresholds of the name levels, strictest first
PLACE_SIMILARITY = 0.88  # Jaro-Winkler of street and locality names: a slip, not another place
# Two records drawn at random from a data set of about 10,000 people with one duplicate each are
# the same person once in 10,000; training replaces this with the data's own estimate.
GENERIC_PRIOR = 1e-4


class NameInParts(NamedTuple):
    given: str | None
    family: str | None

    def __str__(self) -> str:
        return " ".join(part or "-" for part in self)


class WrittenDate(NamedTuple):
    digits: str  # yyyymmdd as written: a mistyped date may be no valid date (19231164)
    ordinal: int | None  # days since 0001-01-01, for a valid date

    def __str__(self) -> str:
        return self.digits


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericPersonRecord(PersonRecord):
    """A person record in parts, its texts cleaned (see `generic_record`). The inherited fields
    carry the same facts for display (full name, address text, birth year, month and day)."""

    name: NameInParts
    birth_date: WrittenDate | None = None
    house_number: str | None = None
    street: str | None = None
    locality: str | None = None
    postcode: str | None = None
    region: str | None = None


def cleaned(text: str | None) -> str | None:
    """Lower case without marks, one space between words; None for nothing written."""
    if text is None:
        return None
    # Decomposed before and after case folding: a letter may fold only once decomposed (𝒩 is N).
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    folded = " ".join("".join(char for char in decomposed if not unicodedata.combining(char)).split())
    return folded or None


def written_date(digits: str | None) -> WrittenDate | None:
    """A yyyymmdd date as written, with its day number when it is a valid date; None if it is not
    eight digits."""
    text = cleaned(digits)
    if text is None or len(text) != 8 or not text.isdigit():
        return None
    try:
        ordinal: int | None = date(int(text[:4]), int(text[4:6]), int(text[6:])).toordinal()
    except ValueError:
        ordinal = None
    return WrittenDate(text, ordinal)


def generic_record(
    record_id: int,
    *,
    source: str,
    given_name: str | None = None,
    family_name: str | None = None,
    birth_date: str | None = None,
    identifier: str | None = None,
    house_number: str | None = None,
    street: str | None = None,
    locality: str | None = None,
    postcode: str | None = None,
    region: str | None = None,
    recorded_at: date | None = None,
) -> GenericPersonRecord:
    """A record of a generic source, every text cleaned once; `birth_date` is yyyymmdd."""
    name = NameInParts(cleaned(given_name), cleaned(family_name))
    born = written_date(birth_date)
    valid = born is not None and born.ordinal is not None
    number, street_name, town, code, state = (
        cleaned(part) for part in (house_number, street, locality, postcode, region)
    )
    address = (" ".join(filter(None, (number, street_name))), town, code, state)
    return GenericPersonRecord(
        record_id=record_id,
        facility_code=source,
        full_name=" ".join(filter(None, name)),
        birth_year=int(born.digits[:4]) if born else None,
        birth_month=int(born.digits[4:6]) if born and valid else None,
        birth_day=int(born.digits[6:]) if born and valid else None,
        social_insurance_number=cleaned(identifier),
        address_text=", ".join(filter(None, address)) or None,
        recorded_at=recorded_at,
        name=name,
        birth_date=born,
        house_number=number,
        street=street_name,
        locality=town,
        postcode=code,
        region=state,
    )


# Comparisons ------------------------------------------------------------------------------------


def _record(attribute: str) -> Callable[[PersonPair], tuple[object, object]]:
    return attrgetter(f"left.record.{attribute}", f"right.record.{attribute}")


def similar(threshold: float) -> Callable[[str, str], bool]:
    """Jaro-Winkler similarity at least `threshold`."""

    def applies(left: str, right: str) -> bool:
        return JaroWinkler.similarity(left, right, score_cutoff=threshold) >= threshold

    return applies


def within_edits(limit: int) -> Callable[[str, str], bool]:
    """At most `limit` characters changed, dropped or added, or adjacent pairs swapped (OSA)."""

    def applies(left: str, right: str) -> bool:
        return OSA.distance(left, right, score_cutoff=limit) <= limit

    return applies


def _name_comparison(role: str, other: str, description: str) -> Comparison[NameInParts]:
    mine, theirs = attrgetter(role), attrgetter(other)
    strictly_similar = similar(NAME_SIMILARITY[0])

    def absent(left: NameInParts, right: NameInParts) -> bool:
        return mine(left) is None or mine(right) is None

    def exact(left: NameInParts, right: NameInParts) -> bool:
        return mine(left) == mine(right)

    def swapped(left: NameInParts, right: NameInParts) -> bool:
        """Each side's name is (nearly) what the other wrote in the other name field."""
        crossed = ((theirs(left), mine(right)), (mine(left), theirs(right)))
        return all(a is not None and b is not None and strictly_similar(a, b) for a, b in crossed)

    def alike(threshold: float) -> Callable[[NameInParts, NameInParts], bool]:
        test = similar(threshold)
        return lambda left, right: test(mine(left), mine(right))

    strict, middle, loose = NAME_SIMILARITY
    return Comparison(
        f"{role}_name",
        description,
        _record("name"),
        (
            null_level("missing", "not written on one side", absent),
            Level("exact", "the same name", exact, 0.85, 0.01, term_frequency=True),  # +6.4
            Level("swapped", "given and family name written in each other's field", swapped, 0.02, 1e-4),
            # +7.6
            Level("jaro_winkler_92", f"Jaro-Winkler >= {strict}: a slip", alike(strict), 0.06, 0.003),  # +4.3
            Level("jaro_winkler_88", f"Jaro-Winkler >= {middle}", alike(middle), 0.02, 0.003),  # +2.7
            Level("jaro_winkler_70", f"Jaro-Winkler >= {loose}: alike", alike(loose), 0.02, 0.08),  # -2.0
            Level("different", "different names", always, 0.03, 0.9),  # -4.9
        ),
        term=mine,
    )


GIVEN_NAME = _name_comparison("given", "family", "given (first) name")
FAMILY_NAME = _name_comparison("family", "given", "family name (surname)")


def _same_digits(left: WrittenDate, right: WrittenDate) -> bool:
    return left.digits == right.digits


def _one_digit(left: WrittenDate, right: WrittenDate) -> bool:
    return OSA.distance(left.digits, right.digits, score_cutoff=1) <= 1


def _day_month_swapped(left: WrittenDate, right: WrittenDate) -> bool:
    a, b = left.digits, right.digits
    return a[:4] == b[:4] and a[4:6] == b[6:] and a[6:] == b[4:6]


def _days_apart(days: int) -> Callable[[WrittenDate, WrittenDate], bool]:
    def applies(left: WrittenDate, right: WrittenDate) -> bool:
        if left.ordinal is None or right.ordinal is None:
            return False
        return abs(left.ordinal - right.ordinal) <= days

    return applies


BIRTH_DATE = Comparison(
    "birth_date",
    "birth date as written (yyyymmdd; a mistyped one may be no valid date)",
    _record("birth_date"),
    (
        null_level("missing", "not written on one side", missing),
        Level("exact", "the same date", _same_digits, 0.85, 3e-5),  # +14.8
        Level("one_digit", "one digit changed or two adjacent swapped", _one_digit, 0.08, 5e-4),  # +7.3
        Level("day_month_swapped", "day and month swapped", _day_month_swapped, 0.01, 2e-5),  # +9.0
        Level("within_a_month", "valid dates at most 31 days apart", _days_apart(31), 0.01, 2e-3),  # +2.3
        Level("within_a_year", "valid dates at most a year apart", _days_apart(366), 0.01, 0.013),  # -0.4
        Level("within_ten_years", "valid dates at most ten years apart", _days_apart(3653), 0.01, 0.15),
        # -3.9
        Level("different", "further apart, or not comparable as dates", always, 0.03, 0.83),  # -4.8
    ),
)

IDENTIFIER = Comparison(
    "identifier",
    "the national identifier (a social-security number)",
    _record("social_insurance_number"),
    (
        null_level("missing", "absent on one side", missing),
        Level("same", "the same number", lambda a, b: a == b, 0.85, 1e-6),  # +19.7
        Level(
            "one_edit",
            "one digit changed, dropped, added, or two adjacent swapped",
            within_edits(1),
            0.08,
            5e-5,
        ),
        # +10.6
        Level("two_edits", "two such slips", within_edits(2), 0.03, 1e-3),  # +4.9
        Level("different", "different numbers", always, 0.04, 0.999),  # -4.6
    ),
)


def _place_comparison(name: str, description: str, m_same: float, u_same: float) -> Comparison[str]:
    """A place name: the same, a slip (Jaro-Winkler), or different."""
    return Comparison(
        name,
        description,
        _record(name),
        (
            null_level("missing", "not written on one side", missing),
            Level("same", "the same name", lambda a, b: a == b, m_same, u_same),
            Level("similar", f"Jaro-Winkler >= {PLACE_SIMILARITY}", similar(PLACE_SIMILARITY), 0.1, 0.01),
            # +3.3
            Level("different", "different names", always, 0.9 - m_same, 0.99 - u_same),
        ),
    )


def _code_comparison(
    name: str, description: str, same: tuple[float, float], one_digit: tuple[float, float] | None
) -> Comparison[str]:
    """A code or number: the same, one digit off (if declared), or different."""
    close = (
        (Level("one_digit", "one digit changed or two adjacent swapped", within_edits(1), *one_digit),)
        if one_digit
        else ()
    )
    m_close, u_close = one_digit or (0.0, 0.0)
    return Comparison(
        name,
        description,
        _record(name),
        (
            null_level("missing", "not written on one side", missing),
            Level("same", "the same", lambda a, b: a == b, *same),
            *close,
            Level("different", "different", always, 1 - same[0] - m_close, 1 - same[1] - u_close),
        ),
    )


HOUSE_NUMBER = _code_comparison("house_number", "house number", (0.85, 0.01), None)  # +6.4, -2.7
STREET = _place_comparison("street", "street name and type", 0.8, 0.002)  # +8.6, -3.3
LOCALITY = _place_comparison("locality", "locality (suburb, town)", 0.85, 0.002)  # +8.7, -4.3
POSTCODE = _code_comparison("postcode", "postcode", (0.85, 0.002), (0.1, 0.03))  # +8.7, +1.7, -4.3
REGION = _code_comparison("region", "region (state, province)", (0.9, 0.25), None)  # +1.8, -2.9

GENERIC_COMPARISONS: tuple[Comparison, ...] = (
    IDENTIFIER,
    GIVEN_NAME,
    FAMILY_NAME,
    BIRTH_DATE,
    HOUSE_NUMBER,
    STREET,
    LOCALITY,
    POSTCODE,
    REGION,
)


def generic_parameters() -> ModelParameters:
    """The untrained generic model: the comparisons' default m and u, no name frequencies yet."""
    return default_parameters(GENERIC_COMPARISONS).model_copy(
        update={
            "model_version": "generic-default-1",
            "prior_match_probability": GENERIC_PRIOR,
            "term_frequencies": {},
        }
    )


# Blocking ---------------------------------------------------------------------------------------


def _generic(person: PreparedPerson) -> GenericPersonRecord:
    record = person.record
    if not isinstance(record, GenericPersonRecord):
        raise TypeError(f"record {record.record_id} is not a generic record (see generic_record)")
    return record


def soundex_code(text: str | None) -> str | None:
    """The Soundex code of a name (Robert and Rupert: R163), None for no letters."""
    return soundex(text) or None if text else None


def _key(*parts: Callable[[GenericPersonRecord], str | None]) -> Callable[[PreparedPerson], Iterable[str]]:
    """One key of all `parts` of a record; none if a part is missing."""

    def keys(person: PreparedPerson) -> list[str]:
        record = _generic(person)
        values = [part(record) for part in parts]
        return [] if None in values else ["|".join(values)]  # type: ignore[arg-type]

    return keys


def _both_names(coded: bool) -> Callable[[PreparedPerson], Iterable[str]]:
    """Given and family name (or their Soundex codes) in sorted order: survives a swap."""

    def keys(person: PreparedPerson) -> list[str]:
        given, family = _generic(person).name
        if coded:
            given, family = soundex_code(given), soundex_code(family)
        return [] if given is None or family is None else ["|".join(sorted((given, family)))]

    return keys


def _identifier(record: GenericPersonRecord) -> str | None:
    return record.social_insurance_number


def _birth(record: GenericPersonRecord) -> str | None:
    return record.birth_date.digits if record.birth_date else None


def _birth_year(record: GenericPersonRecord) -> str | None:
    return record.birth_date.digits[:4] if record.birth_date else None


def _given_code(record: GenericPersonRecord) -> str | None:
    return soundex_code(record.name.given)


def _family_code(record: GenericPersonRecord) -> str | None:
    return soundex_code(record.name.family)


def _postcode(record: GenericPersonRecord) -> str | None:
    return record.postcode


def _house(record: GenericPersonRecord) -> str | None:
    return record.house_number


def _street_code(record: GenericPersonRecord) -> str | None:
    return soundex_code(record.street)


def _rule(
    kind: str, description: str, keys: Callable[[PreparedPerson], Iterable[str]], *agreeing: str
) -> BlockingRule:
    return BlockingRule(kind, description, keys, 300, frozenset(agreeing), sufficient=True)


GENERIC_BLOCKING: tuple[BlockingRule, ...] = (
    BlockingRule(
        "identifier", "same identifier", _key(_identifier), 1000, frozenset({"identifier"}), sufficient=True
    ),
    _rule("birth_date", "same birth date as written", _key(_birth), "birth_date"),
    _rule(
        "names",
        "same given and family name, either way round",
        _both_names(coded=False),
        "given_name",
        "family_name",
    ),
    _rule(
        "name_codes",
        "same Soundex codes of given and family name, either way round",
        _both_names(coded=True),
        "given_name",
        "family_name",
    ),
    _rule(
        "family_code_year",
        "family name's Soundex code and birth year",
        _key(_family_code, _birth_year),
        "family_name",
    ),
    _rule(
        "given_code_year",
        "given name's Soundex code and birth year",
        _key(_given_code, _birth_year),
        "given_name",
    ),
    _rule(
        "family_code_postcode",
        "family name's Soundex code and postcode",
        _key(_family_code, _postcode),
        "family_name",
        "postcode",
    ),
    _rule(
        "given_code_postcode",
        "given name's Soundex code and postcode",
        _key(_given_code, _postcode),
        "given_name",
        "postcode",
    ),
    _rule("postcode_house", "postcode and house number", _key(_postcode, _house), "postcode", "house_number"),
    _rule(
        "house_street_code",
        "house number and the street's Soundex code",
        _key(_house, _street_code),
        "house_number",
        "street",
    ),
)


# Decisions --------------------------------------------------------------------------------------

# Relatives share what weighs most after an identifier: twins a family name, birth date and
# address; a father and his namesake son the whole name and address. So a link by weight is held
# back for a steward when the given names or the birth dates disagree outright, unless the
# identifier agrees.
_IDENTIFIER = ("identifier",)
GENERIC_SAFETY_RULES: tuple[SafetyRule, ...] = (
    conflict(
        "given_name",
        "given names differ and the identifier does not agree: twins and siblings share the rest",
        ("jaro_winkler_70", "different"),
        _IDENTIFIER,
    ),
    conflict(
        "birth_date",
        "birth dates differ and the identifier does not agree: a namesake parent or child shares the rest",
        ("within_ten_years", "different"),
        _IDENTIFIER,
    ),
)
