"""Clinical code shapes: ICD-10 diagnoses as Vietnamese files write them."""

from __future__ import annotations

import re
import unicodedata

_ICD10 = re.compile(r"([A-Z])(\d{2})(?:\.?([0-9A-Z]{1,2}))?", re.ASCII)
_MARKS = "†*+!"  # dagger/asterisk (and their ASCII stand-ins) mark aetiology/manifestation pairs


class InvalidCode(ValueError):
    """A code whose shape is wrong; the message says what was found."""


def normalise_icd10(raw: str) -> str:
    """Upper case, dotted form ("j189" -> "J18.9", "B20" stays), dagger/asterisk marks removed."""
    text = unicodedata.normalize("NFKC", raw).strip().upper().rstrip(_MARKS).strip()
    match = _ICD10.fullmatch(text)
    if match is None:
        raise InvalidCode(f"{raw.strip()!r} is not an ICD-10 code (a letter, 2 digits, optional .subcode)")
    letter, category, sub = match.groups()
    return f"{letter}{category}.{sub}" if sub else f"{letter}{category}"


def split_codes(raw: str | None, separator: str = ";") -> list[str]:
    """Codes joined by ';' (MA_BENH_KT, MA_KHOA, MA_PTTT_QT); blanks dropped."""
    if not raw:
        return []
    return [part.strip() for part in raw.split(separator) if part.strip()]
