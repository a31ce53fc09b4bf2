from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.decide import decide
from matching.explain import FIELD_WORDS, NEARLY, in_words, render, waterfall
from matching.score import Scorer
from tests.matching.records import HUNG, person, without_ids

SCORER = Scorer()


def test_the_waterfall_starts_at_the_prior_and_ends_at_the_total() -> None:
    score = SCORER.score(person(HUNG), person(HUNG, full_name="Nguyen Van Hung"))
    steps = waterfall(score)
    assert steps[0]["field"] == "prior"
    assert steps[-1]["cumulative"] == pytest.approx(score.weight)
    assert [after["cumulative"] for _, after in pairwise(steps)] == pytest.approx(
        [before["cumulative"] + after["weight"] for before, after in pairwise(steps)]
    )


def test_render_names_every_field_and_why_a_link_was_held_back() -> None:
    score = SCORER.score(person(HUNG), person(HUNG, citizen_id="027080001243"))
    text = render(score, decide(score, SCORER.parameters.thresholds))
    assert "decision REVIEW (by weight LINK)" in text
    assert "never linked automatically" in text
    assert "citizen_id        one_character_differs" in text
    assert "027080001234 | 027080001243" in text


def test_in_words_says_what_nearly_agrees_what_agrees_and_what_differs() -> None:
    typo = SCORER.score(person(HUNG), person(HUNG, citizen_id="027080001243", phone="0988000111"))
    assert in_words(waterfall(typo)) == (
        "citizen ID one character apart; same name, insurance number, birth date, sex, commune; differ: phone"
    )
    newborn = SCORER.score(
        person(without_ids(), full_name="Con bà Trần Thị Mai", birth_year=2024),
        person(without_ids(), full_name="Lê Văn An", birth_year=2024),
    )
    assert in_words(waterfall(newborn)) == (
        "a newborn under its mother's name and a record under an own name; same birth date, sex, phone, commune"
    )


LEVELS = st.sampled_from(
    ["exact", "same", "different", "typo", "one_off", "missing", "one_character_differs"]
)


NOT_NAMES = sorted(set(FIELD_WORDS) - {"family_name", "middle_name", "given_name"})  # names said as one


@given(st.lists(st.tuples(st.sampled_from(NOT_NAMES), LEVELS, st.floats(-10, 10)), unique_by=lambda s: s[0]))
def test_in_words_names_every_field_that_weighs_against_after_differ(
    steps: list[tuple[str, str, float]],
) -> None:
    line = in_words({"field": field, "level": level, "weight": weight} for field, level, weight in steps)
    against = [FIELD_WORDS[f] for f, level, weight in steps if weight < 0 and level not in NEARLY]
    if against:
        assert line.split("differ: ")[1].split(", ") == against
    else:
        assert "differ" not in line
