"""Fellegi–Sunter parameters: per comparison level m and u, term frequencies, prior, thresholds.

A level's weight is log2(m/u) bits: how much more often matches land on it than non-matches.
A pair's match weight is the prior's weight, log2(λ/(1-λ)) with λ the chance that two records
drawn at random are the same person, plus its level weights. Saved as versioned JSON; the
built-in defaults (from the comparison declarations) make the engine usable before training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from matching.compare import STANDARD_COMPARISONS
from matching.comparison import Comparison

FORMAT = "provreg.matching.model"
FORMAT_VERSION = 1

# Family-name shares in Viet Nam [C*, domain brief §4], by folded variant key (Huỳnh/Hoàng and
# Vũ/Võ are one name; Lý is "li" after i/y folding). Names not listed share the rest thinly.
FAMILY_NAME_SHARES = {
    "nguyen": 0.384, "tran": 0.11, "le": 0.095, "pham": 0.071, "hoang": 0.051, "phan": 0.045,
    "vu": 0.039, "dang": 0.021, "bui": 0.02, "do": 0.014, "ho": 0.013, "ngo": 0.013, "duong": 0.01,
    "li": 0.005,
}  # fmt: skip
UNLISTED_FAMILY_NAME_SHARE = 0.003


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LevelParameters(_Model):
    name: str
    m: float = Field(gt=0, le=1, description="P(level | same person)")
    u: float = Field(gt=0, le=1, description="P(level | different people)")

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


class ComparisonParameters(_Model):
    name: str
    levels: tuple[LevelParameters, ...]

    def level(self, name: str) -> LevelParameters:
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(f"comparison {self.name} has no level {name!r}")


class TermFrequencies(_Model):
    """How common each value is, to weigh agreement on it (agreeing on Nguyễn says little)."""

    frequencies: dict[str, float]
    unseen: float = Field(gt=0, le=1, description="frequency assumed for a value not in the table")
    minimum: float = Field(
        gt=0, le=1, description="floor, so a rare or mistyped value cannot outweigh an identifier"
    )
    chance_agreement: float = Field(gt=0, le=1, description="sum of squared frequencies")

    def frequency(self, value: str | None) -> float:
        """Frequency of `value`; None (or a value not in the table) gets the unseen frequency."""
        known = self.frequencies.get(value) if value is not None else None
        return max(self.unseen if known is None else known, self.minimum)

    def adjustment(self, value: str | None) -> float:
        """Bits to add to an agreement level: rarer than average agreement is stronger evidence."""
        return math.log2(self.chance_agreement / self.frequency(value))

    @classmethod
    def from_shares(cls, shares: dict[str, float], *, unseen: float, minimum: float) -> TermFrequencies:
        listed = sum(shares.values())
        chance = sum(share * share for share in shares.values()) + max(0.0, 1 - listed) * unseen
        return cls(frequencies=shares, unseen=unseen, minimum=minimum, chance_agreement=chance)


class Thresholds(_Model):
    """Match weights (bits) at which a pair is linked or sent to a steward."""

    link: float = Field(default=6.0, description="at or above: LINK (probability >= 0.985)")
    review: float = Field(default=2.0, description="at or above, below link: REVIEW (probability >= 0.8)")


class TrainingSummary(_Model):
    records: int
    random_pairs: int
    candidate_pairs: int
    sessions: tuple[str, ...] = Field(
        description="blocking rules whose pairs trained m, with iteration counts"
    )


class ModelParameters(_Model):
    format: Literal["provreg.matching.model"] = FORMAT
    format_version: int = FORMAT_VERSION
    model_version: str
    trained_at: datetime | None = None
    prior_match_probability: float = Field(gt=0, lt=1)
    thresholds: Thresholds = Thresholds()
    comparisons: tuple[ComparisonParameters, ...]
    term_frequencies: dict[str, TermFrequencies] = Field(
        default_factory=dict, description="per comparison name; absent means no adjustment"
    )
    training: TrainingSummary | None = None

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior_match_probability / (1 - self.prior_match_probability))

    def comparison(self, name: str) -> ComparisonParameters:
        for comparison in self.comparisons:
            if comparison.name == name:
                return comparison
        raise KeyError(f"model has no comparison {name!r}")

    def check_fits(self, comparisons: Sequence[Comparison]) -> None:
        """Refuse parameters made for other comparisons: weights would land on the wrong levels."""
        expected = [(c.name, [level.name for level in c.levels]) for c in comparisons]
        actual = [(c.name, [level.name for level in c.levels]) for c in self.comparisons]
        if expected != actual:
            raise ValueError(
                f"model {self.model_version} was made for other comparisons or levels; retrain or update it"
            )

    def fitted_to(self, comparisons: Sequence[Comparison]) -> ModelParameters:
        """These parameters for `comparisons`: a comparison or a level the model was made without
        (added to the engine since it was trained) takes its default m and u; a comparison or a
        level the engine no longer has is refused."""
        defaults = default_parameters(comparisons)
        made = {comparison.name: comparison for comparison in self.comparisons}
        completed = []
        for comparison in comparisons:
            default = defaults.comparison(comparison.name)
            trained = made.get(comparison.name)
            if trained is None:
                completed.append(default)
                continue
            levels = {level.name: level for level in trained.levels}
            completed.append(
                trained.model_copy(update={"levels": tuple(levels.get(d.name, d) for d in default.levels)})
            )
        fitted = self.model_copy(update={"comparisons": tuple(completed)})
        dropped = any(
            {level.name for level in comparison.levels}
            - {level.name for level in fitted.comparison(name).levels}
            for name, comparison in made.items()
            if name in {c.name for c in comparisons}
        )
        if dropped or not made.keys() <= {c.name for c in comparisons}:
            self.check_fits(comparisons)  # raises: made for other comparisons
        return self if fitted.comparisons == self.comparisons else fitted

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ModelParameters:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def default_parameters(comparisons: Sequence[Comparison] = STANDARD_COMPARISONS) -> ModelParameters:
    """The untrained model: domain-estimated m/u, family-name shares, one province-sized prior."""
    return ModelParameters(
        model_version="default-1",
        # About 2 source records per person in a registry of a million people: λ ≈ 1 / 500,000.
        prior_match_probability=2e-6,
        comparisons=tuple(
            ComparisonParameters(
                name=comparison.name,
                levels=tuple(
                    LevelParameters(name=level.name, m=level.m, u=level.u) for level in comparison.levels
                ),
            )
            for comparison in comparisons
        ),
        term_frequencies={
            "family_name": TermFrequencies.from_shares(
                FAMILY_NAME_SHARES, unseen=UNLISTED_FAMILY_NAME_SHARE, minimum=UNLISTED_FAMILY_NAME_SHARE
            )
        },
    )
