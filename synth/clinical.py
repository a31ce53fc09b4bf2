"""What people are treated for: chronic conditions at realistic prevalence, acute illnesses by age,
and the drugs, services, tests and progress notes each brings.

Drug (MA_THUOC) and service (MA_DICH_VU) codes are illustrative, shaped like the Ministry's
catalogue codes; the ICD-10 and ICD-9-CM codes are real.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from loaders.records import Sex
from synth.rng import Weighted


@dataclass(frozen=True, slots=True)
class Drug:
    code: str
    name: str
    strength: str
    dosage: str
    route: str
    unit: str
    per_day: Decimal


@dataclass(frozen=True, slots=True)
class ServiceItem:
    code: str
    name: str


DRUGS = {
    "amlodipine": Drug("40.479", "Amlodipin", "5mg", "Uống 1 viên/ngày, sáng", "Uống", "Viên", Decimal(1)),
    "losartan": Drug("40.504", "Losartan", "50mg", "Uống 1 viên/ngày", "Uống", "Viên", Decimal(1)),
    "metformin": Drug("40.677", "Metformin", "850mg", "Uống 1 viên x 2 lần/ngày sau ăn", "Uống", "Viên", Decimal(2)),
    "gliclazide": Drug("40.671", "Gliclazid", "30mg", "Uống 1 viên/ngày trước ăn sáng", "Uống", "Viên", Decimal(1)),
    "atorvastatin": Drug("40.493", "Atorvastatin", "10mg", "Uống 1 viên/ngày, tối", "Uống", "Viên", Decimal(1)),
    "budesonide_formoterol": Drug(
        "40.1004", "Budesonid + Formoterol", "160mcg/4.5mcg", "Hít 2 nhát x 2 lần/ngày", "Hít", "Liều", Decimal(4)
    ),
    "salbutamol": Drug("40.987", "Salbutamol", "100mcg", "Xịt 2 nhát khi khó thở", "Xịt", "Liều", Decimal(2)),
    "aspirin": Drug("40.4", "Acetylsalicylic acid", "81mg", "Uống 1 viên/ngày sau ăn", "Uống", "Viên", Decimal(1)),
    "clopidogrel": Drug("40.472", "Clopidogrel", "75mg", "Uống 1 viên/ngày", "Uống", "Viên", Decimal(1)),
    "amoxicillin": Drug("40.150", "Amoxicilin", "500mg", "Uống 1 viên x 3 lần/ngày", "Uống", "Viên", Decimal(3)),
    "cefuroxime": Drug("40.211", "Cefuroxim", "500mg", "Uống 1 viên x 2 lần/ngày", "Uống", "Viên", Decimal(2)),
    "ceftriaxone": Drug("40.195", "Ceftriaxon", "1g", "Tiêm tĩnh mạch 1 lọ x 2 lần/ngày", "Tiêm", "Lọ", Decimal(2)),
    "paracetamol": Drug("40.48", "Paracetamol", "500mg", "Uống 1 viên khi sốt trên 38.5 độ", "Uống", "Viên", Decimal(3)),
    "omeprazole": Drug("40.752", "Omeprazol", "20mg", "Uống 1 viên/ngày trước ăn sáng", "Uống", "Viên", Decimal(1)),
    "oresol": Drug("40.1040", "Oresol", "245mOsm", "Pha 1 gói với 200ml nước, uống sau mỗi lần đi ngoài", "Uống", "Gói", Decimal(3)),
    "saline": Drug("40.1053", "Natri clorid", "0.9% 500ml", "Truyền tĩnh mạch XXX giọt/phút", "Truyền", "Chai", Decimal(2)),
    "diclofenac": Drug("40.43", "Diclofenac", "50mg", "Uống 1 viên x 2 lần/ngày sau ăn", "Uống", "Viên", Decimal(2)),
    "loratadine": Drug("40.67", "Loratadin", "10mg", "Uống 1 viên/ngày", "Uống", "Viên", Decimal(1)),
    "vitamin_k1": Drug("40.1088", "Phytomenadion (vitamin K1)", "1mg/0.5ml", "Tiêm bắp 1 ống ngay sau sinh", "Tiêm", "Ống", Decimal(1)),
    "oxytocin": Drug("40.890", "Oxytocin", "5UI", "Tiêm bắp 1 ống sau sổ rau", "Tiêm", "Ống", Decimal(1)),
    "tobramycin_eye": Drug("40.1112", "Tobramycin", "0.3% 5ml", "Nhỏ mắt 1 giọt x 4 lần/ngày", "Nhỏ mắt", "Lọ", Decimal("0.2")),
}  # fmt: skip

SERVICES = {
    "exam": ServiceItem("02.1896", "Khám Nội"),
    "exam_paediatric": ServiceItem("02.1897", "Khám Nhi"),
    "blood_count": ServiceItem("22.0120.1369", "Tổng phân tích tế bào máu ngoại vi"),
    "chest_xray": ServiceItem("18.0071.0028", "Chụp X-quang ngực thẳng"),
    "ecg": ServiceItem("21.0014.1778", "Điện tim thường"),
    "abdominal_ultrasound": ServiceItem("18.0011.0001", "Siêu âm ổ bụng"),
    "head_ct": ServiceItem("18.0042.0001", "Chụp CT sọ não không tiêm thuốc cản quang"),
    "urinalysis": ServiceItem("23.0206.1596", "Tổng phân tích nước tiểu"),
    "bed_internal": ServiceItem("K03.1903", "Ngày giường bệnh Nội khoa"),
    "bed_surgical": ServiceItem("K19.1914", "Ngày giường bệnh Ngoại khoa"),
    "appendectomy": ServiceItem("10.0518.0471", "Phẫu thuật nội soi cắt ruột thừa"),
    "delivery": ServiceItem("13.0032.0600", "Đỡ đẻ thường ngôi chỏm"),
}


@dataclass(frozen=True, slots=True)
class ChronicCondition:
    code: str
    text: str
    drugs: tuple[str, ...]
    tests: tuple[str, ...]  # lab series followed every few months


CHRONIC = {
    "I10": ChronicCondition(
        "I10", "Tăng huyết áp vô căn (nguyên phát)", ("amlodipine", "losartan"), ("CRE",)
    ),
    "E11": ChronicCondition(
        "E11", "Bệnh đái tháo đường type 2", ("metformin", "gliclazide"), ("GLU", "HBA1C", "CRE", "PRO")
    ),
    "E78.5": ChronicCondition("E78.5", "Tăng lipid máu", ("atorvastatin",), ("CHOL",)),
    "J44.9": ChronicCondition(
        "J44.9", "Bệnh phổi tắc nghẽn mạn tính", ("budesonide_formoterol", "salbutamol"), ()
    ),
    "I25.9": ChronicCondition(
        "I25.9", "Bệnh tim thiếu máu cục bộ mạn", ("aspirin", "atorvastatin"), ("CHOL",)
    ),
    "N18.3": ChronicCondition("N18.3", "Bệnh thận mạn giai đoạn 3", (), ("CRE", "PRO")),
}


def chronic_conditions(age: int, sex: Sex, rng: random.Random) -> tuple[str, ...]:
    """Conditions managed with monthly visits; shares are of people under regular follow-up."""
    if age < 35:
        return ()
    older = age >= 60
    found: list[str] = []
    if rng.random() < (0.30 if older else 0.10):
        found.append("I10")
    if rng.random() < (0.12 if older else 0.05):
        found.append("E11")
    if found and rng.random() < 0.35:
        found.append("E78.5")
    if older and rng.random() < (0.07 if sex == Sex.MALE else 0.025):
        found.append("J44.9")
    if older and rng.random() < 0.03:
        found.append("I25.9")
    if rng.random() < (0.15 if "E11" in found else 0.01 if older else 0.0):
        found.append("N18.3")
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Illness:
    """An acute reason for a visit, with how it is treated."""

    code: str
    text: str
    weights: tuple[float, float, float, float]  # relative frequency at ages <6, 6-17, 18-59, 60+
    drugs: tuple[str, ...]
    services: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    admit: float = 0.0  # chance of admission when seen at a hospital
    stay_days: tuple[int, int] = (3, 6)
    transfer: float = 0.0  # chance an admitted patient is transferred to a higher level
    procedure: str | None = None  # ICD-9-CM
    sex: Sex | None = None
    ages: range = range(0, 130)
    course: tuple[str, ...] = field(default=())  # progress notes: admission, middle days, discharge


ILLNESSES: tuple[Illness, ...] = (
    Illness("J06.9", "Viêm đường hô hấp trên cấp", (30, 20, 10, 6), ("paracetamol", "loratadine"), admit=0.01),
    Illness(
        "J20.9", "Viêm phế quản cấp", (8, 5, 4, 6), ("amoxicillin", "paracetamol"), ("chest_xray",), admit=0.05,
        course=("Ho nhiều, sốt 38 độ, phổi ran rít", "Đỡ ho, hết sốt", "Ổn định, cho ra viện"),
    ),
    Illness(
        "J18.9", "Viêm phổi", (5, 1, 1.5, 5), ("ceftriaxone", "paracetamol", "saline"),
        ("chest_xray", "blood_count"), ("WBC", "CRP"), admit=0.6, stay_days=(5, 10), transfer=0.08,
        course=(
            "Sốt 38.5 độ, ho khạc đờm, ran nổ đáy phổi phải, SpO2 93%",
            "Còn sốt nhẹ, ho giảm, SpO2 96%",
            "Hết sốt, phổi thông khí tốt, cho ra viện",
        ),
    ),
    Illness(
        "A09", "Tiêu chảy và viêm dạ dày ruột", (10, 4, 3, 2), ("oresol",), admit=0.1, stay_days=(2, 4),
        course=("Đi ngoài phân lỏng 6 lần/ngày, dấu hiệu mất nước nhẹ", "Đi ngoài giảm", "Hết tiêu chảy, ăn uống được"),
    ),
    Illness("K29.7", "Viêm dạ dày", (0, 2, 8, 5), ("omeprazole",), ("abdominal_ultrasound",)),
    Illness("M54.5", "Đau thắt lưng", (0, 0.5, 6, 6), ("diclofenac",)),
    Illness("R51", "Đau đầu", (0, 1, 2, 1), ("paracetamol",)),
    Illness("N39.0", "Nhiễm trùng đường tiết niệu", (0.5, 0.5, 3, 2), ("cefuroxime",), ("urinalysis",), sex=Sex.FEMALE),
    Illness("H10.9", "Viêm kết mạc", (2, 2, 1, 0.5), ("tobramycin_eye",)),
    Illness("L30.9", "Viêm da", (1.5, 1.5, 1.5, 1.5), ("loratadine",)),
    Illness("S93.4", "Bong gân cổ chân", (0, 2, 2, 0.5), ("diclofenac",), ("chest_xray",)),
    Illness(
        "K35.8", "Viêm ruột thừa cấp", (0, 0.6, 0.6, 0.2), ("ceftriaxone", "saline"),
        ("abdominal_ultrasound", "blood_count", "appendectomy"), ("WBC",), admit=1.0, stay_days=(4, 7),
        procedure="47.01",
        course=("Đau hố chậu phải, sốt nhẹ, chỉ định mổ cấp cứu", "Sau mổ ngày 2, vết mổ khô", "Vết mổ liền tốt, cho ra viện"),
    ),
    Illness(
        "O80", "Đẻ thường một thai", (0, 0, 2.5, 0), ("oxytocin",), ("delivery",), admit=1.0, stay_days=(2, 4),
        procedure="73.59", sex=Sex.FEMALE, ages=range(18, 43),
        course=("Chuyển dạ, cổ tử cung mở 4cm", "Sau đẻ ngày 1, co hồi tử cung tốt", "Mẹ và con ổn định, cho ra viện"),
    ),
    Illness(
        "I63.9", "Nhồi máu não", (0, 0, 0.2, 1.2), ("aspirin", "clopidogrel", "atorvastatin", "saline"),
        ("head_ct", "ecg", "blood_count"), ("GLU", "CRE", "CHOL"), admit=1.0, stay_days=(7, 14), transfer=0.35,
        course=(
            "Liệt nửa người phải, nói khó, huyết áp 170/100 mmHg",
            "Tỉnh, liệt nửa người phải giảm nhẹ",
            "Vận động cải thiện, tiếp tục phục hồi chức năng tại nhà",
        ),
    ),
    Illness(
        "I21.9", "Nhồi máu cơ tim cấp", (0, 0, 0.15, 0.5), ("aspirin", "clopidogrel", "atorvastatin"),
        ("ecg", "blood_count"), ("CRE", "CHOL"), admit=1.0, stay_days=(5, 10), transfer=0.6,
        course=("Đau ngực trái dữ dội 2 giờ, ST chênh lên DII DIII aVF", "Hết đau ngực, huyết động ổn", "Ổn định, ra viện"),
    ),
)  # fmt: skip

# A birth at a maternity ward (`care.CareFlow`), never drawn as an acute illness: the mother's
# delivery, and each baby's own record (ICD-10 Z38.0 a singleton born in hospital, Z38.3 a twin).
# Mother and babies leave together, after the delivery's stay (DELIVERY.stay_days, twins too).
DELIVERY = next(illness for illness in ILLNESSES if illness.code == "O80")
DELIVERY_OF_TWINS = Illness(
    "O84.0", "Đẻ nhiều thai, tất cả đẻ thường", (0, 0, 0, 0), ("oxytocin",), ("delivery",), admit=1.0,
    stay_days=DELIVERY.stay_days, procedure="73.59", sex=Sex.FEMALE,
    course=("Chuyển dạ, song thai", "Sau đẻ ngày 1, co hồi tử cung tốt", "Mẹ và hai con ổn định, cho ra viện"),
)  # fmt: skip


def _born_in_hospital(code: str, text: str) -> Illness:
    course = ("Trẻ sơ sinh đủ tháng, khóc ngay sau sinh", "Bú mẹ tốt", "Trẻ ổn định, ra viện cùng mẹ")
    return Illness(code, text, (0, 0, 0, 0), ("vitamin_k1",), admit=1.0, course=course)


BORN_SINGLE = _born_in_hospital("Z38.0", "Trẻ sinh đơn, sinh tại bệnh viện")
BORN_TWIN = _born_in_hospital("Z38.3", "Trẻ sinh đôi, sinh tại bệnh viện")

_AGE_BANDS = (6, 18, 60)


def _band(age: int) -> int:
    return sum(age >= limit for limit in _AGE_BANDS)


_ILLNESS_TABLES: dict[tuple[int, Sex], Weighted[Illness]] = {
    (band, sex): Weighted(
        [(illness, illness.weights[band]) for illness in ILLNESSES if illness.sex in (None, sex)]
    )
    for band in range(len(_AGE_BANDS) + 1)
    for sex in (Sex.MALE, Sex.FEMALE)
}


def acute_illness(age: int, sex: Sex, rng: random.Random) -> Illness:
    table = _ILLNESS_TABLES[_band(age), sex]
    while True:
        illness = table.pick(rng)
        if age in illness.ages:
            return illness


def acute_visits_per_year(age: int) -> float:
    """Visits for acute illness at the province's facilities: young children and the old come most."""
    return (5.0, 2.0, 1.4, 2.6)[_band(age)]
