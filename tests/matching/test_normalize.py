from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from matching.normalize import SyllableKeys, clean, fold, read_telex, split_tone, words
from synth.names import FAMILY_NAMES, GIVEN_NAMES, MIDDLE_NAMES
from synth.noise import telex

TONE_MARKS = ["", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323"]
VOWELS = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y"]
ONSETS = ["", "b", "ch", "d", "đ", "g", "gi", "h", "kh", "l", "m", "n", "ng", "nh", "ph", "qu", "r", "s", "t",
          "th", "tr", "v", "x"]  # fmt: skip
CODAS = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t"]


@st.composite
def syllables(draw: st.DrawFn) -> tuple[str, str]:
    """A Vietnamese-shaped syllable as (letters with vowel marks, tone mark)."""
    nucleus = draw(st.lists(st.sampled_from(VOWELS), min_size=1, max_size=3))
    letters = draw(st.sampled_from(ONSETS)) + "".join(nucleus) + draw(st.sampled_from(CODAS))
    return unicodedata.normalize("NFC", letters), draw(st.sampled_from(TONE_MARKS))


def with_tone_on(letters: str, tone: str, position: int) -> str:
    """The tone mark after the `position`-th vowel (modulo their count): old or new placement."""
    vowel_at = [i for i, char in enumerate(letters) if fold(char) in "aeiouy"]
    at = vowel_at[position % len(vowel_at)] + 1
    return unicodedata.normalize("NFC", letters[:at] + tone + letters[at:])


def test_tone_placement_old_and_new_give_one_key() -> None:
    assert SyllableKeys("hòa").exact == SyllableKeys("hoà").exact == "hoa2"
    assert SyllableKeys("thủy").exact == SyllableKeys("thuỷ").exact == "thuy3"


def test_marks_tell_names_apart_until_folded() -> None:
    hung, hung_horn, hung_horn_grave = SyllableKeys("Hùng"), SyllableKeys("Hưng"), SyllableKeys("Hừng")
    assert len({hung.exact, hung_horn.exact, hung_horn_grave.exact}) == 3
    assert hung.folded == hung_horn.folded == hung_horn_grave.folded == "hung"


def test_d_with_stroke_folds_to_d_and_the_eth_look_alike_is_repaired() -> None:
    assert fold("Đặng Đức") == "dang duc"
    assert SyllableKeys("Ðặng").exact == SyllableKeys("Đặng").exact  # U+00D0 typed for U+0110


@pytest.mark.parametrize(
    ("one", "other"),
    [("Lý", "Lí"), ("Quý", "Quí"), ("Mỹ", "Mĩ"), ("Huỳnh", "Hoàng"), ("Võ", "Vũ"), ("HUỲNH", "hoàng")],
)
def test_accepted_spellings_of_one_name_share_the_variant_key(one: str, other: str) -> None:
    assert SyllableKeys(one).variant == SyllableKeys(other).variant
    assert SyllableKeys(one).exact != SyllableKeys(other).exact


@pytest.mark.parametrize(("one", "other"), [("Duy", "Dui"), ("Vô", "Vũ"), ("Thủy", "Thủi"), ("Hùng", "Hưng")])
def test_variant_keys_do_not_over_merge(one: str, other: str) -> None:
    assert SyllableKeys(one).variant != SyllableKeys(other).variant


@pytest.mark.parametrize(
    ("one", "other"),
    [("Lan", "Nan"), ("Sinh", "Xinh"), ("Trung", "Chung"), ("Giang", "Dang"), ("Rạng", "Dạng")],
)
def test_northern_confusions_share_only_the_northern_key(one: str, other: str) -> None:
    assert SyllableKeys(one).northern == SyllableKeys(other).northern
    assert SyllableKeys(one).variant != SyllableKeys(other).variant


def test_words_split_on_punctuation_and_digits() -> None:
    assert words(" Nguyễn-Văn  A.  (2) ") == ["Nguyễn", "Văn", "A"]


def test_split_tone_reads_nfd_input() -> None:
    assert split_tone(unicodedata.normalize("NFD", "Hường")) == ("hương", 2)


@given(st.text())
def test_clean_and_fold_are_idempotent(text: str) -> None:
    assert clean(clean(text)) == clean(text)
    assert fold(fold(text)) == fold(text)


@given(syllables(), st.integers(min_value=0, max_value=2))
def test_syllable_keys_ignore_case_normal_form_and_tone_placement(
    syllable: tuple[str, str], where: int
) -> None:
    letters, tone = syllable
    reference = SyllableKeys(with_tone_on(letters, tone, 0))
    for written in (
        with_tone_on(letters, tone, where),
        unicodedata.normalize("NFD", with_tone_on(letters, tone, where)).upper(),
    ):
        keys = SyllableKeys(written)
        assert (keys.exact, keys.variant, keys.northern) == (
            reference.exact,
            reference.variant,
            reference.northern,
        )


@given(syllables())
def test_folded_syllables_are_plain_ascii_letters(syllable: tuple[str, str]) -> None:
    keys = SyllableKeys(with_tone_on(*syllable, 0))
    for folded in (keys.folded, keys.variant_folded, keys.northern_folded):
        assert folded.isascii()
        assert folded.isalpha()


@given(syllables(), syllables())
def test_each_key_is_at_most_as_strict_as_the_one_before(
    one: tuple[str, str], other: tuple[str, str]
) -> None:
    a, b = SyllableKeys(with_tone_on(*one, 0)), SyllableKeys(with_tone_on(*other, 0))
    if a.exact == b.exact:
        assert a.variant == b.variant
    if a.variant == b.variant:
        assert a.northern == b.northern and a.variant_folded == b.variant_folded
    if a.folded == b.folded:
        assert a.variant_folded == b.variant_folded
    if a.variant_folded == b.variant_folded:
        assert a.northern_folded == b.northern_folded


NAME_WORDS = sorted(
    {
        word
        for table in (FAMILY_NAMES, *MIDDLE_NAMES.values(), *GIVEN_NAMES.values())
        for name in table.values
        for word in name.split()
    }
)


@pytest.mark.parametrize("word", NAME_WORDS)
def test_a_name_typed_in_telex_with_the_input_method_off_reads_as_the_name(word: str) -> None:
    typed = telex(word)
    assert SyllableKeys(typed).exact == SyllableKeys(word).exact
    assert SyllableKeys(typed.upper()).exact == SyllableKeys(word).exact


@given(syllables())
def test_telex_keys_of_any_syllable_read_back_as_it(syllable: tuple[str, str]) -> None:
    word = with_tone_on(*syllable, 0)
    assume(read_telex(fold(word)) is None)  # a nonsense syllable (aa, oo) reads as Telex itself
    assume("uơ" not in syllable[0])  # uow is read as ươ (Telex's shortcut), far more common than uơ (thuở)
    assert SyllableKeys(telex(word)).exact == SyllableKeys(word).exact


@given(syllables())
def test_a_word_without_telex_keys_is_never_read_as_telex(syllable: tuple[str, str]) -> None:
    folded = fold(with_tone_on(*syllable, 0))
    assume(not any(keys in folded for keys in ("aa", "ee", "oo", "dd", "w")))
    assert read_telex(folded) is None  # no Vietnamese syllable ends in s, f, r, x or j


@pytest.mark.parametrize("word", ["Thomas", "Ross", "James", "Mai", "Hoa", "Nguyen"])
def test_foreign_and_unmarked_words_stay_as_written(word: str) -> None:
    assert SyllableKeys(word).exact == word.lower()
