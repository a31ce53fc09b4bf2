"""Vietnamese names: family, middle and given names at realistic frequencies.

Family-name shares follow the domain brief (Nguyễn 38%, Trần 11%, ...); in this northern
province the regional pairs lean north (Hoàng over Huỳnh, Vũ over Võ), and the tail includes
names common around Bắc Giang (Thân, Giáp). Given names are concentrated, as in life, so that
many unrelated people share a full name; some differ from another only by a diacritic.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from loaders.records import Sex
from synth.rng import Weighted

FAMILY_NAMES: Weighted[str] = Weighted(
    [
        ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.1), ("Hoàng", 4.7), ("Huỳnh", 0.4),
        ("Phan", 4.5), ("Vũ", 3.5), ("Võ", 0.4), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.4), ("Hồ", 1.3),
        ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5),
        # the tail, 11.3% together
        ("Đào", 0.9), ("Đoàn", 0.8), ("Trịnh", 0.8), ("Đinh", 0.8), ("Hà", 0.6), ("Lương", 0.6),
        ("Trương", 0.6), ("Thân", 0.6), ("Mai", 0.5), ("Cao", 0.5), ("Tạ", 0.5), ("Chu", 0.5),
        ("Lưu", 0.4), ("Lâm", 0.4), ("Giáp", 0.3), ("Nghiêm", 0.3), ("Kiều", 0.3), ("Tô", 0.3),
        ("Triệu", 0.3), ("Vương", 0.3), ("Quách", 0.2), ("Khổng", 0.1), ("Hoàng Phủ", 0.05),
    ]
)  # fmt: skip

# Văn and Thị dominate older generations; parents born after 1990 use them far less.
_MIDDLE = {
    Sex.MALE: [
        ("Văn", 40), ("Đức", 10), ("Minh", 9), ("Quang", 7), ("Hữu", 6), ("Xuân", 5), ("Công", 5),
        ("Thanh", 4), ("Ngọc", 3), ("Trọng", 3), ("Tiến", 3), ("Mạnh", 2), ("Duy", 2), ("Hoàng", 2),
        ("Gia", 2), ("Bảo", 2), ("Văn Đức", 0.5),
    ],
    Sex.FEMALE: [
        ("Thị", 50), ("Ngọc", 8), ("Thu", 6), ("Thanh", 5), ("Minh", 4), ("Phương", 4), ("Thùy", 3),
        ("Hồng", 3), ("Kim", 3), ("Bích", 2), ("Mai", 2), ("Diệu", 2), ("Khánh", 2), ("Thị Thu", 3),
        ("Thị Ngọc", 2), ("Bảo", 2),
    ],
}  # fmt: skip
_TRADITIONAL_MIDDLE = {"Văn", "Thị", "Thị Thu", "Thị Ngọc", "Văn Đức"}

_GIVEN = {
    Sex.MALE: [
        ("Hùng", 6), ("Dũng", 5), ("Tuấn", 5), ("Anh", 5), ("Minh", 4), ("Nam", 4), ("Hải", 4),
        ("Long", 3), ("Thắng", 3), ("Cường", 3), ("Quân", 3), ("Đức", 3), ("Huy", 3), ("Sơn", 3),
        ("Hưng", 3), ("Tùng", 2), ("Thành", 2), ("Thanh", 2), ("Trung", 2), ("Hiếu", 2), ("Phong", 2),
        ("Khánh", 2), ("Tú", 2), ("Bình", 2), ("Quang", 2), ("Kiên", 2), ("Việt", 2), ("Toàn", 2),
        ("Tuân", 1), ("Lợi", 1), ("Vinh", 1), ("Hòa", 1), ("Thịnh", 1), ("Đạt", 1), ("Phúc", 1),
        ("Lâm", 1), ("Duy", 1), ("Lân", 0.5),
        # two-syllable given names, mostly given by younger parents
        ("Bình Minh", 0.8), ("Minh Khôi", 0.6), ("Gia Huy", 0.6), ("Đăng Khoa", 0.5), ("Bảo Nam", 0.3),
    ],
    Sex.FEMALE: [
        ("Hương", 6), ("Lan", 5), ("Linh", 5), ("Hà", 4), ("Trang", 4), ("Thảo", 4), ("Huyền", 3),
        ("Hằng", 3), ("Ngọc", 3), ("Mai", 3), ("Nga", 3), ("Hoa", 3), ("Thủy", 3), ("Phương", 3),
        ("Dung", 2), ("Yến", 2), ("Nhung", 2), ("Loan", 2), ("Vân", 2), ("Oanh", 2), ("Hạnh", 2),
        ("Hiền", 2), ("Hường", 2), ("Thúy", 2), ("Tâm", 1), ("Liên", 1), ("Quỳnh", 1), ("Chi", 1),
        ("Anh", 2), ("Nhi", 1), ("Vy", 1), ("Hòa", 1),
        ("Minh Anh", 0.8), ("Khánh Linh", 0.6), ("Bảo Ngọc", 0.6), ("Ngọc Anh", 0.6), ("Gia Hân", 0.4),
    ],
}  # fmt: skip

MIDDLE_NAMES = {sex: Weighted(table) for sex, table in _MIDDLE.items()}
GIVEN_NAMES = {sex: Weighted(table) for sex, table in _GIVEN.items()}
_MODERN_MIDDLE = {
    sex: Weighted([(name, w * (0.3 if name in _TRADITIONAL_MIDDLE else 1.0)) for name, w in table])
    for sex, table in _MIDDLE.items()
}

# Names that differ only by a diacritic: folding accents merges people who are not the same.
NEAR_HOMOGRAPHS: dict[str, str] = {
    "Hùng": "Hưng", "Hưng": "Hùng", "Hương": "Hường", "Hường": "Hương", "Thủy": "Thúy",
    "Thúy": "Thủy", "Thanh": "Thành", "Thành": "Thanh", "Tuấn": "Tuân", "Tuân": "Tuấn",
    "Hoa": "Hòa", "Lan": "Lân",
}  # fmt: skip

# The most common full names: people drawn from here, with birth years in a narrow band,
# make the "same name, same birth year, unrelated" hard negatives the matcher must keep apart.
VERY_COMMON_FULL_NAMES: dict[Sex, tuple[tuple[str, str, str], ...]] = {
    Sex.MALE: (
        ("Nguyễn", "Văn", "Hùng"), ("Nguyễn", "Văn", "Dũng"), ("Nguyễn", "Văn", "Tuấn"),
        ("Nguyễn", "Văn", "Nam"), ("Trần", "Văn", "Hùng"), ("Nguyễn", "Đức", "Anh"),
    ),
    Sex.FEMALE: (
        ("Nguyễn", "Thị", "Hương"), ("Nguyễn", "Thị", "Lan"), ("Nguyễn", "Thị", "Hoa"),
        ("Nguyễn", "Thị", "Hà"), ("Trần", "Thị", "Hương"), ("Nguyễn", "Thị", "Thủy"),
    ),
}  # fmt: skip
VERY_COMMON_BIRTH_YEARS = range(1975, 1985)


@dataclass(frozen=True, slots=True)
class PersonName:
    family: str
    middle: str  # zero or more words
    given: str  # one or two words

    @property
    def full(self) -> str:
        return " ".join(part for part in (self.family, self.middle, self.given) if part)


def middle_name(sex: Sex, birth_year: int, rng: random.Random) -> str:
    table = _MODERN_MIDDLE if birth_year >= 1990 else MIDDLE_NAMES
    return table[sex].pick(rng)


def given_name(sex: Sex, rng: random.Random, *, avoid: str | None = None) -> str:
    """A given name; siblings are never given the same one."""
    while True:
        name = GIVEN_NAMES[sex].pick(rng)
        if name != avoid:
            return name


def twin_given_name(sex: Sex, first: str, rng: random.Random) -> str:
    """Twins get different names, often a near-homograph of each other (Hùng and Hưng)."""
    homograph = NEAR_HOMOGRAPHS.get(first)
    if homograph is not None and homograph in GIVEN_NAMES[sex].values and rng.random() < 0.5:
        return homograph
    return given_name(sex, rng, avoid=first)


def fold(text: str) -> str:
    """Lower case without diacritics (đ -> d, which has no Unicode decomposition)."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
