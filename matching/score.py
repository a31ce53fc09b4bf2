"""Scoring a pair: the level of every comparison, its weight, and the total match weight.

`Scorer` turns parameters into per-level weight tables once; scoring a pair then reads prepared
attributes, walks each comparison's levels and adds numbers. The per-field breakdown (weights,
term-frequency adjustments, the values compared as text) is read back from the levels scoring
reached only when asked for, so bulk scoring does not pay for explanations, and an explanation
does not compare the fields again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from matching.compare import STANDARD_COMPARISONS
from matching.comparison import Comparison, PersonPair
from matching.model import ModelParameters, default_parameters
from matching.names import NamePart
from matching.person import PreparedPerson


class FieldScore(NamedTuple):
    """One comparison's part of a pair's score. A tuple: each explanation builds a dozen, and a frozen
    dataclass costs ten times as much to build."""

    comparison: str
    level: str
    weight: float  # bits, including the term-frequency adjustment
    term_frequency_adjustment: float
    left: str
    right: str


@dataclass(frozen=True, slots=True)
class PairScore:
    pair: PersonPair  # the two records as scoring compared them (their names' readings aligned)
    weight: float  # the prior's weight plus every field's
    levels: tuple[int, ...]  # level index per comparison of the scorer
    scorer: Scorer

    @property
    def left(self) -> PreparedPerson:
        return self.pair.left

    @property
    def right(self) -> PreparedPerson:
        return self.pair.right

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
        return self.scorer.breakdown(self.pair, self.levels)


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

    def weigh(self, pair: PersonPair) -> tuple[int, float]:
        """Level index and weight (the term-frequency adjustment included)."""
        index, left, _ = self.comparison.compare(pair)
        if index in self.adjusted_levels:
            return index, self.weights[index] + self.adjustment(left)
        return index, self.weights[index]

    def adjustment(self, left: object) -> float:
        """The term-frequency adjustment of an adjusted level (`adjusted_levels`) for the left value."""
        return self.adjustments.get(self.comparison.term(left), self.unseen_adjustment)  # type: ignore[misc]


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
            index, weight = compiled.weigh(pair)
            total += weight
            levels.append(index)
        return PairScore(pair, total, tuple(levels), self)

    def breakdown(self, pair: PersonPair, levels: Sequence[int]) -> tuple[FieldScore, ...]:
        """Every comparison's level, weight and the values it compared, in comparison order, from
        the levels `score` found for `pair` (the values are read again, not compared)."""
        fields = []
        for compiled, index in zip(self._compiled, levels, strict=True):
            comparison = compiled.comparison
            left_value, right_value = comparison.values(pair)
            adjustment = compiled.adjustment(left_value) if index in compiled.adjusted_levels else 0.0
            fields.append(
                FieldScore(
                    comparison.name,
                    comparison.levels[index].name,
                    compiled.weights[index] + adjustment,
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
