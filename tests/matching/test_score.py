from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.blocking import candidate_pairs
from matching.model import TermFrequencies, default_parameters
from matching.person import prepare
from matching.score import Scorer, probability, score_pair
from tests.matching.pairs import CHANGES, WITH_GIVEN_NAMES, compared_afresh
from tests.matching.population import people, records
from tests.matching.records import HUNG, person, without_ids

SCORER = Scorer()


def test_the_breakdown_adds_up_to_the_total() -> None:
    score = SCORER.score(person(HUNG), person(HUNG, full_name="Hung Nguyen", birth_day=None, phone=None))
    assert score.prior_weight + sum(field.weight for field in score.fields) == pytest.approx(score.weight)
    assert [field.comparison for field in score.fields] == [c.name for c in SCORER.comparisons]


def test_the_breakdown_shows_the_values_compared() -> None:
    score = SCORER.score(person(HUNG), person(HUNG, full_name="Hùng Nguyễn Văn", birth_month=12, birth_day=5))
    fields = {field.comparison: field for field in score.fields}
    assert (fields["family_name"].level, fields["family_name"].left, fields["family_name"].right) == (
        "reordered",
        "Nguyễn",
        "Nguyễn",
    )
    assert (fields["birth_date"].left, fields["birth_date"].right) == ("1980-05-12", "1980-12-05")
    assert score.level("birth_date") == "day_month_swapped"
    assert score.level("no such comparison") is None


def test_agreeing_on_a_common_family_name_counts_less_than_on_a_rare_one() -> None:
    common = SCORER.score(person(HUNG), person(HUNG))
    rare = SCORER.score(person(HUNG, full_name="Khiếu Văn Hùng"), person(HUNG, full_name="Khiếu Văn Hùng"))
    common_family = next(f for f in common.fields if f.comparison == "family_name")
    rare_family = next(f for f in rare.fields if f.comparison == "family_name")
    assert common_family.term_frequency_adjustment < 0 < rare_family.term_frequency_adjustment
    assert rare.weight - common.weight == pytest.approx(rare_family.weight - common_family.weight)


def test_given_name_frequencies_apply_once_trained() -> None:
    parameters = default_parameters().model_copy(
        update={
            "term_frequencies": {
                "given_name": TermFrequencies(
                    frequencies={"hung": 0.05, "khiem": 0.001},
                    unseen=1e-4,
                    minimum=1e-4,
                    chance_agreement=0.01,
                )
            }
        }
    )
    scorer = Scorer(parameters)
    hung = scorer.score(person(without_ids()), person(without_ids()))
    khiem = scorer.score(
        person(without_ids(), full_name="Nguyễn Văn Khiêm"),
        person(without_ids(), full_name="Nguyễn Văn Khiêm"),
    )
    assert khiem.weight > hung.weight


def test_probability_is_the_logistic_of_the_weight_in_bits() -> None:
    assert probability(0) == 0.5
    assert probability(1) == pytest.approx(2 / 3)
    assert probability(5000) == 1.0
    assert probability(-5000) < 1e-300


def test_score_pair_is_the_scorer() -> None:
    assert (
        score_pair(person(HUNG), person(HUNG), SCORER).weight
        == SCORER.score(person(HUNG), person(HUNG)).weight
    )


def test_scores_do_not_depend_on_which_record_comes_first() -> None:
    made, _ = records(people(households=60, seed=3))
    prepared = {record.record_id: prepare(record) for record in made}
    for left, right in candidate_pairs(list(prepared.values())):
        forward = SCORER.score(prepared[left], prepared[right])
        backward = SCORER.score(prepared[right], prepared[left])
        assert forward.weight == pytest.approx(backward.weight), (forward.fields, backward.fields)


@given(left=CHANGES, right=CHANGES, scorer=st.sampled_from([SCORER, WITH_GIVEN_NAMES]))
def test_the_breakdown_read_from_the_levels_is_every_field_compared_again(
    left: dict[str, object], right: dict[str, object], scorer: Scorer
) -> None:
    one, other = person(**left, record_id=1), person(**right, record_id=2)
    score = scorer.score(one, other)
    assert score.fields == compared_afresh(scorer, one, other)
    assert score.prior_weight + sum(field.weight for field in score.fields) == pytest.approx(score.weight)


def test_the_breakdown_is_every_field_compared_again_on_a_population() -> None:
    made, _ = records(people(households=60, seed=5))
    prepared = {record.record_id: prepare(record) for record in made}
    pairs = candidate_pairs(list(prepared.values()))
    assert len(pairs) > 100
    for left, right in pairs:
        score = WITH_GIVEN_NAMES.score(prepared[left], prepared[right])
        assert score.fields == compared_afresh(WITH_GIVEN_NAMES, prepared[left], prepared[right])
