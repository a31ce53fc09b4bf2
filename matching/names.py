"""Vietnamese full names as parts: family name, middle names, given name, and other readings.

"Last word = given name" is only the usual reading: family names can be compound (Tôn Thất),
and facilities that store names in Western fields write the given name first ("Hùng Nguyễn Văn")
or the family name last. So a name keeps every syllable and up to three readings (as written,
rotated either way). The likely reading comes first: as written, unless only a rotation starts
with a known family name. For a pair, `align` picks the readings under which family and given
names agree, if the likely ones do not.

A baby not yet named is recorded under its mother's name: `Con bà Nguyễn Thị Hoa`, `CON CUA
TRAN THI MAI`, `Con sản phụ ...`, `CB ...`. Such a name is a form of its own: it has no reading
as the child's name (the name comparisons find it missing) and keeps the mother's name, which
says who the mother is, never who the child is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import OSA

from matching.normalize import SyllableKeys, fold, words

# Two-syllable family names, folded [R: a starting list; extend as facilities report more].
COMPOUND_FAMILY_NAMES = frozenset(
    {"au duong", "cong ton", "dong phuong", "gia cat", "hoang phu", "nguyen phuc", "thuong quan",
     "ton nu", "ton that", "tu ma"}
)  # fmt: skip


# Common family names, as folded variant keys (Huỳnh is "hoang", Võ "vu", Lý "li"): enough to
# tell "Hùng Nguyễn Văn" is written given name first. "Văn" is left out: far more often a middle name.
KNOWN_FAMILY_NAMES = frozenset(
    {"au", "bach", "bui", "cao", "chau", "chu", "dam", "dang", "dao", "diep", "dinh", "do", "doan", "duong",
     "giang", "ha", "han", "ho", "hoang", "hua", "khong", "khuc", "kieu", "kim", "la", "lai", "lam", "le", "li",
     "lo", "luc", "luong", "luu", "mac", "mai", "ngo", "nghiem", "nguyen", "ninh", "nong", "ong", "pham",
     "phan", "phung", "quach", "ta", "tang", "thach", "thai", "than", "to", "ton", "tong", "tran", "trieu",
     "trinh", "truong", "tu", "vi", "vu", "vuong"}
)  # fmt: skip


# How maternity desks name a baby after its mother, as folded words [domain brief §7; extend as
# facilities report more]. The mother's name follows and must have two words at least.
NEWBORN_PREFIXES = (
    ("con", "cua", "ba"), ("con", "cua", "chi"), ("con", "cua"), ("con", "ba"), ("con", "chi"),
    ("con", "san", "phu"), ("con", "sp"), ("con", "me"), ("cb",),
)  # fmt: skip


# Those always written with marks: "Tran" or "Ngo" in a name otherwise marked lost them.
MARKED_FAMILY_NAMES = KNOWN_FAMILY_NAMES - {"cao", "chu", "giang", "kim", "la", "mai", "ninh", "phan", "vi"}


@dataclass(frozen=True, slots=True)
class NamePart:
    """Zero or more syllables playing one role in a name, with the keys of `SyllableKeys` joined."""

    text: str
    syllables: tuple[SyllableKeys, ...]
    # The name is written with marks, so a syllable of this part without them is meant so; not
    # when one of its syllables cannot be written without marks (Nguyen in "Nguyen Văn Hùng").
    marked: bool
    reordered: bool  # from a reading in another order than written
    exact: str
    folded: str
    variant: str
    variant_folded: str
    northern: str
    northern_folded: str

    @classmethod
    def of(
        cls, written: Sequence[str], keys: Sequence[SyllableKeys], *, marked: bool, reordered: bool
    ) -> NamePart:
        if len(keys) == 1:  # most parts: nothing to join (a third of a record's preparation)
            (key,) = keys
            return cls(
                written[0], (key,), marked, reordered,
                key.exact, key.folded, key.variant, key.variant_folded, key.northern, key.northern_folded,
            )  # fmt: skip
        return cls(
            text=" ".join(written),
            syllables=tuple(keys),
            marked=marked,
            reordered=reordered,
            exact=" ".join([key.exact for key in keys]),
            folded=" ".join([key.folded for key in keys]),
            variant=" ".join([key.variant for key in keys]),
            variant_folded=" ".join([key.variant_folded for key in keys]),
            northern=" ".join([key.northern for key in keys]),
            northern_folded=" ".join([key.northern_folded for key in keys]),
        )


@dataclass(frozen=True, slots=True)
class NameReading:
    family: NamePart
    middle: NamePart
    given: NamePart


NO_PART = NamePart.of((), (), marked=False, reordered=False)
NO_NAME = NameReading(NO_PART, NO_PART, NO_PART)  # the reading of a name without letters


@dataclass(frozen=True, slots=True)
class PersonName:
    readings: tuple[
        NameReading, ...
    ]  # the likely reading first; empty for a name without letters or a newborn's
    mother: PersonName | None = None  # a newborn's record: the mother's name it is recorded under

    @property
    def likely(self) -> NameReading | None:
        return self.readings[0] if self.readings else None


@lru_cache(maxsize=1 << 16)
def parse_name(raw: str) -> PersonName:
    """The readings of a full name (cached: a province has far fewer names than records)."""
    written = words(raw)
    if not written:
        return PersonName(readings=())
    after_prefix = _newborn_prefix([fold(word) for word in written])
    if after_prefix:
        return PersonName(readings=(), mother=parse_name(" ".join(written[after_prefix:])))
    keys = [_syllable(word) for word in written]
    marked = any(key.has_marks for key in keys)
    orders = [list(range(len(written)))]
    if len(written) > 1:
        orders.append([*range(1, len(written)), 0])  # written given name first
        orders.append([len(written) - 1, *range(len(written) - 1)])  # written family name last
    readings: dict[tuple[str, str, str], NameReading] = {}
    for number, order in enumerate(orders):
        reading = _reading(
            [written[i] for i in order], [keys[i] for i in order], marked, reordered=number > 0
        )
        signature = (
            reading.family.variant_folded,
            reading.middle.variant_folded,
            reading.given.variant_folded,
        )
        readings.setdefault(signature, reading)
    # Stable sort: as written stays first unless only a rotation starts with a known family name.
    likely_first = sorted(
        readings.values(), key=lambda reading: reading.family.variant_folded not in KNOWN_FAMILY_NAMES
    )
    return PersonName(readings=tuple(likely_first))


def _newborn_prefix(folded: list[str]) -> int:
    """The number of words of a newborn prefix the name starts with, followed by a mother's name
    of two words or more; 0 when there is none."""
    for prefix in NEWBORN_PREFIXES:
        if tuple(folded[: len(prefix)]) == prefix and len(folded) >= len(prefix) + 2:
            return len(prefix)
    return 0


@lru_cache(maxsize=1 << 14)
def _syllable(word: str) -> SyllableKeys:
    return SyllableKeys(word)


def _reading(written: list[str], keys: list[SyllableKeys], marked: bool, *, reordered: bool) -> NameReading:
    def part(start: int, stop: int | None, *, family: bool = False) -> NamePart:
        these = keys[start:stop]
        lost = any(key.lost_marks for key in these) or (
            family
            and len(these) == 1
            and not these[0].has_marks
            and these[0].variant_folded in MARKED_FAMILY_NAMES
        )
        return NamePart.of(written[start:stop], these, marked=marked and not lost, reordered=reordered)

    if len(keys) == 1:
        return NameReading(part(0, 0), part(0, 0), part(0, 1))
    compound = len(keys) >= 3 and f"{keys[0].folded} {keys[1].folded}" in COMPOUND_FAMILY_NAMES
    family_size = 2 if compound else 1
    return NameReading(
        family=part(0, family_size, family=True), middle=part(family_size, -1), given=part(-1, None)
    )


def align(left: PersonName, right: PersonName) -> tuple[NameReading, NameReading]:
    """The readings to compare: the likely ones, unless only another reading makes the names agree."""
    likely_left, likely_right = left.likely or NO_NAME, right.likely or NO_NAME
    if not same_name(likely_left.family, likely_right.family):
        for other in right.readings[1:]:
            if _agree(likely_left, other):
                return likely_left, other
        for other in left.readings[1:]:
            if _agree(other, likely_right):
                return other, likely_right
    return likely_left, likely_right


def same_name(left: NamePart, right: NamePart) -> bool:
    """Same name up to spelling variants; marks count only when both names are written with them."""
    if left.marked and right.marked:
        return left.variant == right.variant
    return left.variant_folded == right.variant_folded


def two_families(left: PersonName, right: PersonName) -> bool:
    """Names of two families with two given names, whichever way each name is read (a name read
    family name last, `Hoàng Phủ Thị Vy` as Vy's, must not hide one family): false when a name has
    no reading."""
    return bool(left.readings and right.readings) and all(
        _another_name(one.family, other.family) and _another_name(one.given, other.given)
        for one in left.readings
        for other in right.readings
    )


def _another_name(left: NamePart, right: NamePart) -> bool:
    """Two names, not two spellings of one: neither a variant, a northern confusion (l/n, s/x,
    ch/tr, d/gi/r) nor one slip of the other's letters; False when a part is missing."""
    return (
        bool(left.syllables and right.syllables)
        and not same_name(left, right)
        and left.northern_folded != right.northern_folded
        and OSA.distance(left.folded, right.folded, score_cutoff=2) > 1
    )


def _agree(left: NameReading, right: NameReading) -> bool:
    return same_name(left.family, right.family) and same_name(left.given, right.given)
