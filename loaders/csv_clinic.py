"""Small clinics' CSV exports: one row per visit, or per patient when the row has no visit id.

UTF-8 with or without a BOM; comma or semicolon (whichever the header line uses more). Columns
are found by name through the profile's `csv` table, comparing names without case, Vietnamese
accents, spaces, underscores or punctuation ("Họ tên" == "HO_TEN"); unknown columns are ignored.
The file is decoded chunk by chunk and fed to the csv module line by line, so quoted fields may
hold newlines and memory does not grow with the file. Rejections name columns as the file does.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from loaders.fields import FieldReader
from loaders.identifiers import PersonIdKind
from loaders.options import LoaderOptions, Profile
from loaders.records import (
    Address,
    Encounter,
    FileHeader,
    Patient,
    Reject,
    SourceFormat,
    SourceRecord,
    UnreadableFile,
)

CHUNK_BYTES = 64 * 1024
# One physical line beyond this is refused rather than held in memory (quoted newlines split lines).
MAX_LINE_CHARS = 1024 * 1024
REQUIRED_COLUMNS = ("local_id", "full_name")
VISIT_COLUMNS = (
    "visit_type",
    "admitted_at",
    "discharged_at",
    "main_diagnosis",
    "secondary_diagnoses",
    "diagnosis_text",
    "referred_from",
    "referred_to",
    "outcome",
)
# Spreadsheets kept by hand write the sex as a word; compared folded ("Nữ" -> "nu").
SEX_WORDS = {"nam": "1", "nu": "2", "male": "1", "female": "2", "m": "1", "f": "2"}
# Canonical model field -> the CSV column it comes from, to name columns in model-level errors.
_PATIENT_COLUMNS = {
    "facility_code": "facility_code",
    "local_id": "local_id",
    "full_name": "full_name",
    "birth_date": "birth_date",
    "sex": "sex",
    "citizen_id": "person_id",
    "old_id_number": "person_id",
    "passport_number": "person_id",
    "insurance_cards": "insurance_card",
    "social_insurance_number": "insurance_card",
    "phone": "phone",
    "address": "address",
}
_ENCOUNTER_COLUMNS = {
    "encounter_id": "encounter_id",
    "visit_type": "visit_type",
    "admitted_at": "admitted_at",
    "discharged_at": "discharged_at",
    "diagnoses": "main_diagnosis",
    "discharge_diagnosis_text": "diagnosis_text",
    "referred_from": "referred_from",
    "referred_to": "referred_to",
    "outcome": "outcome",
}
_DAY_FIRST = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def folded(name: str) -> str:
    """Lower case without Vietnamese accents, spaces, underscores or punctuation; đ -> d."""
    decomposed = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(char for char in decomposed.casefold() if char.isalnum())


def sniff_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def match_columns(header: Sequence[str], profile: Profile) -> dict[str, int]:
    """Canonical column -> its index in `header`, for the header cells the profile names."""
    known = {folded(alias): column for column, aliases in profile.csv_columns.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = known.get(folded(cell))
        if column is None:
            continue
        if column in found:
            raise UnreadableFile(f"columns {header[found[column]]!r} and {cell!r} both give {column}")
        found[column] = index
    return found


@dataclass(frozen=True)
class _Columns:
    """Where each canonical column is in this file, and what the file calls it."""

    index: dict[str, int]
    header: list[str]
    profile: Profile

    def value(self, row: list[str], column: str) -> str | None:
        where = self.index.get(column)
        return row[where] if where is not None and where < len(row) else None  # a short row is rejected

    def label(self, column: str) -> str:
        where = self.index.get(column)
        return self.header[where].strip() if where is not None else self.profile.csv_columns[column][0]

    def labels(self, model_columns: dict[str, str]) -> dict[str, str]:
        return {field: self.label(column) for field, column in model_columns.items()}


def read_csv(stream: BinaryIO, options: LoaderOptions) -> Iterator[FileHeader | SourceRecord | Reject]:
    lines = _decoded_lines(stream)
    header_line = next(lines, None)
    if header_line is None:
        raise UnreadableFile("the file is empty: no header line")
    delimiter = sniff_delimiter(header_line)
    rows = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
    header = next(rows)
    columns = _Columns(match_columns(header, options.profile), header, options.profile)
    missing = [column for column in REQUIRED_COLUMNS if column not in columns.index]
    if missing:
        names = ", ".join(f"{columns.label(column)} ({column})" for column in missing)
        raise UnreadableFile(f"missing required columns: {names}")
    if "facility_code" not in columns.index and options.facility_code is None:
        raise UnreadableFile(
            f"no facility code: the file has no {columns.label('facility_code')} column and none was declared"
        )
    yield FileHeader(format=SourceFormat.CSV, facility_code=options.facility_code)
    position = 0
    end_line = rows.line_num
    try:
        for row in rows:
            start_line, end_line = end_line + 1, rows.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank lines, and the empty ;;; rows spreadsheets leave at the end
            position += 1
            yield _read_row(row, columns, position, f"line {start_line}", delimiter, options)
    except csv.Error as error:  # a field beyond csv.field_size_limit(), e.g. an unclosed quote
        raise UnreadableFile(f"line {rows.line_num}: not readable as CSV: {error}") from None


def _decoded_lines(stream: BinaryIO) -> Iterator[str]:
    """The file decoded as UTF-8 chunk by chunk, cut after each '\\n' (the csv module joins quoted ones)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = 0
    partial = ""
    while True:
        chunk = stream.read(CHUNK_BYTES)
        data = chunk.removeprefix(codecs.BOM_UTF8) if consumed == 0 else chunk
        consumed += len(chunk)
        try:
            text = decoder.decode(data, final=not chunk)
        except UnicodeDecodeError as error:
            # error.object is the decoder's held-back bytes followed by this chunk's
            raise UnreadableFile(
                f"not UTF-8 (byte offset {consumed - len(error.object) + error.start})"
            ) from None
        *lines, partial = (partial + text).split("\n")
        yield from (line + "\n" for line in lines)
        if len(partial) > MAX_LINE_CHARS:
            raise UnreadableFile(
                f"a line longer than {MAX_LINE_CHARS} characters near byte offset {consumed}"
            )
        if not chunk:
            break
    if partial:
        yield partial


def _read_row(
    row: list[str], columns: _Columns, position: int, locator: str, delimiter: str, options: LoaderOptions
) -> SourceRecord | Reject:
    reader = FieldReader()
    excerpt = delimiter.join(row)
    keys = {
        "facility_code": reader.text(columns.value(row, "facility_code")) or options.facility_code,
        "local_id": reader.text(columns.value(row, "local_id")),
        "encounter_id": reader.text(columns.value(row, "encounter_id")),
    }
    if len(row) != len(columns.header):
        reader.errors.append(f"{len(row)} fields, expected {len(columns.header)} as in the header")
        return reader.reject(position, locator, excerpt, **keys)
    patient = _patient_values(row, columns, reader, options, locator)
    encounter = _encounter_values(row, columns, reader) if keys["encounter_id"] else None
    if encounter is None:
        _check_no_visit_data(row, columns, reader)
    if not reader.errors:
        built_patient = reader.build(Patient, columns.labels(_PATIENT_COLUMNS), **patient)
        built_encounter = (
            reader.build(Encounter, columns.labels(_ENCOUNTER_COLUMNS), **encounter) if encounter else None
        )
        if built_patient is not None and not reader.errors:
            return SourceRecord(
                position=position, locator=locator, patient=built_patient, encounter=built_encounter
            )
    return reader.reject(position, locator, excerpt, **keys)


def _patient_values(
    row: list[str], columns: _Columns, reader: FieldReader, options: LoaderOptions, locator: str
) -> dict[str, object]:
    def value(column: str) -> str | None:
        return columns.value(row, column)

    facility = _facility(value("facility_code"), columns.label("facility_code"), reader, options, locator)
    person_ids = reader.person_ids(columns.label("person_id"), value("person_id"))
    cards = reader.insurance_cards(columns.label("insurance_card"), value("insurance_card"))
    sex = reader.text(value("sex"))
    return {
        "facility_code": facility,
        "local_id": reader.required(columns.label("local_id"), value("local_id")),
        "full_name": reader.required(columns.label("full_name"), value("full_name")),
        "birth_date": reader.birth_date(columns.label("birth_date"), value("birth_date")),
        "sex": reader.sex(columns.label("sex"), SEX_WORDS.get(folded(sex), sex) if sex else None),
        "citizen_id": person_ids.get(PersonIdKind.CITIZEN_ID),
        "old_id_number": person_ids.get(PersonIdKind.OLD_ID_CARD),
        "passport_number": person_ids.get(PersonIdKind.PASSPORT),
        "insurance_cards": tuple(card.code for card in cards),
        "social_insurance_number": cards[0].social_insurance_number if cards else None,
        "phone": reader.phone(value("phone")),
        "address": Address(
            text=reader.text(value("address")),
            province_code=reader.text(value("province_code")),
            district_code=reader.text(value("district_code")),
            commune_code=reader.text(value("commune_code")),
        ),
    }


def _facility(
    raw: str | None, label: str, reader: FieldReader, options: LoaderOptions, locator: str
) -> str | None:
    """The row's facility column, else the declared facility; a row naming another facility spoils the file."""
    if reader.text(raw) is None:
        if options.facility_code is None:
            reader.errors.append(f"{label}: missing")
        return options.facility_code
    code = reader.facility(label, raw)
    if code is not None and options.facility_code is not None and code != options.facility_code:
        raise UnreadableFile(
            f"{locator}: facility {code} is not the declared facility {options.facility_code}"
        )
    return code


def _encounter_values(row: list[str], columns: _Columns, reader: FieldReader) -> dict[str, object]:
    def value(column: str) -> str | None:
        return columns.value(row, column)

    def label(column: str) -> str:
        return columns.label(column)

    return {
        "encounter_id": reader.required(label("encounter_id"), value("encounter_id")),
        "visit_type": reader.code(label("visit_type"), value("visit_type"), 2),
        "admitted_at": _timestamp(reader, label("admitted_at"), value("admitted_at")),
        "discharged_at": _timestamp(reader, label("discharged_at"), value("discharged_at")),
        "diagnoses": tuple(
            reader.diagnoses(
                label("main_diagnosis"),
                value("main_diagnosis"),
                label("secondary_diagnoses"),
                value("secondary_diagnoses"),
            )
        ),
        "discharge_diagnosis_text": reader.text(value("diagnosis_text")),
        "referred_from": reader.facility(label("referred_from"), value("referred_from")),
        "referred_to": reader.facility(label("referred_to"), value("referred_to")),
        "outcome": reader.integer(label("outcome"), value("outcome"), range(1, 9)),
    }


def _check_no_visit_data(row: list[str], columns: _Columns, reader: FieldReader) -> None:
    """A row without a visit id is a patient only; visit data on it would be lost, so it is refused."""
    filled = [columns.label(column) for column in VISIT_COLUMNS if reader.text(columns.value(row, column))]
    if filled:
        reader.errors.append(
            f"{columns.label('encounter_id')}: missing, but the row has visit data ({', '.join(filled)})"
        )


def _timestamp(reader: FieldReader, label: str, raw: str | None) -> datetime | None:
    """loaders.dates reads compact and ISO times; spreadsheets also write dd/mm/yyyy [HH:mm[:ss]]."""
    match = _DAY_FIRST.fullmatch(raw.strip()) if raw else None
    if match is None:
        return reader.timestamp(label, raw)
    day, month, year, hour, minute, second = match.groups()
    time = f"T{int(hour):02d}:{minute}:{second or '00'}" if hour else ""
    return reader.timestamp(label, f"{year}-{int(month):02d}-{int(day):02d}{time}")
