"""The facilities that post files: which kind, which format, where, and how careful they are.

The first facilities are the two provincial hospitals (old Bắc Ninh 27001, old Bắc Giang 24001),
a clinic and a private hospital, so even a small province has all three formats; more add
district medical centres, clinics and private hospitals in turn. Hospitals send XML 130,
private hospitals FHIR R4 NDJSON, small clinics CSV. Bạch Mai (central, in Hà Nội) receives
referrals but posts nothing to the province. Facilities keep their pre-merger 5-character codes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from itertools import cycle, islice

from loaders.records import SourceFormat
from synth.admin_units import COMMUNES
from synth.noise import Noise, NoiseProfile
from synth.rng import stream


class FacilityKind(StrEnum):
    PROVINCIAL_HOSPITAL = "provincial_hospital"
    MEDICAL_CENTRE = "district_medical_centre"
    PRIVATE_HOSPITAL = "private_hospital"
    CLINIC = "private_clinic"
    CENTRAL_HOSPITAL = "central_hospital"


FORMATS = {
    FacilityKind.PROVINCIAL_HOSPITAL: SourceFormat.XML130,
    FacilityKind.MEDICAL_CENTRE: SourceFormat.XML130,
    FacilityKind.PRIVATE_HOSPITAL: SourceFormat.FHIR,
    FacilityKind.CLINIC: SourceFormat.CSV,
}
EXTENSIONS = {SourceFormat.XML130: "xml", SourceFormat.FHIR: "ndjson", SourceFormat.CSV: "csv"}

# Base noise rates by kind. Hospitals scan the citizen-ID card's QR code and use EMR software with
# Vietnamese input; clinics type by hand into older software. Per registration unless noted.
_BASE_RATES: dict[FacilityKind, dict[Noise, float]] = {
    FacilityKind.PROVINCIAL_HOSPITAL: {
        Noise.NAME_NO_DIACRITICS: 0.01, Noise.NAME_UPPER: 0.02, Noise.NAME_NFD: 0.0,
        Noise.NAME_TYPO: 0.01, Noise.NAME_EXTRA_SPACES: 0.02, Noise.NAME_MIDDLE_DROPPED: 0.005,
        Noise.NAME_SWAPPED: 0.002, Noise.NAME_SPELLING_VARIANT: 0.02, Noise.BIRTH_DAY_MONTH_SWAPPED: 0.005,
        Noise.BIRTH_YEAR_ONLY: 0.05, Noise.CITIZEN_ID_TYPO: 0.003, Noise.CHILD_UNDER_PARENT_ID: 0.02,
        Noise.DUPLICATE_REGISTRATION: 0.01,
        # per record
        Noise.CITIZEN_ID_MISSING: 0.10, Noise.RESENT_CORRECTION: 0.02, Noise.ADDRESS_OLD_FORM: 0.05,
    },
    FacilityKind.MEDICAL_CENTRE: {
        Noise.NAME_NO_DIACRITICS: 0.03, Noise.NAME_UPPER: 0.05, Noise.NAME_NFD: 0.0,
        Noise.NAME_TYPO: 0.02, Noise.NAME_EXTRA_SPACES: 0.03, Noise.NAME_MIDDLE_DROPPED: 0.01,
        Noise.NAME_SWAPPED: 0.003, Noise.NAME_SPELLING_VARIANT: 0.04, Noise.BIRTH_DAY_MONTH_SWAPPED: 0.01,
        Noise.BIRTH_YEAR_ONLY: 0.10, Noise.CITIZEN_ID_TYPO: 0.006, Noise.CHILD_UNDER_PARENT_ID: 0.05,
        Noise.DUPLICATE_REGISTRATION: 0.02,
        Noise.CITIZEN_ID_MISSING: 0.15, Noise.RESENT_CORRECTION: 0.03, Noise.ADDRESS_OLD_FORM: 0.15,
    },
    FacilityKind.PRIVATE_HOSPITAL: {
        Noise.NAME_NO_DIACRITICS: 0.01, Noise.NAME_UPPER: 0.01, Noise.NAME_NFD: 0.08,
        Noise.NAME_TYPO: 0.015, Noise.NAME_EXTRA_SPACES: 0.03, Noise.NAME_MIDDLE_DROPPED: 0.01,
        Noise.NAME_SWAPPED: 0.01, Noise.NAME_SPELLING_VARIANT: 0.03, Noise.BIRTH_DAY_MONTH_SWAPPED: 0.01,
        Noise.BIRTH_YEAR_ONLY: 0.03, Noise.CITIZEN_ID_TYPO: 0.005, Noise.CHILD_UNDER_PARENT_ID: 0.03,
        Noise.DUPLICATE_REGISTRATION: 0.015,
        Noise.CITIZEN_ID_MISSING: 0.20, Noise.RESENT_CORRECTION: 0.02, Noise.ADDRESS_OLD_FORM: 0.10,
    },
    FacilityKind.CLINIC: {
        Noise.NAME_NO_DIACRITICS: 0.15, Noise.NAME_UPPER: 0.15, Noise.NAME_NFD: 0.02,
        Noise.NAME_TYPO: 0.04, Noise.NAME_EXTRA_SPACES: 0.05, Noise.NAME_MIDDLE_DROPPED: 0.03,
        Noise.NAME_SWAPPED: 0.01, Noise.NAME_SPELLING_VARIANT: 0.05, Noise.BIRTH_DAY_MONTH_SWAPPED: 0.02,
        Noise.BIRTH_YEAR_ONLY: 0.15, Noise.CITIZEN_ID_TYPO: 0.015, Noise.CHILD_UNDER_PARENT_ID: 0.10,
        Noise.DUPLICATE_REGISTRATION: 0.03,
        Noise.CITIZEN_ID_MISSING: 0.35, Noise.RESENT_CORRECTION: 0.03, Noise.ADDRESS_OLD_FORM: 0.30,
    },
}  # fmt: skip
# Kinds added later, their factors drawn from a stream of their own (so every facility keeps the
# rates above, and a province its bytes, as they were). Spreadsheet damage is a clinic's: its
# patient list kept in a spreadsheet with IDs and phones typed as numbers (leading zeros lost;
# a long number in a narrow column saved as 2.4185E+10). Full-width digits come from input
# methods and pasted documents; a miscoded sex from a slip at the desk.
_LATER_BASE_RATES: dict[FacilityKind, dict[Noise, float]] = {
    FacilityKind.PROVINCIAL_HOSPITAL: {
        Noise.EXCEL_LEADING_ZERO: 0.0, Noise.CITIZEN_ID_SCIENTIFIC: 0.0,
        Noise.CITIZEN_ID_FULL_WIDTH: 0.0005, Noise.SEX_MISCODED: 0.002,
    },
    FacilityKind.MEDICAL_CENTRE: {
        Noise.EXCEL_LEADING_ZERO: 0.0, Noise.CITIZEN_ID_SCIENTIFIC: 0.0,
        Noise.CITIZEN_ID_FULL_WIDTH: 0.0005, Noise.SEX_MISCODED: 0.004,
    },
    FacilityKind.PRIVATE_HOSPITAL: {
        Noise.EXCEL_LEADING_ZERO: 0.0, Noise.CITIZEN_ID_SCIENTIFIC: 0.0,
        Noise.CITIZEN_ID_FULL_WIDTH: 0.002, Noise.SEX_MISCODED: 0.003,
    },
    FacilityKind.CLINIC: {
        Noise.EXCEL_LEADING_ZERO: 0.04, Noise.CITIZEN_ID_SCIENTIFIC: 0.004,
        Noise.CITIZEN_ID_FULL_WIDTH: 0.002, Noise.SEX_MISCODED: 0.006,
    },
}  # fmt: skip
# Kinds added with issue 18, from a stream of their own again. A baby not yet named is recorded
# under the mother's name: always at the ward it was born in (`care.CareFlow`), elsewhere at these
# rates (of its records before its birth is registered, `recording.named_on`), most at the
# hospitals with maternity wards; a keyboard whose Vietnamese input was off for one word leaves
# Telex keys in the name (Nguyeenx), and some desks type only some words with their marks.
_NEWER_BASE_RATES: dict[FacilityKind, dict[Noise, float]] = {
    FacilityKind.PROVINCIAL_HOSPITAL: {
        Noise.NEWBORN_MOTHER_NAME: 0.6, Noise.NAME_TELEX: 0.003, Noise.NAME_PARTLY_UNACCENTED: 0.005,
    },
    FacilityKind.MEDICAL_CENTRE: {
        Noise.NEWBORN_MOTHER_NAME: 0.5, Noise.NAME_TELEX: 0.005, Noise.NAME_PARTLY_UNACCENTED: 0.01,
    },
    FacilityKind.PRIVATE_HOSPITAL: {
        Noise.NEWBORN_MOTHER_NAME: 0.5, Noise.NAME_TELEX: 0.005, Noise.NAME_PARTLY_UNACCENTED: 0.01,
    },
    FacilityKind.CLINIC: {
        Noise.NEWBORN_MOTHER_NAME: 0.3, Noise.NAME_TELEX: 0.02, Noise.NAME_PARTLY_UNACCENTED: 0.03,
    },
}  # fmt: skip
# Some facilities' software capitalises every name: then nearly all their names are upper case.
_CAPITALS_CONVENTION = {FacilityKind.MEDICAL_CENTRE: 0.2, FacilityKind.CLINIC: 0.3}

# How much each kind is used, relative: district centres see most people, then the provincial hospitals.
VISIT_WEIGHTS = {
    FacilityKind.PROVINCIAL_HOSPITAL: 3.0,
    FacilityKind.MEDICAL_CENTRE: 4.0,
    FacilityKind.PRIVATE_HOSPITAL: 2.0,
    FacilityKind.CLINIC: 2.0,
}

BACH_MAI_CODE = "01929"


# How many columns a clinic's software splits the name into: 1 (ho_ten), 2 ("Họ và tên đệm" +
# "Tên"; Last name + First name) or 3 ("Họ" + "Tên đệm" + "Tên"; Last, Middle, First name).
NAME_COLUMNS = ((1, 0.6), (2, 0.3), (3, 0.1))
# On a night without visits a facility's export job sometimes posts an empty file rather than
# nothing: each facility does so on a share of its quiet nights drawn in this range.
EMPTY_FILE_SHARE = (0.2, 0.8)


@dataclass(frozen=True)
class CsvLayout:
    english: bool
    delimiter: str
    bom: bool
    name_columns: int = 1


@dataclass(frozen=True)
class Facility:
    code: str
    name: str
    kind: FacilityKind
    province_code: str  # pre-merger province of the facility's code: 27 or 24 (01 for Bạch Mai)
    district_code: str | None
    noise: NoiseProfile
    csv_layout: CsvLayout | None = None
    empty_file_share: float = 0.0  # of its nights without records, those it posts an empty file

    @property
    def format(self) -> SourceFormat | None:
        """What it posts to the provincial registry; None for facilities outside the province."""
        return FORMATS.get(self.kind)

    @property
    def has_beds(self) -> bool:
        return self.kind != FacilityKind.CLINIC

    def file_name(self) -> str:
        assert self.format is not None
        return f"{self.code}.{EXTENSIONS[self.format]}"


_OPENING = (
    FacilityKind.PROVINCIAL_HOSPITAL, FacilityKind.CLINIC, FacilityKind.PRIVATE_HOSPITAL,
    FacilityKind.PROVINCIAL_HOSPITAL, FacilityKind.MEDICAL_CENTRE, FacilityKind.CLINIC,
)  # fmt: skip
_THEN = (
    FacilityKind.MEDICAL_CENTRE, FacilityKind.CLINIC, FacilityKind.MEDICAL_CENTRE,
    FacilityKind.PRIVATE_HOSPITAL, FacilityKind.CLINIC,
)  # fmt: skip
_PROVINCIAL = (
    ("27", "256", "Bệnh viện Đa khoa tỉnh Bắc Ninh"),
    ("24", "213", "Bệnh viện Đa khoa tỉnh Bắc Giang"),
)
# Districts in the order facilities open there, alternating between the two old provinces.
_DISTRICT_ORDER = (
    "261", "222", "259", "223", "262", "217", "260", "216", "258", "218", "263", "219", "264", "215",
    "256", "213", "220", "224",
)  # fmt: skip
_DISTRICTS = {c.old_district_code: (c.old_province_code, c.old_district_name) for c in COMMUNES}
_PRIVATE_HOSPITAL_NAMES = ("Kinh Bắc", "Hồng Phúc", "Thành An", "Sông Thương", "Hà Bắc", "Quốc tế Tâm Đức")
_CLINIC_NAMES = ("An Phúc", "Tâm An", "Bình An", "Thiện Nhân", "Hòa Hảo", "Việt Hàn", "Phúc Lâm", "Minh Tâm")


def facility_kinds(count: int) -> list[FacilityKind]:
    return list(islice(_OPENING, count)) + list(islice(cycle(_THEN), max(count - len(_OPENING), 0)))


def build_facilities(count: int, seed: int) -> tuple[Facility, ...]:
    """`count` posting facilities, then Bạch Mai."""
    serials = {"27": 1, "24": 1}  # 001 is the provincial hospital's
    districts = cycle(_DISTRICT_ORDER)
    built: list[Facility] = []
    for i, kind in enumerate(facility_kinds(count)):
        rng = stream(seed, "facility", i)
        later = stream(seed, "facility", i, "later")  # draws added after the first release
        newer = stream(seed, "facility", i, "issue 18")  # and after those
        if kind == FacilityKind.PROVINCIAL_HOSPITAL:
            province, district, name = _PROVINCIAL[sum(f.kind == kind for f in built) % 2]
            serial = 1
        else:
            district = next(districts)
            province, district_name = _DISTRICTS[district]
            name = _name(kind, district_name, sum(f.kind == kind for f in built))
            serials[province] += 1
            serial = serials[province]
        built.append(
            Facility(
                code=f"{province}{serial:03d}",
                name=name,
                kind=kind,
                province_code=province,
                district_code=district,
                noise=_profile(kind, rng, later, newer),
                csv_layout=_csv_layout(rng, later) if FORMATS[kind] == SourceFormat.CSV else None,
                empty_file_share=later.uniform(*EMPTY_FILE_SHARE),
            )
        )
    bach_mai = Facility(
        BACH_MAI_CODE, "Bệnh viện Bạch Mai", FacilityKind.CENTRAL_HOSPITAL, "01", None, NoiseProfile({})
    )
    return (*built, bach_mai)


def _name(kind: FacilityKind, district_name: str, nth: int) -> str:
    if kind == FacilityKind.MEDICAL_CENTRE:
        return f"Trung tâm Y tế {district_name[0].lower()}{district_name[1:]}"
    names = _PRIVATE_HOSPITAL_NAMES if kind == FacilityKind.PRIVATE_HOSPITAL else _CLINIC_NAMES
    prefix = "Bệnh viện Đa khoa" if kind == FacilityKind.PRIVATE_HOSPITAL else "Phòng khám Đa khoa"
    suffix = f" {nth // len(names) + 1}" if nth >= len(names) else ""
    return f"{prefix} {names[nth % len(names)]}{suffix}"


def _profile(
    kind: FacilityKind, rng: random.Random, later: random.Random, newer: random.Random
) -> NoiseProfile:
    profile = NoiseProfile.around(_BASE_RATES[kind], rng)
    rates = {
        **profile.rates,
        **NoiseProfile.around(_LATER_BASE_RATES[kind], later).rates,
        **NoiseProfile.around(_NEWER_BASE_RATES[kind], newer).rates,
    }
    if rng.random() < _CAPITALS_CONVENTION.get(kind, 0.0):
        rates[Noise.NAME_UPPER] = 0.95
    return NoiseProfile(rates)


def _csv_layout(rng: random.Random, later: random.Random) -> CsvLayout:
    english, delimiter, bom = rng.random() < 0.3, ";" if rng.random() < 0.3 else ",", rng.random() < 0.4
    name_columns = later.choices([n for n, _ in NAME_COLUMNS], weights=[w for _, w in NAME_COLUMNS])[0]
    return CsvLayout(english=english, delimiter=delimiter, bom=bom, name_columns=name_columns)
