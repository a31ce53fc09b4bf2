from __future__ import annotations

from itertools import accumulate

import orjson
from hypothesis import given
from hypothesis import strategies as st

from matching.score import Scorer
from registry.identity.explanations import explanation
from tests.matching.pairs import CHANGES, WITH_GIVEN_NAMES, compared_afresh
from tests.matching.records import person

STEP_KEYS = ["field", "level", "weight", "cumulative", "left", "right", "note"]


@given(left=CHANGES, right=CHANGES, scorer=st.sampled_from([Scorer(), WITH_GIVEN_NAMES]))
def test_an_explanation_stores_every_field_as_compared_again(
    left: dict[str, object], right: dict[str, object], scorer: Scorer
) -> None:
    """The text a link or review item stores: its keys in this order, and each step's level,
    values, weight and running total as the fields compared afresh give them."""
    one, other = person(**left, record_id=11), person(**right, record_id=12)
    score = scorer.score(one, other)
    text = explanation(score, "v9")
    stored = orjson.loads(text)
    assert orjson.dumps(stored).decode() == text  # nothing but JSON's own rendering
    assert list(stored) == [
        "model_version", "left_source_patient_id", "right_source_patient_id", "weight", "probability", "steps"
    ]  # fmt: skip
    assert (stored["model_version"], stored["left_source_patient_id"], stored["right_source_patient_id"]) == (
        "v9", 11, 12
    )  # fmt: skip
    assert (stored["weight"], stored["probability"]) == (round(score.weight, 3), score.probability)
    prior, *steps = stored["steps"]
    assert all(list(step) == STEP_KEYS for step in stored["steps"])
    prior_weight = scorer.parameters.prior_weight
    assert prior == dict(
        zip(
            STEP_KEYS, ["prior", "", prior_weight, prior_weight, "", "", "two records at random"], strict=True
        )
    )
    fields = compared_afresh(scorer, one, other)
    assert [(s["field"], s["level"], s["weight"], s["left"], s["right"]) for s in steps] == [
        (f.comparison, f.level, f.weight, f.left, f.right) for f in fields
    ]
    running = list(accumulate((f.weight for f in fields), initial=prior_weight))[1:]
    assert [s["cumulative"] for s in steps] == running
    assert [s["note"] for s in steps] == [
        f"term frequency {f.term_frequency_adjustment:+.1f}" if f.term_frequency_adjustment else ""
        for f in fields
    ]
