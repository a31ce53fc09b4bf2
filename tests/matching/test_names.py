from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loaders.records import Sex
from matching.names import NameReading, align, parse_name
from synth.names import FAMILY_NAMES, GIVEN_NAMES, MIDDLE_NAMES


def parts(reading: NameReading | None) -> tuple[str, str, str]:
    assert reading is not None
    return reading.family.text, reading.middle.text, reading.given.text


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Nguyễn Văn Hùng", ("Nguyễn", "Văn", "Hùng")),
        ("Nguyễn Thị Thu Hà", ("Nguyễn", "Thị Thu", "Hà")),
        ("Tôn Thất Thuyết", ("Tôn Thất", "", "Thuyết")),  # compound family name
        ("Tôn Thất Hùng Anh", ("Tôn Thất", "Hùng", "Anh")),
        ("Hoàng Phủ Ngọc Tường", ("Hoàng Phủ", "Ngọc", "Tường")),
        ("Lan", ("", "", "Lan")),
        ("Hùng Nguyễn Văn", ("Nguyễn", "Văn", "Hùng")),  # given name written first
        ("Hùng Nguyễn", ("Nguyễn", "", "Hùng")),
        ("Lan Anh Trần", ("Trần", "Lan", "Anh")),  # family name written last
        ("Mai Anh", ("Mai", "", "Anh")),  # Mai is a family name too: as written wins
    ],
)
def test_the_likely_reading(written: str, expected: tuple[str, str, str]) -> None:
    assert parts(parse_name(written).likely) == expected


def test_a_name_without_letters_has_no_reading() -> None:
    assert parse_name(" -- 123 ").likely is None


def test_reordered_readings_are_marked_as_such() -> None:
    as_written, rotated = parse_name("Nguyễn Văn Hùng").likely, parse_name("Hùng Nguyễn Văn").likely
    assert as_written is not None and rotated is not None
    assert not as_written.family.reordered
    assert rotated.family.reordered and rotated.given.reordered


def test_align_finds_the_order_that_makes_an_unknown_family_name_agree() -> None:
    left, right = align(parse_name("Khiếu Văn Nam"), parse_name("Nam Khiếu Văn"))
    assert parts(left) == parts(right) == ("Khiếu", "Văn", "Nam")


def test_align_does_not_treat_different_marks_as_the_same_name() -> None:
    left, right = align(parse_name("Hùng Khiếu Văn"), parse_name("Khiếu Văn Hưng"))
    assert left.family.text != right.family.text


def test_align_keeps_the_likely_readings_when_family_names_agree() -> None:
    left, right = align(parse_name("Nguyễn Văn Hùng"), parse_name("Nguyễn Hùng"))
    assert parts(left) == ("Nguyễn", "Văn", "Hùng")
    assert parts(right) == ("Nguyễn", "", "Hùng")


def test_marks_are_a_property_of_the_whole_name() -> None:
    assert parse_name("Phan Thanh Mai").likely.family.marked is False  # type: ignore[union-attr]
    assert parse_name("Nguyễn Thanh Mai").likely.given.marked is True  # type: ignore[union-attr]


@given(
    st.sampled_from(["Nguyễn Thị Thu Hà", "Trần Văn Hưng", "Hùng Lê Đức", "Tôn Thất Bảo Anh"]),
    st.integers(0, 3),
)
def test_readings_ignore_case_spacing_and_normal_form(name: str, style: int) -> None:
    restyled = [
        name.upper(),
        unicodedata.normalize("NFD", name),
        f"  {name.replace(' ', '   ')} ",
        name.lower(),
    ]
    original, other = parse_name(name), parse_name(restyled[style])
    assert [(r.family.exact, r.middle.exact, r.given.exact) for r in original.readings] == [
        (r.family.exact, r.middle.exact, r.given.exact) for r in other.readings
    ]


MOTHERS = st.builds(
    lambda family, middle, given: f"{family} {middle} {given}",
    st.sampled_from(FAMILY_NAMES.values),
    st.sampled_from(MIDDLE_NAMES[Sex.FEMALE].values),
    st.sampled_from(GIVEN_NAMES[Sex.FEMALE].values),
)


@given(
    MOTHERS,
    st.sampled_from(["Con bà {}", "CON CUA {}", "con của bà {}", "Con sản phụ {}", "CB {}", "Con chị {}"]),
)
def test_a_newborn_under_its_mothers_name_is_a_form_of_its_own(mother: str, form: str) -> None:
    written = form.format(mother.upper() if form.isupper() else mother)
    name = parse_name(written)
    assert name.readings == ()  # no reading as the child's own name
    assert name.mother is not None
    assert parts(name.mother.likely) == parts(
        parse_name(written.split(" ", len(form.split()) - 1)[-1]).likely
    )


@pytest.mark.parametrize("written", ["Con Văn Hùng", "Cao Bá Quát", "CB Lan", "Nguyễn Thị Con"])
def test_names_that_only_look_like_a_newborn_prefix_are_read_as_names(written: str) -> None:
    assert parse_name(written).mother is None
    assert parse_name(written).likely is not None
