"""Where a person lives, at commune level, in either administrative era.

Until 30 June 2025 addresses had three levels (province, district, commune); from 1 July 2025
two (province, commune), and many communes were merged and renamed. Records keep the form of
the day they were made, so two records of one person who never moved can name different
communes. Only records of the same era can disagree meaningfully; across eras only agreement is
evidence: a code or name both eras share, or an old commune's code and the code of the commune it
became (`communes_2025.csv`: every old commune code and the new commune codes it went into, 471
of the 10,035 split between several; extracted from the MIT-licensed `vietnamadminunits` 1.0.4
data set, its dataset.db codes joined through converter_2025.json, and kept as data because the
engine needs only this table).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib.resources import files

from matching.normalize import clean, fold

TWO_LEVEL_SINCE = date(2025, 7, 1)

# A commune segment of a written address: "Xã Lạc Vệ", "P. Đa Mai", "TT Chờ", "Đặc khu Vân Đồn".
_SEGMENT_BREAK = re.compile(r"[,;/\-–]")
_COMMUNE_SEGMENT = re.compile(r"\s*(?:xa|phuong|thi tran|dac khu|tt|p|x)\b\.?\s*(.+)")


class AdminEra(StrEnum):
    THREE_LEVEL = "three_level"
    TWO_LEVEL = "two_level"


@dataclass(frozen=True, slots=True)
class CommuneFacts:
    code: str | None
    name: str | None  # folded commune name found in the address text
    era: AdminEra | None  # None when neither a district nor the record's date tells
    became: frozenset[str] = frozenset()  # an old (three-level) commune code's new commune codes

    def __str__(self) -> str:
        return " ".join(filter(None, (self.code, self.name, self.era and f"({self.era})"))) or "-"


def commune_facts(
    *, text: str | None, district_code: str | None, commune_code: str | None, recorded_at: date | None
) -> CommuneFacts:
    code = (commune_code or "").strip()
    code = code.zfill(5) if code.isdigit() else code  # "9256" lost its leading zero
    era = _era(district_code, recorded_at)
    return CommuneFacts(
        code=code or None,
        name=commune_name(text) if text else None,
        era=era,
        became=_new_communes().get(code, frozenset()) if era is AdminEra.THREE_LEVEL else frozenset(),
    )


def same_commune(a: CommuneFacts, b: CommuneFacts) -> bool:
    """The same commune code or commune name, or an old commune and the one it became."""
    return (
        (a.code is not None and a.code == b.code)
        or (a.name is not None and a.name == b.name)
        or same_after_reform(a, b)
    )


def same_after_reform(a: CommuneFacts, b: CommuneFacts) -> bool:
    """One record names an old commune, the other (of the new era) the commune it became."""
    return (b.era is AdminEra.TWO_LEVEL and b.code in a.became) or (
        a.era is AdminEra.TWO_LEVEL and a.code in b.became
    )


@cache
def _new_communes() -> dict[str, frozenset[str]]:
    became: dict[str, set[str]] = {}
    with files("matching").joinpath("communes_2025.csv").open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            became.setdefault(row["old_commune_code"], set()).add(row["new_commune_code"])
    return {old: frozenset(new) for old, new in became.items()}


def commune_name(text: str) -> str | None:
    """The folded commune name of a written address, when the address marks it as a commune."""
    # Folded segment by segment up to the commune's, not whole: folding is the costly part, and
    # it neither makes nor removes a break.
    for segment in _SEGMENT_BREAK.split(clean(text)):
        match = _COMMUNE_SEGMENT.fullmatch(fold(segment))
        if match:
            return " ".join(match.group(1).split())
    return None


def _era(district_code: str | None, recorded_at: date | None) -> AdminEra | None:
    if district_code:
        return AdminEra.THREE_LEVEL
    if recorded_at is None:
        return None
    return AdminEra.TWO_LEVEL if recorded_at >= TWO_LEVEL_SINCE else AdminEra.THREE_LEVEL
