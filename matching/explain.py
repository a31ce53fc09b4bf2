"""A pair's score as a waterfall: the prior, then each field's weight and the running total; and
the same in one line of words, for a steward's queue."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from matching.decide import Verdict
from matching.score import PairScore, probability


class Step(TypedDict):
    """A step as an explanation stores it (JSON), so a pair's steps are written as they are made."""

    field: str
    level: str
    weight: float
    cumulative: float
    left: str
    right: str
    note: str


def waterfall(score: PairScore) -> list[Step]:
    prior = score.prior_weight
    steps: list[Step] = [
        {"field": "prior", "level": "", "weight": prior, "cumulative": prior, "left": "", "right": "",
         "note": "two records at random"}
    ]  # fmt: skip
    total = prior
    for field in score.fields:
        total += field.weight
        note = (
            f"term frequency {field.term_frequency_adjustment:+.1f}"
            if field.term_frequency_adjustment
            else ""
        )
        steps.append(
            {"field": field.comparison, "level": field.level, "weight": field.weight, "cumulative": total,
             "left": field.left, "right": field.right, "note": note}
        )  # fmt: skip
    return steps


def render(score: PairScore, verdict: Verdict | None = None) -> str:
    """Plain text, one line per step, for the steward console and logs."""
    lines = [
        f"records {score.left.record_id} and {score.right.record_id}: "
        f"match weight {score.weight:+.1f} bits, probability {score.probability:.4f}"
    ]
    if verdict is not None:
        lines.append(
            f"decision {verdict.decision.value.upper()} (by weight {verdict.by_weight.value.upper()})"
        )
        lines.extend(f"  held back: {rule.reason}" for rule in verdict.held_back_by)
    for step in waterfall(score):
        values = f"{step['left']} | {step['right']}" if step["left"] or step["right"] else ""
        lines.append(
            f"{step['field']:<17} {step['level']:<22} {step['weight']:+7.2f} {step['cumulative']:+8.2f}"
            f"  {values}{'  (' + step['note'] + ')' if step['note'] else ''}"
        )
    lines.append(f"{'total':<17} {'':<22} {'':>7} {score.weight:+8.2f}  p={probability(score.weight):.4f}")
    return "\n".join(lines)


FIELD_WORDS = {
    "citizen_id": "citizen ID", "old_id": "ID card", "passport": "passport",
    "social_insurance": "insurance number", "family_name": "family name", "middle_name": "middle name",
    "given_name": "given name", "birth_date": "birth date", "sex": "sex", "phone": "phone",
    "address": "commune",
}  # fmt: skip
# Levels that agree only nearly, and how to say so; every other level with a positive weight agrees
# (same letters with marks on one side only is the same name).
NEARLY = {
    "one_character_differs": "one character apart", "one_digit_differs": "one digit apart",
    "one_letter_apart": "one letter apart",
    "same_other_generation": "same, but for someone born years apart", "reordered": "in another order",
    "regional_variant": "a regional spelling",
    "variant": "another spelling", "northern_spelling": "l/n, s/x, ch/tr spelling", "typo": "a typo apart",
    "long_name_typo": "a typo apart", "dropped": "one left out", "year_only_agrees": "year only agrees",
    "day_month_swapped": "day and month swapped", "one_off": "one day or digit apart",
    "year_off_by_one": "years one apart",
}  # fmt: skip
NEWBORN_WORDS = {
    "newborn_and_own_name": "a newborn under its mother's name and a record under an own name",
    "under_mother_name_alone": "a young child under its mother's name alone and a record under an own name",
    "same_mother": "two newborns' records under one mother's name",
    "born_together": "two babies registered at one facility on the day they were born",
    "same_mother_one_facility": "two newborns' records under one mother's name at one facility",
    "same_mother_one_at_birth": "two newborns' records under one mother's name, one made at the birth",
    "names_the_mother": "a newborn's record under the other's name (its mother)",
    "mother_name_alone": "a newborn's record and one under its mother's name alone",
    "mother_name_alone_one_at_birth": "a newborn's record and one under its mother's name alone, one made at the birth",
    "under_mother_name_alone_one_at_birth": (
        "a young child under its mother's name alone and a record under an own name, one made at the birth"
    ),
    "different": "newborns of different mothers",
}
_NAME_PARTS = ("family_name", "middle_name", "given_name")


def in_words(steps: Iterable[Mapping[str, Any]]) -> str:
    """An explanation's steps (as stored: field, level, weight) in one line: what nearly agrees,
    what agrees, what differs. `citizen ID one character apart; same name, birth date, phone;
    differ: commune`."""
    nearly, same, differ = [], [], []
    levels = {
        str(step.get("field")): (str(step.get("level")), float(step.get("weight") or 0)) for step in steps
    }
    newborn = levels.pop("newborn", ("", 0.0))[0]
    if all(levels.get(part, ("", 0.0))[0] in ("exact", "same_letters", "same") for part in _NAME_PARTS):
        for part in _NAME_PARTS:
            levels.pop(part, None)
        same.append("name")
    for field, (level, weight) in levels.items():
        words = FIELD_WORDS.get(field)
        if words is None or (weight == 0 and level not in NEARLY):
            continue  # the prior, or a field missing on one side
        if level in NEARLY:
            nearly.append(f"{words} {NEARLY[level]}")
        elif weight > 0:
            same.append(words)
        else:
            differ.append(words)
    parts = [NEWBORN_WORDS[newborn]] if newborn in NEWBORN_WORDS else []
    parts += nearly
    if same:
        parts.append("same " + ", ".join(same))
    if differ:
        parts.append("differ: " + ", ".join(differ))
    return "; ".join(parts) or "nothing to compare"
