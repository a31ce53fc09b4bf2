"""A small synthetic province for training and end-to-end tests, with the truth kept.

Households share a family name, a commune and a phone; some have twins (given names of their
own) or a son carrying his father's full name. Each person appears in one to three records,
copies carrying the noise facilities produce: no diacritics, capitals, NFD, a dropped letter,
a dropped middle name, the given name first, year-only or day/month-swapped birth dates,
missing fields. Name pools are small, so chance namesakes are commoner than in a real province.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, replace
from datetime import date

from matching.normalize import fold
from matching.person import PersonRecord

FAMILY = ["Nguyễn"] * 38 + ["Trần"] * 11 + ["Lê"] * 9 + ["Phạm"] * 7 + ["Hoàng"] * 5 + ["Phan"] * 4 + [
    "Vũ", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trịnh", "Mai", "Tạ", "Lương", "Kiều",
]  # fmt: skip
GIVEN = {
    1: ["Hùng", "Hưng", "Dũng", "Tuấn", "Minh", "Nam", "Long", "Bình", "Quang", "Sơn", "Thắng", "Đức", "Hải",
        "Phong", "Khánh", "Quý", "Toàn", "Trung", "Chung", "Việt", "Cường", "Hiếu", "Tú", "Lâm"],
    2: ["Lan", "Mai", "Hoa", "Hòa", "Hương", "Hường", "Linh", "Trang", "Thủy", "Ngọc", "Hà", "Thu", "Yến",
        "Nhung", "Oanh", "Loan", "Thảo", "Vân", "Huyền", "Dung", "Nga", "Phương", "Phượng", "Lý"],
}  # fmt: skip
MIDDLE = {
    1: ["Văn", "Văn", "Đức", "Minh", "Hữu", "Quang"],
    2: ["Thị", "Thị", "Thị", "Thu", "Ngọc", "Thị Thu"],
}
COMMUNES = [
    (f"{9200 + 3 * n:05d}", name)
    for n, name in enumerate(
        ["Lạc Vệ", "Tiên Du", "Phật Tích", "Đại Đồng", "Hoàn Sơn", "Tân Chi", "Minh Đạo"]
    )
]


@dataclass(frozen=True, slots=True)
class Person:
    person_id: int
    household: int
    name: str
    born: date
    sex: int
    citizen_id: str | None
    social_insurance: str | None
    phone: str | None
    commune: tuple[str, str]


@dataclass(slots=True)
class _Household:
    number: int
    first_person_id: int
    family: str
    phone: str | None
    commune: tuple[str, str]
    rng: random.Random
    members: list[Person]

    def add(self, sex: int, born: date, *, family: str | None = None, given: str | None = None) -> Person:
        rng = self.rng
        name = f"{family or self.family} {rng.choice(MIDDLE[sex])} {given or rng.choice(GIVEN[sex])}"
        citizen_id = None
        if born.year <= 2010:  # children under 14 have none yet
            citizen_id = f"027{(0 if born.year < 2000 else 2) + sex - 1}{born.year % 100:02d}{rng.randrange(10**6):06d}"
        insured = f"27{rng.randrange(10**8):08d}" if rng.random() < 0.7 else None
        person_id = self.first_person_id + len(self.members)
        person = Person(
            person_id, self.number, name, born, sex, citizen_id, insured, self.phone, self.commune
        )
        self.members.append(person)
        return person


def _day(year: int, rng: random.Random) -> date:
    return date(year, rng.randint(1, 12), rng.randint(1, 28))


def people(households: int, seed: int = 7) -> list[Person]:
    rng = random.Random(seed)
    everyone: list[Person] = []
    for number in range(households):
        phone = f"09{rng.randrange(10**8):08d}" if rng.random() < 0.8 else None
        home = _Household(number, len(everyone), rng.choice(FAMILY), phone, rng.choice(COMMUNES), rng, [])
        father = home.add(1, _day(rng.randint(1950, 1995), rng))
        home.add(2, _day(father.born.year + rng.randint(-3, 5), rng), family=rng.choice(FAMILY))
        for child in range(rng.choice([0, 1, 2, 2, 3])):
            sex, born = rng.choice([1, 2]), _day(min(father.born.year + rng.randint(20, 35), 2023), rng)
            first = home.add(sex, born)
            if child == 0 and rng.random() < 0.15:  # twins
                twin_names = [given for given in GIVEN[sex] if not first.name.endswith(given)]
                home.add(sex, born, given=rng.choice(twin_names))
            if child == 0 and sex == 1 and rng.random() < 0.05:  # a son named exactly like his father
                namesake = home.add(1, _day(born.year + 2, rng))
                home.members[-1] = replace(namesake, name=father.name)
        everyone.extend(home.members)
    return everyone


def _noisy_name(name: str, rng: random.Random) -> str:
    family, *rest = name.split()
    kind = rng.random()
    if kind < 0.15:
        return fold(name).title()
    if kind < 0.25:
        return name.upper()
    if kind < 0.35:
        return unicodedata.normalize("NFD", name)
    if kind < 0.4 and len(rest) > 1:
        return f"{family} {rest[-1]}"  # middle name dropped
    if kind < 0.45:
        return " ".join([rest[-1], family, *rest[:-1]])  # given name first
    if kind < 0.5 and len(family) > 3:
        cut = rng.randrange(1, len(family))
        return " ".join([family[:cut] + family[cut + 1 :], *rest])  # a letter dropped
    return name


def records(population: list[Person], seed: int = 11) -> tuple[list[PersonRecord], dict[int, int]]:
    """Records of everyone (one to three each) and record id -> person id."""
    rng = random.Random(seed)
    made: list[PersonRecord] = []
    truth: dict[int, int] = {}
    for person in population:
        for copy in range(rng.choice([1, 1, 2, 2, 3])):
            month, day = person.born.month, person.born.day
            noise = rng.random()
            if noise < 0.05:
                month, day = None, None
            elif noise < 0.08 and day <= 12:
                month, day = day, month
            record = PersonRecord(
                record_id=len(made) + 1,
                facility_code=f"2700{rng.randrange(10)}",
                full_name=person.name if copy == 0 else _noisy_name(person.name, rng),
                birth_year=person.born.year,
                birth_month=month,
                birth_day=day,
                sex=person.sex,
                citizen_id=person.citizen_id if rng.random() < 0.6 else None,
                social_insurance_number=person.social_insurance if rng.random() < 0.6 else None,
                phone=person.phone if rng.random() < 0.7 else None,
                commune_code=person.commune[0] if rng.random() < 0.7 else None,
                address_text=f"xã {person.commune[1]}, Bắc Ninh" if rng.random() < 0.5 else None,
                recorded_at=date(2024, rng.randint(1, 12), 1),
            )
            truth[record.record_id] = person.person_id
            made.append(record)
    return made, truth
