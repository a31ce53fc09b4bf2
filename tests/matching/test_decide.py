from __future__ import annotations

from matching.decide import Decision, decide
from matching.model import Thresholds
from matching.score import Scorer
from tests.matching.records import HUNG, person, without_ids

SCORER = Scorer()
THRESHOLDS = Thresholds()


def test_thresholds_split_link_review_and_new() -> None:
    score = SCORER.score(person(without_ids()), person(without_ids(), phone=None))
    assert decide(score, Thresholds(link=score.weight, review=0)).decision is Decision.LINK
    assert decide(score, Thresholds(link=score.weight + 1, review=score.weight)).decision is Decision.REVIEW
    assert decide(score, Thresholds(link=99, review=score.weight + 1)).decision is Decision.NEW


def test_different_citizen_ids_are_never_linked_however_strong_the_rest() -> None:
    score = SCORER.score(person(HUNG), person(HUNG, citizen_id="027080999999"))
    verdict = decide(score, Thresholds(link=-100, review=-200))
    assert (verdict.by_weight, verdict.decision) == (Decision.LINK, Decision.REVIEW)


def test_a_name_conflict_outweighed_by_household_fields_is_held_back() -> None:
    twin = person(without_ids(), full_name="Nguyễn Văn Hưng")
    verdict = decide(SCORER.score(person(without_ids()), twin), Thresholds(link=-100, review=-200))
    assert verdict.decision is Decision.REVIEW
    assert [rule.name for rule in verdict.held_back_by] == ["given_name_conflict"]


def test_an_agreeing_identifier_lifts_the_conflict_rules() -> None:
    renamed = person(HUNG, full_name="Nguyễn Văn Dũng", citizen_id=None)  # same insurance number
    verdict = decide(SCORER.score(person(HUNG), renamed), Thresholds(link=-100, review=-200))
    assert verdict.decision is Decision.LINK


def test_rules_never_raise_a_decision() -> None:
    score = SCORER.score(
        person(HUNG), person(HUNG, citizen_id="027080999999", full_name="Trần Thị Mai", sex=2)
    )
    assert decide(score, THRESHOLDS).decision is Decision.NEW
