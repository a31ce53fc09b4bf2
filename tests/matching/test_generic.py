"""The generic configuration (matching/generic.py): its comparison levels, blocking keys, safety
rules and training, on records of the kind FEBRL holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Decision, Scorer, candidate_pairs, decide, prepare, render, train
from matching.comparison import PersonPair
from matching.generic import (
    BIRTH_DATE,
    FAMILY_NAME,
    GENERIC_BLOCKING,
    GENERIC_COMPARISONS,
    GENERIC_SAFETY_RULES,
    GIVEN_NAME,
    IDENTIFIER,
    POSTCODE,
    STREET,
    GenericPersonRecord,
    cleaned,
    generic_parameters,
    generic_record,
    soundex_code,
    written_date,
)
from matching.person import PersonRecord

FIELDS: dict[str, Any] = {
    "given_name": "Mitchell",
    "family_name": "Green",
    "birth_date": "19560409",
    "identifier": "1804974",
    "house_number": "7",
    "street": "Wallaby Place",
    "locality": "Cleveland",
    "postcode": "2119",
    "region": "SA",
}
SCORER = Scorer(generic_parameters(), GENERIC_COMPARISONS)


def record(record_id: int = 1, **changes: Any) -> GenericPersonRecord:
    return generic_record(record_id, source="TEST", **(FIELDS | changes))


def level(comparison: Any, left: GenericPersonRecord, right: GenericPersonRecord) -> str:
    index, _, _ = comparison.compare(PersonPair(prepare(left), prepare(right)))
    return comparison.levels[index].name


def verdict(left: GenericPersonRecord, right: GenericPersonRecord) -> Decision:
    score = SCORER.score(prepare(left), prepare(right))
    return decide(score, generic_parameters().thresholds, GENERIC_SAFETY_RULES).decision


# Records ----------------------------------------------------------------------------------------


@given(st.text())
def test_cleaning_is_idempotent_lower_case_and_without_marks(text: str) -> None:
    once = cleaned(text)
    assert cleaned(once) == once
    if once is not None:
        assert once == once.casefold() and once == once.strip() and "  " not in once


def test_cleaning_folds_case_marks_and_spacing() -> None:
    assert cleaned("  Zoë   O'BRIEN ") == "zoe o'brien"
    assert cleaned("   ") is None


@given(st.dates(min_value=date(1800, 1, 1), max_value=date(2100, 12, 31)))
def test_a_valid_date_keeps_its_digits_and_day_number(born: date) -> None:
    written = written_date(born.strftime("%Y%m%d"))
    assert written is not None and written.ordinal == born.toordinal()


def test_a_mistyped_date_keeps_its_digits_without_a_day_number() -> None:
    assert written_date("19231164") == ("19231164", None)
    assert written_date("1923116") is None and written_date("1923-11-14") is None


def test_the_record_carries_the_same_facts_for_display() -> None:
    made = record()
    assert isinstance(made, PersonRecord)
    assert made.full_name == "mitchell green"
    assert (made.birth_year, made.birth_month, made.birth_day) == (1956, 4, 9)
    assert made.address_text == "7 wallaby place, cleveland, 2119, sa"
    mistyped = record(birth_date="19561340")
    assert (mistyped.birth_year, mistyped.birth_month, mistyped.birth_day) == (1956, None, None)


# Comparison levels --------------------------------------------------------------------------------


def test_name_levels() -> None:
    assert level(GIVEN_NAME, record(), record()) == "exact"
    assert level(GIVEN_NAME, record(), record(given_name="Mitchel")) == "jaro_winkler_92"
    assert level(GIVEN_NAME, record(), record(given_name="Michael")) == "jaro_winkler_88"
    assert level(GIVEN_NAME, record(), record(given_name="Jasmine")) == "different"
    assert level(GIVEN_NAME, record(), record(given_name=None)) == "missing"


@given(st.sampled_from([None, "", "n"]), st.booleans())
def test_given_and_family_name_swapped_is_its_own_level(slip: str | None, on_given: bool) -> None:
    given, family = "Mitchell", "Green"
    if slip:  # one slip after the swap still reads as the swap
        given, family = ("Mitchel", family) if on_given else (given, "Gren")
    swapped = record(given_name=family, family_name=given)
    assert level(GIVEN_NAME, record(), swapped) == "swapped"
    assert level(FAMILY_NAME, record(), swapped) == "swapped"


def test_a_family_name_written_as_the_given_name_alone_is_not_a_swap() -> None:
    assert level(GIVEN_NAME, record(), record(given_name="Green")) == "different"


DIGITS = st.text("0123456789", min_size=7, max_size=7)


@given(DIGITS, st.integers(0, 5))
def test_adjacent_digits_swapped_in_the_identifier_are_one_edit(number: str, at: int) -> None:
    swapped = number[:at] + number[at + 1] + number[at] + number[at + 2 :]
    expected = "same" if swapped == number else "one_edit"
    assert level(IDENTIFIER, record(identifier=number), record(identifier=swapped)) == expected


@given(DIGITS, st.integers(0, 6), st.integers(0, 6))
def test_two_digits_changed_in_the_identifier_are_at_most_two_edits(number: str, one: int, two: int) -> None:
    changed = list(number)
    for at in (one, two):
        changed[at] = str((int(changed[at]) + 1) % 10)
    found = level(IDENTIFIER, record(identifier=number), record(identifier="".join(changed)))
    assert found == ("one_edit" if one == two else "two_edits")


BIRTHS = st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31))


@given(BIRTHS, st.integers(0, 7), st.integers(1, 9))
def test_one_digit_of_the_birth_date_mistyped(born: date, at: int, shift: int) -> None:
    digits = born.strftime("%Y%m%d")
    mistyped = digits[:at] + str((int(digits[at]) + shift) % 10) + digits[at + 1 :]
    assert level(BIRTH_DATE, record(birth_date=digits), record(birth_date=mistyped)) == "one_digit"


@given(BIRTHS)
def test_day_and_month_swapped(born: date) -> None:
    digits = born.strftime("%Y%m%d")
    swapped = digits[:4] + digits[6:] + digits[4:6]  # not always a valid date: kept as written
    found = level(BIRTH_DATE, record(birth_date=digits), record(birth_date=swapped))
    assert found == ("exact" if swapped == digits else "day_month_swapped")


@given(BIRTHS, st.integers(2, 3653))
def test_valid_dates_apart_land_on_the_first_level_that_covers_them(born: date, days: int) -> None:
    later = born + timedelta(days=days)
    found = level(
        BIRTH_DATE, record(birth_date=born.strftime("%Y%m%d")), record(birth_date=later.strftime("%Y%m%d"))
    )
    covering = "within_a_month" if days <= 31 else "within_a_year" if days <= 366 else "within_ten_years"
    assert found in ("one_digit", "day_month_swapped", covering)


def test_place_and_code_levels() -> None:
    assert level(STREET, record(), record(street="Wallaby Plce")) == "similar"
    assert level(STREET, record(), record(street="Kent Street")) == "different"
    assert level(POSTCODE, record(), record(postcode="2191")) == "one_digit"
    assert level(POSTCODE, record(), record(postcode="3000")) == "different"


def test_every_comparison_is_explained_field_by_field() -> None:
    text = render(SCORER.score(prepare(record()), prepare(record(2, given_name="Mitchel"))))
    for comparison in GENERIC_COMPARISONS:
        assert comparison.name in text
    assert "mitchell green | mitchel green" in text


# Blocking -----------------------------------------------------------------------------------------

NOISY_FIELDS = ("given_name", "family_name", "birth_date", "identifier", "postcode", "house_number", "street")
REPLACEMENTS = {
    "given_name": "Zachary",
    "family_name": "Quibell",
    "birth_date": "20011231",
    "identifier": "9999999",
    "postcode": "7777",
    "house_number": "4321",
    "street": "Kookaburra Road",
}


@given(st.lists(st.sampled_from(NOISY_FIELDS), max_size=4, unique=True), st.booleans())
def test_a_copy_with_any_four_fields_rewritten_is_still_a_candidate(noisy: list[str], missing: bool) -> None:
    """Rewritten outright (or left out), not merely mistyped: the rules overlap enough."""
    copy = record(2, **{field: None if missing else REPLACEMENTS[field] for field in noisy})
    assert candidate_pairs([prepare(record()), prepare(copy)], GENERIC_BLOCKING) == [(1, 2)]


def test_names_swapped_and_mistyped_share_the_name_codes_key() -> None:
    copy = record(
        2, given_name="Grene", family_name="Mitchell", birth_date=None, identifier=None, postcode="1"
    )
    assert candidate_pairs([prepare(record()), prepare(copy)], GENERIC_BLOCKING) == [(1, 2)]


def test_strangers_share_no_key() -> None:
    stranger = record(2, **REPLACEMENTS, locality="Bondi", region="NSW")
    assert candidate_pairs([prepare(record()), prepare(stranger)], GENERIC_BLOCKING) == []


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12))
def test_soundex_codes_are_a_letter_and_three_digits(name: str) -> None:
    code = soundex_code(name)
    assert code is not None and len(code) == 4 and code[0] == name[0].upper() and code[1:].isdigit()


def test_a_vietnamese_record_is_refused_by_the_generic_keys() -> None:
    plain = PersonRecord(record_id=1, facility_code="X", full_name="Nguyễn Văn Hùng", birth_year=1980)
    try:
        candidate_pairs([prepare(plain)], GENERIC_BLOCKING)
    except TypeError as refused:
        assert "not a generic record" in str(refused)
    else:
        raise AssertionError("a record without parts was keyed")


# Decisions ----------------------------------------------------------------------------------------


def test_the_same_person_with_a_slip_in_each_of_three_fields_links() -> None:
    copy = record(2, given_name="Mitchel", street="Walaby Place", birth_date="19560490")
    assert verdict(record(), copy) is Decision.LINK


def test_twins_are_held_back_for_review() -> None:
    twin = record(2, given_name="Jasmine", identifier="1804999")
    assert verdict(record(), twin) is Decision.REVIEW


def test_a_namesake_father_and_son_at_one_address_are_held_back_for_review() -> None:
    son = record(2, birth_date="19840211", identifier=None)
    assert verdict(record(), son) is Decision.REVIEW


def test_an_agreeing_identifier_lets_a_changed_given_name_link() -> None:
    assert verdict(record(), record(2, given_name="Jasmine")) is Decision.LINK


# Training -----------------------------------------------------------------------------------------


@settings(max_examples=3, deadline=None)
@given(st.randoms(use_true_random=False))
def test_training_estimates_every_comparison_and_name_frequencies(rng: Any) -> None:
    given_names = ["mitchell", "jasmine", "zachary", "ella", "noah", "lily", "oscar", "ruby"]
    family_names = ["green", "smith", "nguyen", "brown", "white", "jones", "taylor", "lee"]
    records = []
    for person in range(120):
        base = record(
            len(records) + 1,
            given_name=rng.choice(given_names),
            family_name=rng.choice(family_names),
            birth_date=f"19{rng.randrange(10, 99)}0{rng.randrange(1, 9)}1{rng.randrange(0, 9)}",
            identifier=f"{1000000 + person * 7919 % 8999999}",
            house_number=str(rng.randrange(1, 300)),
            postcode=str(rng.randrange(2000, 2100)),
        )
        records.append(base)
        if person % 2:
            records.append(replace(base, record_id=len(records) + 1))
    trained = train(
        records, comparisons=GENERIC_COMPARISONS, rules=GENERIC_BLOCKING, base=generic_parameters()
    )
    assert [c.name for c in trained.comparisons] == [c.name for c in GENERIC_COMPARISONS]
    assert {"given_name", "family_name"} <= trained.term_frequencies.keys()
    assert trained.comparison("identifier").level("same").weight > 5
