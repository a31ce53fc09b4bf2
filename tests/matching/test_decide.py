from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from loaders.identifiers import InvalidIdentifier, citizen_id_facts
from matching.decide import Caveat, Decision, decide, refused_newborn_links
from matching.model import Thresholds
from matching.normalize import fold
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


# Two records under one mother's name: one baby seen at two facilities, or twins born together -------

_BABY = replace(
    without_ids(HUNG),
    full_name="Con bà Trần Thị Mai",
    birth_year=2025,
    birth_month=6,
    birth_day=20,
    recorded_at=date(2025, 6, 20),
)
_FACILITIES = st.sampled_from(["27001", "24001", "27002", "27005"])


@given(
    left=_FACILITIES,
    right=_FACILITIES,
    form=st.sampled_from(["CON CUA TRAN THI MAI", "Con sản phụ Trần Thị Mai", "CB TRAN THI MAI"]),
    sex=st.sampled_from([1, 2]),
    other_sex=st.booleans(),
    other_day=st.booleans(),
    same_phone=st.booleans(),
    at_birth=st.booleans(),
)
def test_two_records_under_one_mothers_name_link_only_across_facilities_and_only_as_one_baby(
    left: str,
    right: str,
    form: str,
    sex: int,
    other_sex: bool,
    other_day: bool,
    same_phone: bool,
    at_birth: bool,
) -> None:
    """Across two facilities, one record made at the birth (the ward's), born the same day, of the
    same sex, in one household, no identifier against them: a link, with the caveat that keeps it
    for a baby with no twin in sight. Without the birth in sight, or at one facility (a maternity
    ward registers each twin of a birth: a twin in sight), never a link."""
    first_visit = date(2025, 6, 20) if at_birth else date(2025, 7, 14)
    a = person(_BABY, record_id=1, facility_code=left, sex=sex, first_visit=first_visit)
    b = person(
        _BABY,
        record_id=2,
        facility_code=right,
        full_name=form,
        sex=3 - sex if other_sex else sex,
        birth_day=21 if other_day else 20,
        phone=_BABY.phone if same_phone else "0988000111",
    )
    score = SCORER.score(a, b)
    verdict = decide(score, Thresholds(link=-100, review=-200))
    if left == right:
        assert score.level("newborn") == "same_mother_one_facility"
        assert verdict.decision is Decision.REVIEW and verdict.caveat is Caveat.TWINS
    elif other_sex or other_day or not at_birth:
        assert verdict.decision is Decision.REVIEW and verdict.caveat is not Caveat.NEWBORN_LINK
        assert score.level("newborn") == ("same_mother_one_at_birth" if at_birth else "same_mother")
    else:
        assert score.level("newborn") == "same_mother_one_at_birth"
        assert verdict.decision is Decision.LINK and verdict.caveat is Caveat.NEWBORN_LINK


def test_a_newborns_record_never_links_to_its_mothers_own() -> None:
    mother = person(without_ids(HUNG), record_id=1, full_name="Trần Thị Mai", sex=2, birth_year=1995)
    baby = person(_BABY, record_id=2, facility_code="24001")
    verdict = decide(SCORER.score(mother, baby), Thresholds(link=-100, review=-200))
    assert verdict.decision is not Decision.LINK


@given(
    name=st.sampled_from(["Con bà Trần Thị Mai", "Trần Thị Mai", "CB TRAN THI MAI"]),
    other_facility=st.booleans(),
    later=st.integers(0, 40),
)
def test_two_patients_of_one_ward_made_on_their_birth_day_are_never_linked_without_an_identifier(
    name: str, other_facility: bool, later: int
) -> None:
    """Twins born together, even under the very same name (the mother's, bare): a ward registers
    each baby of a birth. Made on another day, or at another facility, the rule says nothing."""
    born = date(2025, 6, 20)
    a = person(_BABY, record_id=1, full_name=name, first_visit=born)
    b = person(
        _BABY,
        record_id=2,
        full_name=name,
        facility_code="24001" if other_facility else _BABY.facility_code,
        first_visit=born + timedelta(days=later),
    )
    score = SCORER.score(a, b)
    verdict = decide(score, Thresholds(link=-100, review=-200))
    if other_facility or later:
        assert score.level("newborn") != "born_together"
    else:
        (newborn,) = [field for field in score.fields if field.comparison == "newborn"]
        assert newborn.level == "born_together" and newborn.weight < -6
        assert verdict.decision is Decision.REVIEW and verdict.caveat is Caveat.TWINS


@given(
    other=st.sampled_from(["Hưng", "Hùn", "Hùnh", "Hừng", "Hoà", "Tâm", "Khôi", "Hải", "Dũng"]),
    identifier=st.booleans(),
)
def test_twins_named_two_letters_apart_are_not_a_stewards_question(other: str, identifier: bool) -> None:
    """One birth date, one household, no identifier: given names one letter (or marks) apart may be
    a desk's slip, so a pair weighed to review stays there; two letters or more apart, two children."""
    base = replace(without_ids(HUNG), social_insurance_number="2712345678" if identifier else None)
    score = SCORER.score(person(base), person(base, full_name=f"Nguyễn Văn {other}"))
    verdict = decide(score, Thresholds(link=score.weight + 1, review=score.weight - 1))
    apart = OSA.distance(fold(other).lower(), "hung")
    if identifier:
        assert verdict.decision is Decision.REVIEW
    elif apart >= 2:
        assert score.level("given_name") == "different"
        assert verdict.decision is Decision.NEW and verdict.caveat is Caveat.TWINS
    else:
        assert score.level("given_name") == "one_letter_apart"
        assert verdict.decision is Decision.REVIEW and verdict.caveat is Caveat.TWINS
