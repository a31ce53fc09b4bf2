"""Writing XML 130 files from canonical records: the inverse of loaders.xml130.read_xml130.

For synthetic data and tests. Each record becomes one HOSO with its XML1 visit summary and,
when the encounter has rows, XML2..XML5; elements carry the standard's (3176) names, dates
its 12-character form. Strings are written exactly as the record holds them (NFD, capitals,
odd spacing), escaped. What XML 130 cannot carry is not written: seconds, diagnosis texts,
more than one of citizen ID / old ID card / passport (the first wins), skipped tables.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import BinaryIO

from pydantic import BaseModel

from loaders.dates import BirthDate
from loaders.records import Encounter, Patient, SourceRecord
from loaders.xml130 import ENVELOPE_ROOT, ROW_TABLES, SUMMARY_ROOT, SUMMARY_TABLE
from loaders.xml130_rows import RowTable

_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Value = str | int | Decimal | datetime | None


def write_xml130(
    records: Sequence[SourceRecord], out: BinaryIO, *, facility_code: str, created_at: datetime
) -> None:
    """One envelope holding one HOSO per record (each record needs an encounter: XML 130 is per episode).

    Records are written one at a time, so a lazily computed Sequence keeps memory small.
    """
    out.write(
        f"{_DECLARATION}<{ENVELOPE_ROOT}>"
        f"<THONGTINDONVI>{_element('MACSKCB', facility_code)}</THONGTINDONVI>"
        f"<THONGTINHOSO>{_element('NGAYLAP', created_at)}{_element('SOLUONGHOSO', len(records))}"
        "<DANHSACHHOSO>".encode()
    )
    for record in records:
        files = b"".join(
            b"<FILEHOSO><LOAIHOSO>%s</LOAIHOSO><NOIDUNGFILE>%s</NOIDUNGFILE></FILEHOSO>"
            % (kind.encode(), base64.b64encode(f"{_DECLARATION}{table}".encode()))
            for kind, table in _tables(record)
        )
        out.write(b"<HOSO>" + files + b"</HOSO>")
    out.write(f"</DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI></CHUKYDONVI></{ENVELOPE_ROOT}>".encode())


def _tables(record: SourceRecord) -> list[tuple[str, str]]:
    """(LOAIHOSO, inner XML) of the record's tables; detail tables only when they have rows."""
    encounter = record.encounter
    if encounter is None:
        raise ValueError(f"record {record.locator} has no encounter: XML 130 files hold treatment episodes")
    tables = [(SUMMARY_TABLE, _group(SUMMARY_ROOT, _summary(record.patient, encounter)))]
    for table in ROW_TABLES:
        rows: tuple[BaseModel, ...] = getattr(encounter, table.attribute)
        if rows:
            tables.append(
                (table.name, _group(table.root, _group(table.wrapper, _rows(table, rows, encounter))))
            )
    return tables


def _summary(patient: Patient, encounter: Encounter) -> str:
    main = [diagnosis.code for diagnosis in encounter.diagnoses if diagnosis.is_main]
    others = [diagnosis.code for diagnosis in encounter.diagnoses if not diagnosis.is_main]
    address = patient.address
    return "".join(
        _element(name, value)
        for name, value in (
            ("MA_LK", encounter.encounter_id),
            ("STT", 1),
            ("MA_BN", patient.local_id),
            ("HO_TEN", patient.full_name),
            ("SO_CCCD", patient.citizen_id or patient.old_id_number or patient.passport_number),
            ("NGAY_SINH", _birth_date(patient.birth_date)),
            ("GIOI_TINH", patient.sex),
            ("MA_QUOCTICH", patient.nationality_code),
            ("MA_DANTOC", patient.ethnicity_code),
            ("MA_NGHE_NGHIEP", patient.occupation_code),
            ("DIA_CHI", address.text),
            ("MATINH_CU_TRU", address.province_code),
            ("MAHUYEN_CU_TRU", address.district_code),
            ("MAXA_CU_TRU", address.commune_code),
            ("DIEN_THOAI", patient.phone),
            ("MA_THE_BHYT", ";".join(patient.insurance_cards)),
            ("CHAN_DOAN_VAO", encounter.admission_diagnosis_text),
            ("CHAN_DOAN_RV", encounter.discharge_diagnosis_text),
            ("MA_BENH_CHINH", ";".join(main)),
            ("MA_BENH_KT", ";".join(others)),
            ("MA_PTTT_QT", ";".join(encounter.procedures)),
            ("MA_NOI_DI", encounter.referred_from),
            ("MA_NOI_DEN", encounter.referred_to),
            ("NGAY_VAO", encounter.admitted_at),
            ("NGAY_VAO_NOI_TRU", encounter.inpatient_at),
            ("NGAY_RA", encounter.discharged_at),
            ("GIAY_CHUYEN_TUYEN", encounter.referral_paper),
            ("KET_QUA_DTRI", encounter.outcome),
            ("MA_LOAI_RV", encounter.discharge_type),
            ("MA_LOAI_KCB", encounter.visit_type),
            ("MA_KHOA", ";".join(encounter.departments)),
            ("MA_CSKCB", patient.facility_code),
            ("MA_HSBA", encounter.record_number),
        )
    )


def _rows(table: RowTable, rows: tuple[BaseModel, ...], encounter: Encounter) -> str:
    return "".join(
        _group(
            table.row,
            _element("MA_LK", encounter.encounter_id)
            + _element("STT", number)
            + "".join(_element(column.element, getattr(row, column.attribute)) for column in table.columns),
        )
        for number, row in enumerate(rows, 1)
    )


def _birth_date(born: BirthDate | None) -> str | None:
    """yyyyMMdd0000; an unknown month or day is written as 00 (year-only: yyyy00000000)."""
    if born is None:
        return None
    return f"{born.year:04d}{born.month or 0:02d}{born.day or 0:02d}0000"


def _group(name: str, content: str) -> str:
    return f"<{name}>{content}</{name}>"


def _element(name: str, value: Value) -> str:
    return f"<{name}>{_escape(_format(value))}</{name}>"


def _format(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d%H%M")
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation
    if isinstance(value, int):
        return str(int(value))  # IntEnum (Sex) as its code
    return value


def _escape(text: str) -> str:
    if _NOT_XML.search(text):
        raise ValueError(f"{text[:40]!r} holds a control character that XML 1.0 cannot carry")
    # A carriage return would come back as a line feed unless written as a reference.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
