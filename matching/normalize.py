"""Vietnamese text as the matcher compares it: canonical syllables and the keys derived from them.

A syllable is split into its letters (with the vowel marks â ă ê ô ơ ư and đ) and its tone, so
the tone's placement (hòa/hoà, thủy/thuỷ), NFC/NFD and case stop mattering. From that, keys of
decreasing strictness, each with a folded twin (no marks at all, đ -> d) for text typed without
diacritics:

- exact: same letters, marks and tone. Hùng, Hưng and Hừng stay three names.
- variant: the same name in another accepted spelling: i/y after a consonant (Lý/Lí, Quý/Quí) and
  the regional pairs Huỳnh/Hoàng and Vũ/Võ.
- northern: the variant with the onsets northern speakers confuse merged (l/n, s/x, ch/tr, d/gi/r);
  weaker evidence, since Chung and Trung are also two real names.

A word typed with the Vietnamese input method switched off keeps the Telex keys (Nguyeenx for
Nguyễn, Dduwcs for Đức): a word without marks that reads as a Vietnamese syllable once its Telex
keys are read (doubled vowels, w, dd, a tone key last) is taken as that syllable. No Vietnamese
syllable ends in s, f, r, x or j, nor holds aa, ee, oo, w or dd, so a plain unmarked word is
never changed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Combining tone marks -> tone number (1 sắc, 2 huyền, 3 hỏi, 4 ngã, 5 nặng); U+0340/0341 are
# deprecated duplicates of the grave and acute accents that some input methods still emit.
_TONES = {"\u0301": 1, "\u0341": 1, "\u0300": 2, "\u0340": 2, "\u0309": 3, "\u0303": 4, "\u0323": 5}
_WORD = re.compile(r"[^\W\d_]+")

_CONSONANT_ONSET = re.compile(r"(?:[bcdđghklmnprstvx]|ch|gh|gi|kh|ng|ngh|nh|ph|qu|th|tr)")
_REGIONAL = {"huynh": "hoang", "vo": "vu"}  # both pairs carry the same tone (Huỳnh/Hoàng, Võ/Vũ)
_NORTHERN_ONSETS = (("tr", "ch"), ("gi", "d"), ("r", "d"), ("l", "n"), ("s", "x"))


def _repaired(text: str) -> str:
    """Legacy fonts and careless typing put the Icelandic eth (Ð, ð) where đ belongs. (Two
    replacements: str.translate with a table is a hundred times slower on Vietnamese text.)"""
    return text.replace("Ð", "Đ").replace("ð", "đ")


def clean(raw: str) -> str:
    """NFC with look-alike letters repaired and white space folded; the form shown to people."""
    text = unicodedata.normalize("NFC", _repaired(raw))
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Letter runs of `text` after `clean`: punctuation, digits and spacing separate words."""
    return _WORD.findall(clean(text))


def split_tone(syllable: str) -> tuple[str, int]:
    """Lower-case letters with vowel marks but no tone, and the tone number (0 for level tone)."""
    tone = 0
    kept = []
    for char in unicodedata.normalize("NFD", _repaired(syllable).lower()):
        mark = _TONES.get(char)
        if mark is None:
            kept.append(char)
        elif tone == 0:
            tone = mark
    return unicodedata.normalize("NFC", "".join(kept)), tone


@lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """Lower case without any mark: what a keyboard without Vietnamese input produces. (Cached:
    the words and address segments folded repeat from record to record.)"""
    decomposed = unicodedata.normalize("NFD", _repaired(text).lower().replace("đ", "d"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


_TELEX_TONE_KEYS = {"s": 1, "f": 2, "r": 3, "x": 4, "j": 5}
_TELEX_LETTERS = (
    ("dd", "đ"),
    ("uow", "ươ"),
    ("uw", "ư"),
    ("ow", "ơ"),
    ("aw", "ă"),
    ("aa", "â"),
    ("ee", "ê"),
    ("oo", "ô"),
)
_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?[aăâeêioôơuưy]{1,3}(?:ch|ng|nh|[cmnpt])?"
)


def read_telex(letters: str) -> tuple[str, int] | None:
    """Lower-case ASCII letters read as Telex keys: the syllable's letters and tone, or None when
    they hold no Telex key or do not read as a Vietnamese syllable."""
    tone = 0
    if len(letters) > 1 and letters[-1] in _TELEX_TONE_KEYS:
        letters, tone = letters[:-1], _TELEX_TONE_KEYS[letters[-1]]
    read = letters
    for keys, letter in _TELEX_LETTERS:
        read = read.replace(keys, letter)
    if (read == letters and not tone) or not _SYLLABLE.fullmatch(read):
        return None
    return read, tone


_NEEDS_MARKS = re.compile(r"(?:[aeiouy](?:c|ch|p|t)$)|(?:ie|ye|uo)[a-z]")


def _with_tone(letters: str, tone: int) -> str:
    return f"{letters}{tone}" if tone else letters


def _variant_letters(letters: str) -> str:
    if letters.endswith("y") and _CONSONANT_ONSET.fullmatch(letters[:-1]):
        letters = letters[:-1] + "i"
    return _REGIONAL.get(letters, letters)


def _northern_letters(letters: str) -> str:
    for onset, merged in _NORTHERN_ONSETS:
        if letters.startswith(onset):
            return merged + letters[len(onset) :]
    return letters


class SyllableKeys:
    """The six comparison keys of one syllable, computed once."""

    __slots__ = ("exact", "folded", "northern", "northern_folded", "variant", "variant_folded")

    def __init__(self, syllable: str) -> None:
        letters, tone = split_tone(syllable)
        if not tone and letters.isascii():
            letters, tone = read_telex(letters) or (letters, tone)
        variant = _variant_letters(letters)
        northern = _northern_letters(variant)
        self.exact = _with_tone(letters, tone)
        self.folded = fold(letters)
        self.variant = _with_tone(variant, tone)
        self.variant_folded = fold(variant)
        self.northern = _with_tone(northern, tone)
        self.northern_folded = fold(northern)

    @property
    def has_marks(self) -> bool:
        return self.exact != self.folded

    @property
    def lost_marks(self) -> bool:
        """Written without marks, but no Vietnamese syllable is spelt so: a final c, ch, p or t
        takes the sắc or nặng tone, and iê, yê, uô, ươ before another letter carry their marks
        (Nguyen, Duc, Viet, Huong are Nguyễn, Đức, Việt, Hương typed without them)."""
        return (
            not self.has_marks
            and _NEEDS_MARKS.search(self.exact.removeprefix("qu").removeprefix("gi")) is not None
        )
