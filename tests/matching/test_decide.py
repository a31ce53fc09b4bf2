from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loaders.identifiers import InvalidIdentifier, citizen_id_facts
from matching.decide import Decision, decide, refused_newborn_links
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


DIGIT_SLIPS = st.sampled_from(["swap", "change"])


@given(
    at=st.integers(min_value=6, max_value=10),  # digits 7-12: the ID stays valid and consistent
    slip=DIGIT_SLIPS,
    digit=st.sampled_from("0123456789"),
    same_card=st.booleans(),
    same_phone=st.booleans(),
    link=st.floats(min_value=-100, max_value=20),
)
def test_two_valid_citizen_ids_one_edit_apart_are_never_linked_automatically(
    at: int, slip: str, digit: str, same_card: bool, same_phone: bool, link: float
) -> None:
    cid = HUNG.citizen_id
    assert cid is not None
    if slip == "swap":
        other = cid[:at] + cid[at + 1] + cid[at] + cid[at + 2 :]
    else:
        other = cid[:at] + digit + cid[at + 1 :]
    if other == cid:
        return
    typo = person(
        HUNG,
        citizen_id=other,
        social_insurance_number=HUNG.social_insurance_number if same_card else "2799999999",
        phone=HUNG.phone if same_phone else "0988000111",
    )
    score = SCORER.score(person(HUNG), typo)
    assert score.level("citizen_id") == "one_character_differs"
    assert decide(score, Thresholds(link=link, review=link - 1)).decision is not Decision.LINK


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


PAIRS = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 12)).filter(lambda p: p[0] != p[1]), max_size=12
)


@given(newborn_links=PAIRS, twins=PAIRS, identity=st.lists(st.integers(0, 3), min_size=13, max_size=13))
def test_a_newborn_link_is_taken_only_where_no_twin_is_in_sight(
    newborn_links: list[tuple[int, int]], twins: list[tuple[int, int]], identity: list[int]
) -> None:
    def one_person(a: int, b: int) -> bool:
        return identity[a] == identity[b]

    refused = refused_newborn_links(newborn_links, twins, one_person)
    assert refused <= set(newborn_links)
    with_twin = {record for pair in twins for record in pair}
    taken = [pair for pair in newborn_links if pair not in refused]
    for left, right in taken:
        assert left not in with_twin and right not in with_twin
        for record in (left, right):
            partners = {b for a, b in newborn_links if a == record} | {
                a for a, b in newborn_links if b == record
            }
            assert partners.isdisjoint(with_twin)
            assert len({identity[partner] for partner in partners}) == 1  # one child, not two
    # More twins in sight never lets a link through.
    assert refused <= refused_newborn_links(newborn_links, [*twins, (0, 1)], one_person)


@given(at=st.integers(min_value=0, max_value=3), digit=st.sampled_from("0123456789"))
def test_a_typo_that_leaves_a_citizen_id_invalid_is_not_two_valid_ids(at: int, digit: str) -> None:
    cid = HUNG.citizen_id
    assert cid is not None
    other = cid[:at] + digit + cid[at + 1 :]
    try:
        citizen_id_facts(other)
    except InvalidIdentifier:
        pass
    else:
        return  # still a valid ID (another province, say): the rule for two valid IDs applies
    score = SCORER.score(person(HUNG), person(HUNG, citizen_id=other))
    assert score.level("citizen_id") == "missing"  # not used, so not held against the pair
    assert decide(score, THRESHOLDS).decision is Decision.LINK
