"""End to end with the built-in model: hard negatives must never link, noisy positives should."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loaders.records import Sex
from matching import Caveat, Decision, PreparedPerson, Scorer, decide
from synth.names import FAMILY_NAMES, GIVEN_NAMES
from tests.matching.records import HUNG, person, without_ids

SCORER = Scorer()
THRESHOLDS = SCORER.parameters.thresholds
CHILD_OF_HUNG = dict(birth_year=2008, birth_month=9, birth_day=1)


def decision(left: PreparedPerson, right: PreparedPerson) -> Decision:
    return decide(SCORER.score(left, right), THRESHOLDS).decision


# Hard negatives ------------------------------------------------------------------------------------


@pytest.mark.parametrize("twin", ["Nguyễn Văn Hưng", "Nguyễn Văn Dũng", "Nguyen Van Dung"])
def test_twins_sharing_birth_date_and_household_are_not_linked(twin: str) -> None:
    child = replace(without_ids(), **CHILD_OF_HUNG)
    assert decision(person(child), person(child, full_name=twin)) is not Decision.LINK


def test_twins_with_their_own_citizen_ids_are_new() -> None:
    hung = person(HUNG)
    hung_twin = person(
        HUNG, full_name="Nguyễn Văn Hưng", citizen_id="027080009876", social_insurance_number=None
    )
    assert decision(hung, hung_twin) is Decision.NEW


def test_parent_and_namesake_child_in_one_household_are_new() -> None:
    parent = person(without_ids())
    child = person(without_ids(), **CHILD_OF_HUNG)
    assert decision(parent, child) is Decision.NEW


def test_child_carrying_a_parents_citizen_id_does_not_score_as_a_match() -> None:
    parent = person(HUNG)
    daughter = person(HUNG, full_name="Nguyễn Thị Mai", sex=2, social_insurance_number=None, **CHILD_OF_HUNG)
    score = SCORER.score(parent, daughter)
    assert score.level("citizen_id") == "same_other_generation"
    assert score.weight < THRESHOLDS.review
    assert decide(score, THRESHOLDS).decision is Decision.NEW


MOTHER = replace(
    HUNG, full_name="Trần Thị Mai", sex=2, birth_year=1995, birth_month=2, birth_day=3,
    citizen_id="027195001234", social_insurance_number="2798765432",
)  # fmt: skip
BABY_BORN = dict(sex=1, birth_year=2024, birth_month=3, birth_day=1, recorded_at=date(2024, 3, 1))


def test_newborn_recorded_under_the_mothers_name_is_not_the_mother() -> None:
    mother = replace(without_ids(MOTHER))
    newborn = replace(mother, **BABY_BORN)
    assert decision(person(mother), person(newborn)) is Decision.NEW


@pytest.mark.parametrize(
    "written", ["Con bà Trần Thị Mai", "CON CUA TRAN THI MAI", "CB Trần Thị Mai", "Con sản phụ Trần Thị Mai"]
)
@pytest.mark.parametrize("card", [None, "2798765432"])  # none yet, or the mother's
def test_a_newborn_under_the_mothers_name_is_never_linked_to_the_mother(
    written: str, card: str | None
) -> None:
    newborn = person(MOTHER, full_name=written, citizen_id=None, social_insurance_number=card, **BABY_BORN)
    score = SCORER.score(person(MOTHER), newborn)
    assert score.level("newborn") == "names_the_mother"
    assert decide(score, THRESHOLDS).decision is Decision.NEW


def test_a_newborn_and_the_childs_later_record_link_only_where_no_twin_is_in_sight() -> None:
    newborn = person(without_ids(MOTHER), full_name="Con bà Trần Thị Mai", **BABY_BORN)
    child = person(
        without_ids(MOTHER), full_name="Nguyễn Văn An", **{**BABY_BORN, "recorded_at": date(2024, 9, 1)}
    )
    score = SCORER.score(newborn, child)
    assert score.level("newborn") == "newborn_and_own_name"
    assert {score.level(name) for name in ("family_name", "middle_name", "given_name")} == {"missing"}
    verdict = decide(score, THRESHOLDS)
    assert verdict.decision is Decision.LINK  # birth date, sex, phone and commune agree
    assert verdict.caveat is Caveat.NEWBORN_LINK  # but a twin would agree as much: the set decides


@pytest.mark.parametrize(
    "differs",
    [
        dict(sex=2),  # a twin sister
        dict(birth_day=2),  # another day: not the maternity ward's baby
        dict(phone="0912000999", commune_code="07210", address_text="Phường Thọ Xương, TP Bắc Giang"),
        dict(social_insurance_number="2711112222"),  # the child's own card, the newborn's another's
    ],
)
def test_a_newborn_and_a_child_differing_in_sex_birth_date_household_or_card_are_not_linked(
    differs: dict[str, object],
) -> None:
    newborn = person(
        without_ids(MOTHER),
        full_name="Con bà Trần Thị Mai",
        social_insurance_number="2799990000",
        **BABY_BORN,
    )
    if "social_insurance_number" not in differs:
        newborn = person(without_ids(MOTHER), full_name="Con bà Trần Thị Mai", **BABY_BORN)
    child = person(without_ids(MOTHER), full_name="Nguyễn Văn An", **{**BABY_BORN, **differs})
    verdict = decide(SCORER.score(newborn, child), THRESHOLDS)
    assert verdict.decision is not Decision.LINK


def test_twins_under_their_own_names_carry_the_twins_caveat() -> None:
    born = {**BABY_BORN, "recorded_at": date(2024, 9, 1)}
    one = person(without_ids(MOTHER), full_name="Nguyễn Văn An", **born)
    other = person(without_ids(MOTHER), full_name="Nguyễn Văn Bình", **born)
    verdict = decide(SCORER.score(one, other), THRESHOLDS)
    # Named two letters or more apart: not a steward's question, but still a twin in sight.
    assert (verdict.decision, verdict.caveat) == (Decision.NEW, Caveat.TWINS)


def test_a_newborn_and_the_childs_later_record_link_through_the_childs_own_card() -> None:
    baby = replace(without_ids(MOTHER), social_insurance_number="2711112222", **BABY_BORN)
    newborn = person(baby, full_name="CON CUA TRAN THI MAI")
    child = person(baby, full_name="Nguyễn Văn An", recorded_at=date(2024, 9, 1))
    assert decision(newborn, child) is Decision.LINK


def test_a_newborn_and_its_record_under_the_mothers_name_alone_are_the_baby_not_the_mother() -> None:
    baby = replace(without_ids(MOTHER), **BABY_BORN)
    score = SCORER.score(
        person(baby, full_name="CON CUA TRAN THI MAI"), person(baby, full_name="Trần Thị Mai")
    )
    assert score.level("newborn") == "mother_name_alone"
    assert decide(score, THRESHOLDS).decision is Decision.REVIEW  # a twin too would agree


LATER = date(2024, 9, 1)


def test_a_baby_under_its_mothers_name_alone_and_its_own_name_go_to_review() -> None:
    bare = person(without_ids(MOTHER), **BABY_BORN)  # "Trần Thị Mai", born the day of the visit
    own = person(without_ids(MOTHER), full_name="Nguyễn Văn An", **{**BABY_BORN, "recorded_at": LATER})
    for score in (SCORER.score(bare, own), SCORER.score(own, bare)):
        assert score.level("newborn") == "under_mother_name_alone"
        assert {score.level(name) for name in ("family_name", "middle_name", "given_name")} == {"missing"}
        verdict = decide(score, THRESHOLDS)
        assert verdict.by_weight is Decision.LINK  # read as one baby: birth date, sex, phone, commune
        assert verdict.decision is Decision.REVIEW  # but its twin would agree as much
        assert [rule.name for rule in verdict.held_back_by] == ["under_mother_name_alone"]
        assert verdict.caveat is Caveat.TWINS  # a newborn's record fitting either is not linked


def test_a_baby_under_its_mothers_name_alone_links_through_its_own_card() -> None:
    baby = replace(without_ids(MOTHER), social_insurance_number="2711112222", **BABY_BORN)
    own = person(baby, full_name="Nguyễn Văn An", recorded_at=LATER)
    score = SCORER.score(person(baby), own)
    assert score.level("newborn") == "under_mother_name_alone"
    assert decision(person(baby), own) is Decision.LINK


@pytest.mark.parametrize(
    "differs",
    [
        dict(sex=2),  # a twin sister
        dict(birth_day=2),
        dict(phone="0912000999"),  # another household's phone (the commune alone is many families)
        dict(phone=None),
        # The same phone in another commune: a desk's own number typed for two families' babies.
        dict(commune_code="07210", district_code="213", address_text="Phường Thọ Xương, TP Bắc Giang"),
        dict(recorded_at=date(2028, 3, 1)),  # a child of four: not a baby under its mother's name
        dict(full_name="Trần Văn An"),  # the mother's family name: reads as a twin's own name
        dict(full_name="Nguyễn Văn Mai"),  # the mother's given name: not two names outright
        dict(social_insurance_number="2711112222"),  # the child's own card, the other record another's
    ],
)
def test_a_baby_under_its_mothers_name_alone_and_a_child_differing_in_one_thing_are_not_linked(
    differs: dict[str, object],
) -> None:
    bare = person(without_ids(MOTHER), **BABY_BORN, social_insurance_number="2799990000")
    if "social_insurance_number" not in differs:
        bare = person(without_ids(MOTHER), **BABY_BORN)
    own = dict(full_name="Nguyễn Văn An", **{**BABY_BORN, "recorded_at": LATER})
    score = SCORER.score(bare, person(without_ids(MOTHER), **{**own, **differs}))
    assert decide(score, THRESHOLDS).decision is not Decision.LINK


def test_a_mothers_own_record_and_her_baby_under_her_name_alone_are_not_linked() -> None:
    mother = person(MOTHER, recorded_at=BABY_BORN["recorded_at"])
    for bare in (person(without_ids(MOTHER), **BABY_BORN), person(MOTHER, citizen_id=None, **BABY_BORN)):
        score = SCORER.score(mother, bare)
        assert score.level("newborn") == "not_newborn"
        assert decide(score, THRESHOLDS).decision is not Decision.LINK


FAMILIES = st.sampled_from(FAMILY_NAMES.values)


@given(
    family=FAMILIES,
    mother=st.tuples(FAMILIES, st.sampled_from(GIVEN_NAMES[Sex.FEMALE].values)),
    twins=st.tuples(
        st.sampled_from(GIVEN_NAMES[Sex.MALE].values), st.sampled_from(GIVEN_NAMES[Sex.FEMALE].values)
    ),
    sexes=st.tuples(st.sampled_from([1, 2]), st.sampled_from([1, 2])),
    bare=st.sampled_from([None, 0, 1]),  # which twin's record, if any, is under the mother's name alone
    days_apart=st.integers(0, 2),
)
def test_twins_never_link_through_a_record_under_their_mothers_name_alone(
    family: str,
    mother: tuple[str, str],
    twins: tuple[str, str],
    sexes: tuple[int, int],
    bare: int | None,
    days_apart: int,
) -> None:
    """Two children of one household under their own names (one father's family name, however the
    names are read), or one of them under its mother's name alone: only the latter, born the same
    day and of the same sex, reads as a baby under its mother's name, and never links so without
    an identifier."""
    mother_name = f"{mother[0]} Thị {mother[1]}"
    names = [f"{family} Văn {twins[0]}", f"{family} Thị {twins[1]}"]
    if bare is not None:
        names[bare] = mother_name
    records = [
        person(
            without_ids(MOTHER),
            record_id=10 + index,
            full_name=name,
            **{**BABY_BORN, "sex": sex, "birth_day": 1 + index * days_apart},
        )
        for index, (name, sex) in enumerate(zip(names, sexes, strict=True))
    ]
    for left, right in (records, records[::-1]):
        score = SCORER.score(left, right)
        verdict = decide(score, THRESHOLDS)
        if score.level("newborn") == "under_mother_name_alone":
            assert bare is not None and days_apart == 0 and sexes[0] == sexes[1]
            assert verdict.decision is not Decision.LINK


def test_twins_recorded_under_their_mothers_name_are_not_linked() -> None:
    twin = replace(without_ids(MOTHER), full_name="Con bà Trần Thị Mai", **BABY_BORN)
    assert decision(person(twin), person(twin, full_name="Con của bà Trần Thị Mai")) is Decision.REVIEW


@pytest.mark.parametrize(
    "other_birth", [dict(birth_month=11, birth_day=30), dict(birth_month=None, birth_day=None)]
)
def test_common_full_name_and_birth_year_alone_do_not_link(other_birth: dict[str, int | None]) -> None:
    lan = replace(without_ids(), full_name="Nguyễn Thị Lan", sex=2, phone=None)
    elsewhere = dict(commune_code="07210", district_code="213", address_text="Phường Thọ Xương, TP Bắc Giang")
    assert decision(person(lan), person(lan, **elsewhere, **other_birth)) is Decision.NEW


@pytest.mark.parametrize(
    "relative",
    [
        dict(full_name="Trần Thị Hoa", sex=2, birth_year=1982, birth_month=1, birth_day=20),  # wife
        dict(full_name="Nguyễn Văn Minh", birth_year=2010, birth_month=7, birth_day=7),  # son
        dict(full_name="Nguyễn Thị Hương", sex=2, birth_year=2012, birth_month=5, birth_day=12),  # daughter
    ],
)
def test_household_members_sharing_address_and_phone_are_new(relative: dict[str, object]) -> None:
    assert decision(person(without_ids()), person(without_ids(), **relative)) is Decision.NEW


# Noisy positives (no identifiers: the other fields must carry the link) ---------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        dict(full_name="Nguyen Van Hung"),  # typed without diacritics
        dict(full_name="NGUYỄN VĂN HÙNG"),
        dict(full_name=unicodedata.normalize("NFD", "Nguyễn Văn Hùng")),
        dict(full_name="Ngyễn Văn Hùng"),  # typo
        dict(full_name="Nguyen Văn Hùng"),  # one word typed without its marks
        dict(full_name="Nguyeenx Văn Hungf"),  # Telex keys left in, the input method off
        dict(full_name="Nguyễn Vn Hùng"),  # a slip in the middle name
        dict(full_name="Nguyễn Vaư Hùng"),
        dict(full_name="Nguyễn Hùng"),  # middle name dropped
        dict(full_name="Hùng Nguyễn Văn"),  # given name first
        dict(full_name="Nguyễn  văn   Hùng."),
        dict(birth_month=12, birth_day=5),  # day and month swapped
        dict(birth_month=None, birth_day=None),  # year-only birth
        dict(
            commune_code="09253", district_code=None, address_text="xã Tiên Du", recorded_at=date(2025, 9, 1)
        ),
    ],
)
def test_noisy_copies_of_one_person_link(changes: dict[str, object]) -> None:
    assert decision(person(without_ids()), person(without_ids(), **changes)) is Decision.LINK


def test_a_family_name_always_written_with_marks_typed_without_them_links() -> None:
    tran = replace(without_ids(), full_name="Trần Văn Hùng")
    assert decision(person(tran), person(tran, full_name="Tran Văn Hùng")) is Decision.LINK
    mai = replace(without_ids(), full_name="Mai Văn Hùng")  # Mai is written without marks
    assert decision(person(mai), person(mai, full_name="Mải Văn Hùng")) is not Decision.LINK


def test_a_given_name_typed_without_marks_that_can_be_so_is_not_taken_for_the_marked_one() -> None:
    assert (
        decision(person(without_ids()), person(without_ids(), full_name="Nguyễn Văn Hung"))
        is not Decision.LINK
    )


def test_a_birth_date_one_day_off_without_identifiers_goes_to_review() -> None:
    assert decision(person(without_ids()), person(without_ids(), birth_day=13)) is Decision.REVIEW


def test_regional_spelling_of_the_family_name_links() -> None:
    huynh = replace(without_ids(), full_name="Huỳnh Văn Hùng")
    assert decision(person(huynh), person(huynh, full_name="Hoàng Văn Hùng")) is Decision.LINK


def test_same_insurance_number_under_a_changed_card_prefix_links_despite_other_noise() -> None:
    worker = person(HUNG, citizen_id=None, social_insurance_number="DN4272712345678")
    retired = person(
        HUNG, citizen_id=None, social_insurance_number="HT3242712345678", full_name="Nguyen Hung", phone=None
    )
    assert decision(worker, retired) is Decision.LINK


def test_one_digit_citizen_id_typo_scores_as_a_match_but_goes_to_review() -> None:
    score = SCORER.score(person(HUNG), person(HUNG, citizen_id="027080001243"))
    verdict = decide(score, THRESHOLDS)
    assert score.level("citizen_id") == "one_character_differs"
    assert verdict.by_weight is Decision.LINK
    assert verdict.decision is Decision.REVIEW
    assert [rule.name for rule in verdict.held_back_by] == ["different_citizen_ids"]
