"""From a pair's match weight to LINK / REVIEW / NEW, with safety rules that can only hold a link back.

The weight alone decides unless a safety rule applies, and every rule caps the decision at
REVIEW. The rules cover what the model cannot weigh well: two different valid citizen IDs (never
an automatic link, by policy), and an outright conflict in a name part or the birth date that
fields relatives share (phone, commune, family name, a twin's birth date) outweighed, unless an
identifier agrees; and a newborn's record under its mother's name, unless an identifier agrees or
it meets a record under an own name born the same day, of the same sex, in the same household.
REVIEW rather than NEW: such a pair is a typo as often as two people, only a steward can tell, and
NEW would leave a duplicate identity that nobody looks at. A pair below the link threshold keeps
the decision its weight gives, but for one that looks like twins (below) whose given names are
two letters or more apart: NEW, not review, since a desk's slip changes one letter and on the
synthetic province every such review item was two children (bench/README.md).

Twins are what a newborn's record under its mother's name cannot rule out by itself: they share
its birth date, mostly its sex, its phone and commune, and its own name is not there to tell them
apart. So the newborn's link to a record under an own name carries the caveat NEWBORN_LINK and is
taken only where no twin is in sight (`refused_newborn_links`): the set of records decides, not
the pair. A pair that looks like two children born together carries TWINS: own names that differ,
one birth date, one household, the same sex, no identifier agreeing; or two patients of one
facility both made on their birth day (`born_together`: a maternity ward registers each baby of
a birth, so twins are two patients there whatever names the desk gave them; it weighs against,
and never links without an agreeing identifier); or two patients of one facility under one
mother's name (twins, or one baby registered twice: the steward decides). Two records under
one mother's name (or one under the bare mother's name) at two facilities, one of them made at
the birth (its first episode began on its birth date: the ward's), are one baby unless a twin is
in sight, and the ward's twin would be: such a link carries NEWBORN_LINK too, as does a baby's
record under its mother's name alone made at the birth and its record under an own name
elsewhere. Without the birth in sight (the baby born before the
registry saw its ward's records, or at a ward that does not post), twins recorded one at each of
two facilities look exactly like one baby: such a pair stays with the steward. So does a young
child's record under its mother's name alone (no `Con bà`: another
family and given name than the other record's, born the same day, the same sex, phone and
commune; `PersonPair`) and a record under an own name: read as the same baby it links by weight,
but the twin whose own record is not yet in sight shares all of it, and on the synthetic
province (twins boosted) a tenth of such links were to a twin (bench/README.md). Such a pair
carries TWINS too, so a `Con bà` record's link to either is refused as long as it is open."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from matching.model import Thresholds
from matching.score import PairScore

IDENTIFIERS = ("citizen_id", "old_id", "passport", "social_insurance")


class Decision(StrEnum):
    LINK = "link"
    REVIEW = "review"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class SafetyRule:
    name: str
    reason: str
    applies: Callable[[PairScore], bool]


class Caveat(StrEnum):
    NEWBORN_LINK = "newborn_link"  # a LINK through a newborn's record: only where no twin is in sight
    TWINS = "twins"  # two children born together, as far as the pair tells


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    by_weight: Decision
    held_back_by: tuple[SafetyRule, ...]  # the rules that turned a LINK by weight into REVIEW
    caveat: Caveat | None = None


NEWBORN_LEVELS = (
    "names_the_mother",
    "under_mother_name_alone_one_at_birth",
    "mother_name_alone_one_at_birth",
    "mother_name_alone",
    "same_mother_one_facility",
    "same_mother_one_at_birth",
    "same_mother",
    "newborn_and_own_name",
)
# A newborn's record and another record of the same baby unless it has a twin: one under an own
# name; or, where one of the two was made at the birth (the ward's) and the other elsewhere, one
# under the same mother's name, the mother's name alone, or (the baby's under her name alone) an
# own name.
NEWBORN_LINK_LEVELS = (
    "newborn_and_own_name",
    "same_mother_one_at_birth",
    "mother_name_alone_one_at_birth",
    "under_mother_name_alone_one_at_birth",
)


GIVEN_NAMES_DIFFER = ("one_letter_apart", "different", "northern_spelling")


def _an_identifier_agrees(score: PairScore, identifiers: tuple[str, ...] = IDENTIFIERS) -> bool:
    return any(score.level(name) == "same" for name in identifiers)


def _no_identifier_disagrees(score: PairScore) -> bool:
    return all(score.level(name) in ("missing", "same", None) for name in IDENTIFIERS)


def _one_household_one_birth_date(score: PairScore) -> bool:
    return score.level("birth_date") == "exact" and (
        score.level("phone") == "same" or score.level("address") == "same_commune"
    )


def _newborn_settled(score: PairScore) -> bool:
    """A newborn's record and a record under an own name, or under the same mother's name where one
    of the two was made at the birth: born the same day, of the same sex, in one household, no
    identifier against them; the same child unless it has a twin."""
    return (
        _one_household_one_birth_date(score)
        and score.level("newborn") in NEWBORN_LINK_LEVELS
        and score.level("sex") == "same"
        and _no_identifier_disagrees(score)
    )


def _newborn_unsettled(score: PairScore) -> bool:
    return (
        score.level("newborn") in NEWBORN_LEVELS
        and not _an_identifier_agrees(score)
        and not _newborn_settled(score)
    )


def _looks_like_twins(score: PairScore) -> bool:
    if score.level("newborn") in ("born_together", "same_mother_one_facility"):
        return not _an_identifier_agrees(score)
    return (
        _one_household_one_birth_date(score)
        and score.level("newborn") == "not_newborn"
        and score.level("given_name") in GIVEN_NAMES_DIFFER
        and score.level("sex") != "different"  # a twin of the other sex is told apart by the newborn's
        and not _an_identifier_agrees(score)
    )


def _under_mother_name_alone(score: PairScore) -> bool:
    """One record a young child's under its mother's name alone, the other the child's own or its
    twin's: unless an identifier agrees, a twin in sight of both, as two own names are."""
    return score.level("newborn") == "under_mother_name_alone" and not _an_identifier_agrees(score)


def _twins_named_apart(score: PairScore) -> bool:
    """Two children born together, as far as the pair tells, whose given names are two letters or
    more apart (Hòa and Hương): twins; a desk's slip changes one letter."""
    return _looks_like_twins(score) and score.level("given_name") == "different"


def _bare_mother_name_open(score: PairScore) -> bool:
    """A young child's record under its mother's name alone, not linked: while it is open, its twin
    may be the child in sight (TWINS)."""
    return score.level("newborn") in ("under_mother_name_alone", "under_mother_name_alone_one_at_birth") and (
        not _an_identifier_agrees(score)
    )


def _different_citizen_ids(score: PairScore) -> bool:
    return score.level("citizen_id") in ("one_character_differs", "different")


def conflict(
    comparison: str,
    reason: str,
    levels: tuple[str, ...] = ("different",),
    identifiers: tuple[str, ...] = IDENTIFIERS,
) -> SafetyRule:
    """Held back when `comparison` reached one of `levels` and none of the `identifiers`
    comparisons (by name) is at its level `same`."""

    def applies(score: PairScore) -> bool:
        return score.level(comparison) in levels and not _an_identifier_agrees(score, identifiers)

    return SafetyRule(f"{comparison}_conflict", reason, applies)


SAFETY_RULES: tuple[SafetyRule, ...] = (
    SafetyRule(
        "different_citizen_ids",
        "two different valid citizen IDs are never linked automatically (one-digit typo or two people)",
        _different_citizen_ids,
    ),
    conflict(
        "given_name",
        "given names differ and no identifier agrees: twins and siblings share the rest",
        GIVEN_NAMES_DIFFER,  # Trung and Chung are two names
    ),
    conflict("family_name", "family names differ and no identifier agrees (Vietnamese keep theirs for life)"),
    conflict("middle_name", "middle names differ (not merely one left out) and no identifier agrees"),
    conflict("birth_date", "birth dates differ and no identifier agrees: a namesake child shares the rest"),
    SafetyRule(
        "newborn_conflict",
        "a newborn recorded under its mother's name, no identifier agrees, and the birth date, sex and"
        " household do not all agree with a record under an own name or with the record made at its"
        " birth: a twin shares the rest",
        _newborn_unsettled,
    ),
    SafetyRule(
        "born_together",
        "two patients of one facility, both made on their birth day, the same day, no identifier"
        " agrees: a maternity ward registers each baby of a birth, so twins, whatever their names",
        lambda score: score.level("newborn") == "born_together" and not _an_identifier_agrees(score),
    ),
    SafetyRule(
        "under_mother_name_alone",
        "a young child's record under its mother's name alone and one under an own name, no identifier"
        " agrees: the same baby, or its twin whose own record is not in sight, and nothing tells which",
        _under_mother_name_alone,
    ),
)


def by_weight(weight: float, thresholds: Thresholds) -> Decision:
    if weight >= thresholds.link:
        return Decision.LINK
    if weight >= thresholds.review:
        return Decision.REVIEW
    return Decision.NEW


def decide(score: PairScore, thresholds: Thresholds, rules: Sequence[SafetyRule] = SAFETY_RULES) -> Verdict:
    weighed = by_weight(score.weight, thresholds)
    held_back = tuple(rule for rule in rules if rule.applies(score)) if weighed is Decision.LINK else ()
    decision = Decision.REVIEW if held_back else weighed
    if decision is Decision.REVIEW and not held_back and _twins_named_apart(score):
        decision = Decision.NEW  # not a steward's question: two children
    caveat = None
    if decision is Decision.LINK and _newborn_settled(score) and not _an_identifier_agrees(score):
        caveat = Caveat.NEWBORN_LINK
    elif decision is not Decision.LINK and (_looks_like_twins(score) or _bare_mother_name_open(score)):
        caveat = Caveat.TWINS
    return Verdict(decision, weighed, held_back, caveat)


def refused_newborn_links(
    newborn_links: Iterable[tuple[int, int]],
    twins: Iterable[tuple[int, int]],
    one_person: Callable[[int, int], bool],
) -> set[tuple[int, int]]:
    """Of the NEWBORN_LINK pairs among a set of records, those to refuse because a twin is in sight.

    `twins` are the TWINS pairs among the same records, and `one_person(a, b)` says whether two
    records are already known to be one person (linked, or in one identity). A record's newborn
    links are all refused when it, or a record it would link to so, has a TWINS pair, or when it
    would link so to two records not known to be one person: its newborn's record fits either.
    """
    with_twin = {record for pair in twins for record in pair}
    partners: dict[int, list[int]] = defaultdict(list)
    pairs = list(newborn_links)
    for left, right in pairs:
        partners[left].append(right)
        partners[right].append(left)

    def twin_in_sight(record: int) -> bool:
        linked = partners[record]
        return (
            record in with_twin
            or any(partner in with_twin for partner in linked)
            or any(not one_person(linked[0], other) for other in linked[1:])
        )

    unsafe = {record for record in partners if twin_in_sight(record)}
    return {(left, right) for left, right in pairs if left in unsafe or right in unsafe}
