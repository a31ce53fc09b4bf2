from __future__ import annotations

from itertools import pairwise

import pytest

from matching.decide import decide
from matching.explain import render, waterfall
from matching.score import Scorer
from tests.matching.records import HUNG, person

SCORER = Scorer()


def test_the_waterfall_starts_at_the_prior_and_ends_at_the_total() -> None:
    score = SCORER.score(person(HUNG), person(HUNG, full_name="Nguyen Van Hung"))
    steps = waterfall(score)
    assert steps[0].field == "prior"
    assert steps[-1].cumulative == pytest.approx(score.weight)
    assert [after.cumulative for _, after in pairwise(steps)] == pytest.approx(
        [before.cumulative + after.weight for before, after in pairwise(steps)]
    )


def test_render_names_every_field_and_why_a_link_was_held_back() -> None:
    score = SCORER.score(person(HUNG), person(HUNG, citizen_id="027080001243"))
    text = render(score, decide(score, SCORER.parameters.thresholds))
    assert "decision REVIEW (by weight LINK)" in text
    assert "never linked automatically" in text
    assert "citizen_id        one_character_differs" in text
    assert "027080001234 | 027080001243" in text
