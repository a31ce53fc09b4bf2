"""Training on a synthetic province, then linking it end to end: blocking, scoring, deciding, clustering."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from matching import (
    Decision,
    ModelParameters,
    PersonRecord,
    Scorer,
    candidate_pairs,
    cluster,
    decide,
    default_parameters,
    prepare,
    train,
)
from matching.cluster import Link
from tests.matching.population import Person, people, records

Pairs = set[tuple[int, int]]


@pytest.fixture(scope="module")
def province() -> tuple[list[Person], list[PersonRecord], dict[int, int]]:
    population = people(households=400)
    made, truth = records(population)
    return population, made, truth


@pytest.fixture(scope="module")
def trained(province: tuple[list[Person], list[PersonRecord], dict[int, int]]) -> ModelParameters:
    return train(province[1], random_pairs=100_000)


def linked_pairs(made: list[PersonRecord], parameters: ModelParameters) -> Pairs:
    scorer = Scorer(parameters)
    prepared = {record.record_id: prepare(record) for record in made}
    links = []
    for left, right in candidate_pairs(list(prepared.values())):
        score = scorer.score(prepared[left], prepared[right])
        if decide(score, parameters.thresholds).decision is Decision.LINK:
            links.append(Link(left, right, score.weight))
    citizen_ids = {i: p.citizen_id.value if p.citizen_id else None for i, p in prepared.items()}
    return {pair for identity in cluster(citizen_ids, links).identities for pair in combinations(identity, 2)}


def true_pairs(truth: dict[int, int]) -> Pairs:
    return {(a, b) for a, b in combinations(sorted(truth), 2) if truth[a] == truth[b]}


def household_pairs(population: list[Person], truth: dict[int, int]) -> Pairs:
    """Records of two different people of one household: the hard negatives."""
    household = {person.person_id: person.household for person in population}
    return {
        (a, b)
        for a, b in combinations(sorted(truth), 2)
        if truth[a] != truth[b] and household[truth[a]] == household[truth[b]]
    }


def test_training_learns_that_agreement_is_evidence(trained: ModelParameters) -> None:
    for comparison, agree, disagree in [
        ("given_name", "exact", "different"),
        ("family_name", "exact", "different"),
        ("birth_date", "exact", "different"),
        ("citizen_id", "same", "different"),
        ("phone", "same", "different"),
    ]:
        levels = trained.comparison(comparison)
        assert levels.level(agree).weight > 1 > 0 > levels.level(disagree).weight, comparison
    assert trained.comparison("citizen_id").level("same_other_generation").weight <= 0
    assert trained.comparison("phone").level("same").u >= 0.02  # the household floor holds


def test_training_measures_name_frequencies_and_the_prior(trained: ModelParameters) -> None:
    family = trained.term_frequencies["family_name"]
    assert 0.3 < family.frequency("nguyen") < 0.5
    assert "hung" in trained.term_frequencies["given_name"].frequencies
    assert 1e-5 < trained.prior_match_probability < 1e-2
    assert trained.training is not None and trained.training.candidate_pairs > 1000
    assert trained.model_version.startswith("trained-") and trained.trained_at is not None


def test_trained_parameters_round_trip(trained: ModelParameters, tmp_path: Path) -> None:
    trained.save(tmp_path / "model.json")
    assert ModelParameters.load(tmp_path / "model.json") == trained


@pytest.mark.parametrize(("model", "min_recall"), [("default", 0.85), ("trained", 0.95)])
def test_linking_a_province_makes_no_household_merge_and_few_false_links(
    province: tuple[list[Person], list[PersonRecord], dict[int, int]],
    trained: ModelParameters,
    model: str,
    min_recall: float,
) -> None:
    population, made, truth = province
    found = linked_pairs(made, trained if model == "trained" else default_parameters())
    expected = true_pairs(truth)
    assert not found & household_pairs(population, truth)  # twins, namesake sons, spouses, siblings
    assert len(found & expected) / len(found) >= 0.995  # pairwise precision
    assert len(found & expected) / len(expected) >= min_recall


def test_a_sample_of_a_larger_registry_gets_a_smaller_prior(
    province: tuple[list[Person], list[PersonRecord], dict[int, int]], trained: ModelParameters
) -> None:
    made = province[1]
    scaled = train(made, registry_size=10 * len(made), random_pairs=100_000)
    assert scaled.prior_match_probability == pytest.approx(trained.prior_match_probability / 10, rel=0.01)
