"""From a pair's match weight to LINK / REVIEW / NEW, with safety rules that can only hold a link back.

The weight alone decides unless a safety rule applies, and every rule caps the decision at
REVIEW. The rules cover what the model cannot weigh well: two different valid citizen IDs (never
an automatic link, by policy), and an outright conflict in a name part or the birth date that
fields relatives share (phone, commune, family name, a twin's birth date) outweighed, unless an
identifier agrees; and a newborn's record under its mother's name, unless an identifier agrees
(a twin shares its birth date and household, and its own name is not there to tell them apart).
REVIEW rather than NEW: such a pair is a typo as often as two people, only a steward can tell, and NEW would leave a duplicate identity that nobody looks at. A pair below
the link threshold keeps the decision its weight gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    by_weight: Decision
    held_back_by: tuple[SafetyRule, ...]  # the rules that turned a LINK by weight into REVIEW


def _an_identifier_agrees(score: PairScore, identifiers: tuple[str, ...] = IDENTIFIERS) -> bool:
    return any(score.level(name) == "same" for name in identifiers)


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
        ("different", "northern_spelling"),  # Trung and Chung are two names
    ),
    conflict("family_name", "family names differ and no identifier agrees (Vietnamese keep theirs for life)"),
    conflict("middle_name", "middle names differ (not merely one left out) and no identifier agrees"),
    conflict("birth_date", "birth dates differ and no identifier agrees: a namesake child shares the rest"),
    conflict(
        "newborn",
        "a newborn recorded under its mother's name and no identifier agrees: a twin shares the rest",
        ("names_the_mother", "mother_name_alone", "same_mother", "newborn_and_own_name"),
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
    if weighed is not Decision.LINK:
        return Verdict(weighed, weighed, ())
    held_back = tuple(rule for rule in rules if rule.applies(score))
    return Verdict(Decision.REVIEW if held_back else Decision.LINK, weighed, held_back)
