"""What a comparison is: for one field, an ordered list of named levels; the first that applies wins.

Each level carries default m and u probabilities (how often a pair lands on it when the records
are, and are not, the same person), so the engine works before any training, and flags saying
which of them training may change. A null level (data missing, or not comparable) weighs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Generic, TypeVar

from matching.address import same_commune
from matching.names import NO_NAME, align, two_families
from matching.person import PreparedPerson

V = TypeVar("V")


# A young child, as far as a record can tell: a maternity desk names a baby after its mother in
# its first year, and a record's `recorded_at` may be the day it was last stored (not the visit's),
# so the bound is generous.
YOUNG_CHILD_DAYS = 3 * 365


class PersonPair:
    """Two prepared records being compared, with the work every name comparison shares: the
    readings to compare, or none when one record is a young child's under its mother's name alone
    (`under_mother_name`), whose name then says nothing of the child."""

    __slots__ = ("left", "left_reading", "right", "right_reading", "under_mother_name")

    def __init__(self, left: PreparedPerson, right: PreparedPerson) -> None:
        self.left = left
        self.right = right
        self.under_mother_name = _under_mother_name(left, right)
        if self.under_mother_name:
            self.left_reading = self.right_reading = NO_NAME
        else:
            self.left_reading, self.right_reading = align(left.name, right.name)


def _under_mother_name(left: PreparedPerson, right: PreparedPerson) -> bool:
    """A young child's two records, one of them under its mother's name alone (`Nguyễn Thị Hoa` for
    her son, no `Con bà` before it): born the same day, of the same sex, with the same phone and
    commune (a desk may type its own phone for every baby of the day; they live apart), and names
    of two families with two given names. Twins share their father's family name, and a
    mother's own record her birth date, so neither reads so. Cheap tests first: every pair asks."""
    if left.birth is None or right.birth is None or left.birth.ordinal is None:
        return False
    if left.birth.ordinal != right.birth.ordinal or left.sex is None or left.sex != right.sex:
        return False
    if left.phone is None or left.phone != right.phone or not same_commune(left.commune, right.commune):
        return False
    seen = [day for day in (left.record.recorded_at, right.record.recorded_at) if day is not None]
    if not seen or max(seen).toordinal() - left.birth.ordinal > YOUNG_CHILD_DAYS:
        return False
    return two_families(left.name, right.name)


def on_both(attribute: str) -> Callable[[PersonPair], tuple[Any, Any]]:
    """The values of a comparison: `attribute` (dotted) of the left and right side of a pair."""
    return attrgetter(f"left.{attribute}", f"right.{attribute}")


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    description: str
    applies: Callable[[Any, Any], bool]
    m: float
    u: float
    is_null: bool = False
    fix_m: bool = False  # training keeps the default m
    u_floor: bool = False  # training never lowers u below the default (agreement a random sample misses)
    term_frequency: bool = False  # weight scaled by how common the agreed value is


def null_level(name: str, description: str, applies: Callable[[Any, Any], bool]) -> Level:
    return Level(name, description, applies, m=1.0, u=1.0, is_null=True)


def missing(left: object, right: object) -> bool:
    return left is None or right is None


def always(left: object, right: object) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Comparison(Generic[V]):
    name: str
    description: str
    values: Callable[[PersonPair], tuple[V | None, V | None]]
    levels: tuple[Level, ...]
    term: Callable[[V], str] | None = None  # the value whose frequency scales term-frequency levels
    _tests: tuple[Callable[[Any, Any], bool], ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tests", tuple(level.applies for level in self.levels))
        names = [level.name for level in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"comparison {self.name} repeats a level name")
        if self.levels[-1].applies is not always:
            raise ValueError(f"comparison {self.name} must end with a level that always applies")

    def compare(self, pair: PersonPair) -> tuple[int, V | None, V | None]:
        """The index of the first level that applies, and the two values compared."""
        left, right = self.values(pair)
        for index, applies in enumerate(self._tests):
            if applies(left, right):
                return index, left, right
        raise AssertionError("unreachable: the last level always applies")
