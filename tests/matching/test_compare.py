"""Each comparison's levels, one field varied at a time from one well-documented record."""

from __future__ import annotations

from datetime import date

import pytest

from matching.compare import (
    ADDRESS,
    BIRTH_DATE,
    CITIZEN_ID,
    FAMILY_NAME,
    GIVEN_NAME,
    MIDDLE_NAME,
    PHONE,
    SEX,
    SOCIAL_INSURANCE,
    STANDARD_COMPARISONS,
)
from matching.comparison import Comparison, Level, PersonPair, always
from tests.matching.records import HUNG, person


def level(comparison: Comparison, **changes: object) -> str:
    index, _, _ = comparison.compare(PersonPair(person(HUNG), person(HUNG, **changes)))
    return comparison.levels[index].name


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "same"),
        ({"citizen_id": None}, "missing"),
        ({"citizen_id": "12345"}, "missing"),  # invalid: not a citizen ID at all
        ({"citizen_id": "027080001243"}, "one_character_differs"),  # adjacent digits swapped
        ({"citizen_id": "027080001235"}, "one_character_differs"),
        ({"citizen_id": "027080771234"}, "different"),
        ({"birth_year": 1981}, "same"),  # a year off is a birth-date typo, not another person
        ({"birth_year": 2008}, "same_other_generation"),  # a child under a parent's card
        ({"birth_year": None}, "same"),
    ],
)
def test_citizen_id_levels(changes: dict[str, object], expected: str) -> None:
    assert level(CITIZEN_ID, **changes) == expected


def test_social_insurance_compares_the_lifelong_digits_of_a_whole_card() -> None:
    assert level(SOCIAL_INSURANCE, social_insurance_number="HT3272712345678") == "same"
    assert level(SOCIAL_INSURANCE, social_insurance_number="2712345679") == "one_character_differs"


@pytest.mark.parametrize(
    ("name", "family", "middle", "given"),
    [
        ("Nguyễn Văn Hùng", "exact", "same", "exact"),
        ("NGUYEN VAN HUNG", "same_letters", "same", "same_letters"),
        ("Nguyễn Văn Hưng", "exact", "same", "one_letter_apart"),
        ("Nguyễn Đức Hùng", "exact", "different", "exact"),
        ("Nguyễn Hùng", "exact", "dropped", "exact"),
        ("Nguyễn Văn Minh Hùng", "exact", "dropped", "exact"),
        ("Hùng Nguyễn Văn", "reordered", "same", "exact"),
        ("Ngyễn Văn Hùng", "typo", "same", "exact"),
        ("Nguyễn Văn Hung", "exact", "same", "one_letter_apart"),  # marked elsewhere: a missing mark is meant
        ("Trần Văn Hùng", "different", "same", "exact"),
        ("Nguyễn Văn Trung", "exact", "same", "different"),
    ],
)
def test_name_levels(name: str, family: str, middle: str, given: str) -> None:
    assert (
        level(FAMILY_NAME, full_name=name),
        level(MIDDLE_NAME, full_name=name),
        level(GIVEN_NAME, full_name=name),
    ) == (
        family,
        middle,
        given,
    )


@pytest.mark.parametrize(
    ("left", "right", "comparison", "expected"),
    [
        ("Huỳnh Văn Lý", "Hoàng Văn Lí", FAMILY_NAME, "regional_variant"),
        ("Huỳnh Văn Lý", "Hoàng Văn Lí", GIVEN_NAME, "variant"),
        ("Lương Văn Sinh", "Nương Văn Xinh", FAMILY_NAME, "northern_spelling"),
        ("Lương Văn Sinh", "Nương Văn Xinh", GIVEN_NAME, "northern_spelling"),
        ("Lan", "Nguyễn Thị Lan", FAMILY_NAME, "missing"),
        ("Lan", "Nguyễn Thị Lan", GIVEN_NAME, "same_letters"),  # "Lan" alone shows no marks
        ("", "Nguyễn Thị Lan", MIDDLE_NAME, "missing"),
    ],
)
def test_name_levels_between_two_names(left: str, right: str, comparison: Comparison, expected: str) -> None:
    index, _, _ = comparison.compare(PersonPair(person(full_name=left), person(full_name=right)))
    assert comparison.levels[index].name == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "exact"),
        ({"birth_year": None, "birth_month": None, "birth_day": None}, "missing"),
        ({"birth_month": None, "birth_day": None}, "year_only_agrees"),
        ({"birth_day": None}, "year_only_agrees"),  # year and month known
        ({"birth_month": 12, "birth_day": 5}, "day_month_swapped"),
        ({"birth_day": 13}, "one_off"),
        ({"birth_day": 17}, "one_off"),  # one digit mistyped
        ({"birth_year": 1981}, "one_off"),
        ({"birth_year": 1979, "birth_month": None, "birth_day": None}, "year_off_by_one"),
        ({"birth_year": 1990}, "one_off"),  # a decade slip is one digit
        ({"birth_year": 1985, "birth_month": None, "birth_day": None}, "different"),
        ({"birth_month": 7, "birth_day": 30}, "different"),
    ],
)
def test_birth_date_levels(changes: dict[str, object], expected: str) -> None:
    assert level(BIRTH_DATE, **changes) == expected


def test_sex_levels() -> None:
    assert [level(SEX, sex=sex) for sex in (1, 2, 3, None)] == ["same", "different", "missing", "missing"]


@pytest.mark.parametrize(
    ("phone", "expected"),
    [("0912 345 678", "same"), ("+84912345678", "same"), ("0912345687", "one_digit_differs"),
     ("0987654321", "different"), (None, "missing")],
)  # fmt: skip
def test_phone_levels(phone: str | None, expected: str) -> None:
    assert level(PHONE, phone=phone) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "same_commune"),
        ({"commune_code": None}, "same_commune"),  # both texts name Lạc Vệ
        ({"commune_code": "09259", "address_text": "xã Phật Tích"}, "different_commune"),
        ({"commune_code": None, "address_text": None}, "missing"),
        # After July 2025 Lạc Vệ belongs to a merged commune with another code: no evidence either way.
        (
            {
                "commune_code": "09253",
                "district_code": None,
                "address_text": "xã Tiên Du",
                "recorded_at": date(2025, 9, 1),
            },
            "not_comparable",
        ),
        # ... but the code it became (the province's crosswalk: 09256 went into 09169) agrees.
        (
            {
                "commune_code": "09169",
                "district_code": None,
                "address_text": "phường Vũ Ninh",
                "recorded_at": date(2025, 9, 1),
            },
            "same_commune",
        ),
    ],
)
def test_address_levels(changes: dict[str, object], expected: str) -> None:
    assert level(ADDRESS, **changes) == expected


def test_every_comparison_ends_with_a_catch_all_and_names_its_levels_once() -> None:
    for comparison in STANDARD_COMPARISONS:
        assert comparison.levels[-1].applies is always
        assert len({lvl.name for lvl in comparison.levels}) == len(comparison.levels)


def test_a_comparison_without_a_catch_all_is_refused() -> None:
    with pytest.raises(ValueError, match="always applies"):
        Comparison("x", "", lambda pair: (1, 2), (Level("same", "", lambda a, b: a == b, 0.9, 0.1),))
