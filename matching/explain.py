"""A pair's score as a waterfall: the prior, then each field's weight and the running total."""

from __future__ import annotations

from typing import NamedTuple

from matching.decide import Verdict
from matching.score import PairScore, probability


class Step(NamedTuple):  # a tuple: explanations of many pairs turn into JSON objects cheaply (_asdict)
    field: str
    level: str
    weight: float
    cumulative: float
    left: str
    right: str
    note: str = ""


def waterfall(score: PairScore) -> tuple[Step, ...]:
    steps = [Step("prior", "", score.prior_weight, score.prior_weight, "", "", "two records at random")]
    total = score.prior_weight
    for field in score.fields:
        total += field.weight
        note = (
            f"term frequency {field.term_frequency_adjustment:+.1f}"
            if field.term_frequency_adjustment
            else ""
        )
        steps.append(Step(field.comparison, field.level, field.weight, total, field.left, field.right, note))
    return tuple(steps)


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
        values = f"{step.left} | {step.right}" if step.left or step.right else ""
        lines.append(
            f"{step.field:<17} {step.level:<22} {step.weight:+7.2f} {step.cumulative:+8.2f}"
            f"  {values}{'  (' + step.note + ')' if step.note else ''}"
        )
    lines.append(f"{'total':<17} {'':<22} {'':>7} {score.weight:+8.2f}  p={probability(score.weight):.4f}")
    return "\n".join(lines)
