"""The ways facilities get a person wrong, each a named function, and how often each facility does.

Two levels:
- registration noise is drawn once per (facility, local patient id) and repeats on every record
  under that id: it is what the registration desk typed (a typo, no diacritics, a year-only
  birth date, a mistyped or borrowed citizen ID);
- visit noise is drawn per record (the citizen-ID card not shown that day, a pre-merger address
  written after July 2025, a record re-sent later with corrections, a second registration).
Rates are per facility (`NoiseProfile`), drawn around its kind's base rates (see facilities.py).

Some noise damages how an identifier is written rather than which one it is (a spreadsheet's
lost leading zero or scientific notation, full-width digits): `person_id_flag` says what the
loaders must make of the value sent (stored, flagged malformed / inconsistent / repaired).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from loaders.dates import BirthDate
from loaders.identifiers import InvalidIdentifier, citizen_id_conflicts, citizen_id_facts
from loaders.records import FlagKind, Sex
from synth.names import PersonName


class Noise(StrEnum):
    NAME_NO_DIACRITICS = "name_no_diacritics"
    NAME_UPPER = "name_upper"
    NAME_NFD = "name_nfd"
    NAME_TYPO = "name_typo"
    NAME_EXTRA_SPACES = "name_extra_spaces"
    NAME_MIDDLE_DROPPED = "name_middle_dropped"
    NAME_SWAPPED = "name_swapped"
    NAME_SPELLING_VARIANT = "name_spelling_variant"
    BIRTH_DAY_MONTH_SWAPPED = "birth_day_month_swapped"
    BIRTH_YEAR_ONLY = "birth_year_only"
    CITIZEN_ID_TYPO = "citizen_id_typo"
    CHILD_UNDER_PARENT_ID = "child_under_parent_id"
    CITIZEN_ID_MISSING = "citizen_id_missing"
    DUPLICATE_REGISTRATION = "duplicate_registration"
    RESENT_CORRECTION = "resent_correction"
    ADDRESS_OLD_FORM = "address_old_form"
    # Added later, drawn from streams of their own so the kinds above keep their draws.
    EXCEL_LEADING_ZERO = "excel_leading_zero"
    CITIZEN_ID_SCIENTIFIC = "citizen_id_scientific"
    CITIZEN_ID_FULL_WIDTH = "citizen_id_full_width"
    SEX_MISCODED = "sex_miscoded"
    # Added with issue 18, from streams of their own again.
    NEWBORN_MOTHER_NAME = "newborn_mother_name"
    NAME_TELEX = "name_telex"
    NAME_PARTLY_UNACCENTED = "name_partly_unaccented"


@dataclass(frozen=True)
class NoiseProfile:
    """How often one facility makes each mistake (a probability per registration or per record)."""

    rates: Mapping[Noise, float]

    def strikes(self, noise: Noise, rng: random.Random) -> bool:
        return rng.random() < self.rates.get(noise, 0.0)

    @classmethod
    def around(cls, base: Mapping[Noise, float], rng: random.Random) -> NoiseProfile:
        """A facility's own rates: its kind's base rates, each scaled by 0.5-1.5."""
        return cls({noise: min(rate * rng.uniform(0.5, 1.5), 1.0) for noise, rate in base.items()})


# --- names ------------------------------------------------------------------------------------


def drop_diacritics(text: str) -> str:
    """What software without Vietnamese input writes: Nguyễn -> Nguyen, Đặng -> Dang."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def to_upper(text: str) -> str:
    return text.upper()


def to_nfd(text: str) -> str:
    """Decomposed Unicode, as some web forms and macOS keyboards send it: looks the same, compares unequal."""
    return unicodedata.normalize("NFD", text)


_OLD_TONE_PLACEMENT = {
    # new (tone on the second vowel) -> old (tone on the first vowel) in open syllables oa, oe, uy
    "oà": "òa", "oá": "óa", "oả": "ỏa", "oã": "õa", "oạ": "ọa",
    "oè": "òe", "oé": "óe", "oẻ": "ỏe", "oẽ": "õe", "oẹ": "ọe",
    "uỳ": "ùy", "uý": "úy", "uỷ": "ủy", "uỹ": "ũy", "uỵ": "ụy",
}  # fmt: skip
_NEW_TONE_PLACEMENT = {old: new for new, old in _OLD_TONE_PLACEMENT.items()}
_OPEN_SYLLABLE_END = re.compile("(" + "|".join(_OLD_TONE_PLACEMENT | _NEW_TONE_PLACEMENT) + r")(?=\s|$)")


def spelling_variant(text: str) -> str:
    """The other accepted spelling: tone placement (Hòa / Hoà, Thủy / Thuỷ) or i/y (Lý / Lí)."""
    swapped = _OPEN_SYLLABLE_END.sub(lambda m: (_OLD_TONE_PLACEMENT | _NEW_TONE_PLACEMENT)[m[1]], text)
    if swapped != text:
        return swapped
    return re.sub(r"\bLý\b", "Lí", text)


_TYPO_NEIGHBOURS = "aăâeêioôơuưy"


def typo(text: str, rng: random.Random) -> str:
    """One keying slip in one word: a letter dropped, doubled, replaced or swapped with the next."""
    words = text.split(" ")
    at = rng.randrange(len(words))
    word = words[at]
    if len(word) < 3:
        return text
    i = rng.randrange(1, len(word) - 1)
    slip = rng.randrange(4)
    if slip == 0:
        word = word[:i] + word[i + 1 :]
    elif slip == 1:
        word = word[:i] + word[i] + word[i:]
    elif slip == 2:
        word = word[:i] + rng.choice(_TYPO_NEIGHBOURS.replace(word[i], "")) + word[i + 1 :]
    else:
        word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    words[at] = word
    return " ".join(words)


def extra_spaces(text: str, rng: random.Random) -> str:
    """A doubled space between words, or a stray one at an end."""
    words = text.split(" ")
    at = rng.randrange(len(words))
    words[at] = words[at] + " " if at < len(words) - 1 else " " + words[at]
    return " ".join(words) + (" " if rng.random() < 0.5 else "")


_TELEX_LETTERS = {"â": "aa", "ê": "ee", "ô": "oo", "ă": "aw", "ơ": "ow", "ư": "uw", "đ": "dd"}
_TELEX_TONES = {"\u0301": "s", "\u0300": "f", "\u0309": "r", "\u0303": "x", "\u0323": "j"}


def telex(word: str) -> str:
    """A word as typed on a Telex keyboard with the input method switched off: the marks spelt out
    as keys (Nguyễn -> Nguyeenx, Đức -> Dduwcs), the tone's key last."""
    tone = ""
    kept = []
    for char in unicodedata.normalize("NFD", word):
        if char in _TELEX_TONES:
            tone = _TELEX_TONES[char]
        else:
            kept.append(char)
    out = []
    for char in unicodedata.normalize("NFC", "".join(kept)):
        keys = _TELEX_LETTERS.get(char.lower())
        out.append(char if keys is None else keys[0].upper() + keys[1:] if char.isupper() else keys)
    typed = "".join(out) + tone
    return typed.upper() if word.isupper() else typed


def telex_remnant(text: str, rng: random.Random) -> str:
    """One marked word of the name typed with the input method off (Nguyeenx Văn Hùng)."""
    words = text.split(" ")
    marked = [i for i, word in enumerate(words) if telex(word) != word]
    if not marked:
        return text
    at = rng.choice(marked)
    words[at] = telex(words[at])
    return " ".join(words)


def partly_unaccented(text: str, rng: random.Random) -> str:
    """Some words of the name written without marks, others with (Nguyen Văn Hùng)."""
    words = text.split(" ")
    marked = [i for i, word in enumerate(words) if drop_diacritics(word) != word]
    if len(marked) < 2:
        return text
    for at in rng.sample(marked, rng.randint(1, len(marked) - 1)):
        words[at] = drop_diacritics(words[at])
    return " ".join(words)


# How a maternity desk names a baby not yet named: after the mother (domain brief §7).
_NEWBORN_FORMS = (
    ("Con bà {}", 0.4),
    ("CON CUA {}", 0.2),
    ("Con sản phụ {}", 0.1),
    ("CB {}", 0.1),
    ("{}", 0.2),  # the mother's name alone, with the baby's sex and birth date
)


def newborn_name(mother: str, rng: random.Random) -> str:
    form = rng.choices([f for f, _ in _NEWBORN_FORMS], weights=[w for _, w in _NEWBORN_FORMS])[0]
    return form.format(drop_diacritics(mother).upper() if form.isupper() else mother)


def drop_middle(name: PersonName) -> PersonName:
    return PersonName(name.family, "", name.given)


def given_first(name: PersonName) -> str:
    """Family and given name swapped, as forms built for Western name order collect them."""
    return " ".join(part for part in (name.given, name.family, name.middle) if part)


# --- dates and identifiers ----------------------------------------------------------------------


def swap_day_month(born: date) -> BirthDate | None:
    """Day and month read the wrong way round; only where the result is still a date and differs."""
    if born.day > 12 or born.day == born.month:
        return None
    return BirthDate(year=born.year, month=born.day, day=born.month)


def year_only(born: date) -> BirthDate:
    return BirthDate(year=born.year)


def citizen_id_typo(citizen_id: str, rng: random.Random) -> str:
    """One digit mistyped. A slip in digits 1-6 often contradicts the sex or birth year or names
    no province (the loaders store the visit and flag the ID); one in digits 7-12 passes and
    points at nobody."""
    at = rng.randrange(len(citizen_id))
    digit = rng.choice("0123456789".replace(citizen_id[at], ""))
    return citizen_id[:at] + digit + citizen_id[at + 1 :]


def miscode_sex(sex: Sex) -> Sex:
    """The other box ticked at the desk: 1 and 2 swapped (the citizen ID's digit 4 then disagrees)."""
    return {Sex.MALE: Sex.FEMALE, Sex.FEMALE: Sex.MALE}.get(sex, sex)


# --- spreadsheet damage and odd digits (how an identifier is written, not which one) -----------


def strip_leading_zeros(digits: str) -> str:
    """What a spreadsheet keeps of a number typed into a cell formatted as a number: every leading
    zero goes (024185000123 -> 24185000123; 001... loses two; phones 0912... -> 912...)."""
    return digits.lstrip("0") or "0"


def scientific_notation(digits: str) -> str:
    """A long number in a narrow spreadsheet column, saved as displayed: 024185000123 ->
    2.41850E+10 -> 2.4185E+10 (six significant digits, trailing zeros dropped; the rest is lost)."""
    mantissa, exponent = f"{int(digits):.5E}".split("E")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}E+{int(exponent):02d}"


_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def full_width(digits: str) -> str:
    """Full-width digits (U+FF10-FF19), as an East Asian input method or a pasted PDF writes them."""
    return digits.translate(_FULL_WIDTH_DIGITS)


_SCIENTIFIC = re.compile(r"\d+(?:[.,]\d+)?E\+?\d+", re.ASCII)


def person_id_flag(sent: str, *, sex: int | None, birth_year: int | None) -> FlagKind | None:
    """What the loaders must make of an SO_CCCD value sent with this sex and birth year (the truth's
    rule, written independently of the loaders):

    - a 12-digit citizen ID agreeing with the record, a 9-digit old ID card: None (used as sent);
    - full-width digits read as ASCII, or an 11-digit citizen ID whose leading zero restored gives
      a valid ID agreeing with the record: REPAIRED (the repaired value is used);
    - a valid citizen ID (as sent, or 11 digits with its zero restored) whose digit 4 or digits 5-6
      contradict the recorded sex or birth year: INCONSISTENT (a parent's ID on a child, a typo in
      digits 4-6, a miscoded sex);
    - anything else (scientific notation, 10 or 11 digits that restore to no citizen ID, a province
      code that does not exist, digit 4 above 5): MALFORMED.
    Inconsistent and malformed values are stored with the flag and never used as a key.
    """
    value = unicodedata.normalize("NFKC", sent).strip()
    repaired = not sent.isascii()
    if _SCIENTIFIC.fullmatch(value) or not (value.isascii() and value.isdigit()):
        return FlagKind.MALFORMED
    if len(value) == 11:
        value, repaired = "0" + value, True
    elif len(value) == 9:
        return FlagKind.REPAIRED if repaired else None
    if len(value) != 12:
        return FlagKind.MALFORMED
    try:
        citizen_id_facts(value)
    except InvalidIdentifier:
        return FlagKind.MALFORMED
    if citizen_id_conflicts(value, sex=sex, birth_year=birth_year):
        return FlagKind.INCONSISTENT
    return FlagKind.REPAIRED if repaired else None


def repaired_person_id(sent: str) -> str:
    """The value the loaders use for a REPAIRED SO_CCCD: ASCII digits, the leading zero restored."""
    value = unicodedata.normalize("NFKC", sent).strip()
    return "0" + value if len(value) == 11 else value
