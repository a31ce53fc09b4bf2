"""Scoring a pair: the level of every comparison, its weight, and the total match weight.

`Scorer` turns parameters into per-level weight tables once; scoring a pair then reads prepared
attributes, walks each comparison's levels and adds numbers. The per-field breakdown (weights,
term-frequency adjustments, the values compared as text) is rebuilt only when asked for, so
bulk scoring does not pay for explanations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matching.compare import STANDARD_COMPARISONS
from matching.comparison import Comparison, PersonPair
from matching.model import ModelParameters, default_parameters
from matching.names import NamePart
from matching.person import PreparedPerson


@dataclass(frozen=True, slots=True)
class FieldScore:
    comparison: str
    level: str
    weight: float  # bits, including the term-frequency adjustment
    term_frequency_adjustment: float
    left: str
    right: str


@dataclass(frozen=True, slots=True)
class PairScore:
    left: PreparedPerson
    right: PreparedPerson
    weight: float  # the prior's weight plus every field's
    levels: tuple[int, ...]  # level index per comparison of the scorer
    scorer: Scorer

    @property
    def probability(self) -> float:
        return probability(self.weight)

    @property
    def prior_weight(self) -> float:
        return self.scorer.parameters.prior_weight

    def level(self, comparison: str) -> str | None:
        """The level a comparison reached, or None if the scorer does not make that comparison."""
        position = self.scorer.position.get(comparison)
        if position is None:
            return None
        return self.scorer.comparisons[position].levels[self.levels[position]].name

    @property
    def fields(self) -> tuple[FieldScore, ...]:
        return self.scorer.breakdown(self.left, self.right)


def probability(weight: float) -> float:
    """Match probability of a match weight in bits."""
    return 1 / (1 + 2 ** -max(min(weight, 1000.0), -1000.0))


class _CompiledComparison:
    __slots__ = ("adjusted_levels", "adjustments", "comparison", "unseen_adjustment", "weights")

    def __init__(self, comparison: Comparison, parameters: ModelParameters) -> None:
        fitted = parameters.comparison(comparison.name).levels
        table = parameters.term_frequencies.get(comparison.name)
        self.comparison = comparison
        self.weights = tuple(
            0.0 if level.is_null else params.weight
            for level, params in zip(comparison.levels, fitted, strict=True)
        )
        self.adjusted_levels = frozenset(
            index for index, level in enumerate(comparison.levels) if level.term_frequency and table
        )
        self.adjustments = {value: table.adjustment(value) for value in table.frequencies} if table else {}
        self.unseen_adjustment = table.adjustment(None) if table else 0.0

    def weigh(self, pair: PersonPair) -> tuple[int, float, float, object, object]:
        """Level index, weight, term-frequency adjustment (included in weight), and both values."""
        comparison = self.comparison
        index, left, right = comparison.compare(pair)
        adjustment = 0.0
        if index in self.adjusted_levels:
            adjustment = self.adjustments.get(comparison.term(left), self.unseen_adjustment)  # type: ignore[misc]
        return index, self.weights[index] + adjustment, adjustment, left, right


class Scorer:
    """Parameters compiled for scoring: build once per run; safe to share between threads."""

    def __init__(
        self,
        parameters: ModelParameters | None = None,
        comparisons: Sequence[Comparison] = STANDARD_COMPARISONS,
    ) -> None:
        self.parameters = (parameters or default_parameters(comparisons)).fitted_to(comparisons)
        self.comparisons = tuple(comparisons)
        self.position = {comparison.name: index for index, comparison in enumerate(self.comparisons)}
        self._compiled = tuple(_CompiledComparison(c, self.parameters) for c in comparisons)
        self._prior_weight = self.parameters.prior_weight

    def score(self, left: PreparedPerson, right: PreparedPerson) -> PairScore:
        pair = PersonPair(left, right)
        total = self._prior_weight
        levels = []
        for compiled in self._compiled:
            index, weight, _, _, _ = compiled.weigh(pair)
            total += weight
            levels.append(index)
        return PairScore(left, right, total, tuple(levels), self)

    def breakdown(self, left: PreparedPerson, right: PreparedPerson) -> tuple[FieldScore, ...]:
        """Every comparison's level, weight and the values it compared, in comparison order."""
        pair = PersonPair(left, right)
        fields = []
        for compiled in self._compiled:
            index, weight, adjustment, left_value, right_value = compiled.weigh(pair)
            level = compiled.comparison.levels[index].name
            fields.append(
                FieldScore(
                    compiled.comparison.name,
                    level,
                    weight,
                    adjustment,
                    _shown(left_value),
                    _shown(right_value),
                )
            )
        return tuple(fields)


def score_pair(left: PreparedPerson, right: PreparedPerson, scorer: Scorer) -> PairScore:
    return scorer.score(left, right)


def _shown(value: object) -> str:
    if isinstance(value, NamePart):
        return value.text or "-"
    return "-" if value is None else str(value)
