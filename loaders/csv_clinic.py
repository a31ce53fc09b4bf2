"""Small clinics' CSV exports: one row per visit, or per patient when the row has no visit id.

UTF-8 with or without a BOM; comma or semicolon (whichever the header line uses more). Columns
are found by name through the profile's `csv` table, comparing names without case, Vietnamese
accents, spaces, underscores or punctuation ("Họ tên" == "HO_TEN"); unknown columns are ignored.
A field the file splits over several columns ("Họ và tên đệm" + "Tên", "Ngày vào" + "Giờ vào")
is composed from them as the profile's `csv.compose` table says (`_Columns`).
The file is decoded chunk by chunk and fed to the csv module line by line, so quoted fields may
hold newlines and memory does not grow with the file. Rejections name columns as the file does.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from loaders.fields import FieldReader
from loaders.identifiers import PersonIdKind
from loaders.options import LoaderOptions, Profile, folded
from loaders.records import (
    Encounter,
    FileHeader,
    Patient,
    Reject,
    SourceFormat,
    SourceRecord,
    UnreadableFile,
)
from loaders.text import clean_text

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
# A date, then a clock time H:mm[:ss] (a date column and its time column joined give "12/03/2025 8:30").
_WITH_TIME = re.compile(r"(.+?)[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
_DAY_FIRST = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_COMPACT_DAY = re.compile(r"(\d{4})(\d{2})(\d{2})")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def sniff_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def match_columns(header: Sequence[str], profile: Profile) -> dict[str, int]:
    """Column (canonical or part) -> its index in `header`, for the header cells the profile names."""
    known = {
        folded(alias): column
        for column, aliases in (profile.csv_columns | profile.csv_parts).items()
        for alias in aliases
    }
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = known.get(folded(cell))
        if column is None:
            continue
        if column in found:
            raise UnreadableFile(f"columns {header[found[column]]!r} and {cell!r} both give {column}")
        found[column] = index
    return found


def compositions(found: Mapping[str, int], profile: Profile) -> dict[str, tuple[str, ...]]:
    """Field -> the columns it is composed from, in a file with the `found` columns.

    The first of the field's alternatives whose columns the file all has. When the file has the
    field's own column, only an alternative using that column counts (a date beside its time):
    otherwise the whole column is read as it is.
    """
    chosen: dict[str, tuple[str, ...]] = {}
    for column, composition in profile.csv_compose.items():
        for parts in composition.alternatives:
            if all(part in found for part in parts) and (column not in found or column in parts):
                chosen[column] = parts
                break
    return chosen


def given_columns(header: Sequence[str], profile: Profile) -> set[str]:
    """The canonical columns a header gives, whole or composed (a lone part column gives none)."""
    found = match_columns(header, profile)
    return (found.keys() & profile.csv_columns.keys()) | compositions(found, profile).keys()


@dataclass(frozen=True)
class _Columns:
    """Where each column is in this file, what the file calls it, and the fields it splits.

    `composed`: field -> its part columns, for the fields this file gives in parts; the field's
    value is their non-empty cells joined by a space, and its label their headers joined by " + ".
    """

    index: dict[str, int]
    header: list[str]
    profile: Profile
    composed: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, header: list[str], profile: Profile) -> _Columns:
        index = match_columns(header, profile)
        return cls(index, header, profile, compositions(index, profile))

    def gives(self, column: str) -> bool:
        return column in self.index or column in self.composed

    def value(self, row: list[str], column: str) -> str | None:
        parts = self.composed.get(column)
        if parts is None:
            return self._cell(row, column)
        return " ".join(text for part in parts if (text := clean_text(self._cell(row, part)))) or None

    def label(self, column: str) -> str:
        parts = self.composed.get(column)
        if parts is not None:
            return " + ".join(self._heading(part) for part in parts)
        return self._heading(column) if column in self.index else self.profile.csv_columns[column][0]

    def expected(self, column: str) -> str:
        """What a file lacking `column` should have: "ho_ten (full_name) or ho_va_ten_dem + ten / ..."."""
        names = self.profile.csv_columns | self.profile.csv_parts
        composition = self.profile.csv_compose.get(column)
        splits = [parts for parts in composition.alternatives if column not in parts] if composition else []
        either = " / ".join(" + ".join(names[part][0] for part in parts) for parts in splits)
        return f"{names[column][0]} ({column})" + (f" or {either}" if either else "")

    def check_parts(self, row: list[str], reader: FieldReader) -> None:
        """A row filling part of a split field must fill its required parts ("Tên: missing")."""
        for column, parts in self.composed.items():
            filled = {part for part in parts if clean_text(self._cell(row, part))}
            if filled:
                unfilled = self.profile.csv_compose[column].required - filled
                reader.errors.extend(f"{self._heading(part)}: missing" for part in parts if part in unfilled)

    def _cell(self, row: list[str], column: str) -> str | None:
        where = self.index.get(column)
        return row[where] if where is not None and where < len(row) else None  # a short row is rejected

    def _heading(self, column: str) -> str:
        return self.header[self.index[column]].strip()

    def labels(self, model_columns: dict[str, str]) -> dict[str, str]:
        return {field: self.label(column) for field, column in model_columns.items()}


def read_csv(stream: BinaryIO, options: LoaderOptions) -> Iterator[FileHeader | SourceRecord | Reject]:
    lines = _decoded_lines(stream)
    header_line = next(lines, None)
    if header_line is None:
        raise UnreadableFile("the file is empty: no header line")
    delimiter = sniff_delimiter(header_line)
    rows = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
    try:
        header = next(rows)
    except csv.Error as error:  # a line ending the csv module refuses (a bare CR), an open quote ...
        raise UnreadableFile(f"line 1: not readable as CSV: {error}") from None
    columns = _Columns.of(header, options.profile)
    missing = [column for column in REQUIRED_COLUMNS if not columns.gives(column)]
    if missing:
        names = ", ".join(columns.expected(column) for column in missing)
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
    columns.check_parts(row, reader)
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
    raw_sex = reader.text(value("sex"))
    sex = reader.sex(columns.label("sex"), SEX_WORDS.get(folded(raw_sex), raw_sex) if raw_sex else None)
    birth_date = reader.birth_date(columns.label("birth_date"), value("birth_date"))
    person_ids = reader.person_ids(
        columns.label("person_id"),
        value("person_id"),
        sex=sex,
        birth_year=birth_date.year if birth_date else None,
    )
    cards = reader.insurance_cards(columns.label("insurance_card"), value("insurance_card"))
    return {
        "facility_code": facility,
        "local_id": reader.required(columns.label("local_id"), value("local_id")),
        "full_name": reader.required(columns.label("full_name"), value("full_name")),
        "birth_date": birth_date,
        "sex": sex,
        "citizen_id": person_ids.get(PersonIdKind.CITIZEN_ID),
        "old_id_number": person_ids.get(PersonIdKind.OLD_ID_CARD),
        "passport_number": person_ids.get(PersonIdKind.PASSPORT),
        "insurance_cards": tuple(card.code for card in cards),
        "social_insurance_number": cards[0].social_insurance_number if cards else None,
        "phone": reader.phone(value("phone")),
        "address": dict(
            text=reader.text(value("address")),
            province_code=reader.text(value("province_code")),
            district_code=reader.text(value("district_code")),
            commune_code=reader.text(value("commune_code")),
        ),
        "flags": reader.flags_since(0),
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

    flags_from = len(reader.flags)
    return {
        "encounter_id": reader.required(label("encounter_id"), value("encounter_id")),
        "visit_type": reader.code(label("visit_type"), value("visit_type"), 2),
        "admitted_at": _timestamp(reader, label("admitted_at"), value("admitted_at"), strict=True),
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
        "referred_from": reader.referral_facility(label("referred_from"), value("referred_from")),
        "referred_to": reader.referral_facility(label("referred_to"), value("referred_to")),
        "outcome": reader.integer(label("outcome"), value("outcome"), range(1, 9)),
        "flags": reader.flags_since(flags_from),
    }


def _check_no_visit_data(row: list[str], columns: _Columns, reader: FieldReader) -> None:
    """A row without a visit id is a patient only; visit data on it would be lost, so it is refused."""
    filled = [columns.label(column) for column in VISIT_COLUMNS if reader.text(columns.value(row, column))]
    if filled:
        reader.errors.append(
            f"{columns.label('encounter_id')}: missing, but the row has visit data ({', '.join(filled)})"
        )


def _timestamp(reader: FieldReader, label: str, raw: str | None, *, strict: bool = False) -> datetime | None:
    """loaders.dates reads compact and ISO times; spreadsheets also write dd/mm/yyyy, and a date
    column joined with its time column gives dd/mm/yyyy, yyyyMMdd or yyyy-MM-dd, a space, H:mm[:ss]."""
    text = clean_text(raw)
    if text is None:
        return None
    day, time = text, ""
    if (clock := _WITH_TIME.fullmatch(text)) is not None:
        day, hour, minute, second = clock.groups()
        time = f"T{int(hour):02d}:{minute}:{second or '00'}"
    if (dmy := _DAY_FIRST.fullmatch(day)) is not None:
        day = f"{dmy[3]}-{int(dmy[2]):02d}-{int(dmy[1]):02d}"
    elif (compact := _COMPACT_DAY.fullmatch(day)) is not None and time:
        day = "-".join(compact.groups())
    elif not (time and _ISO_DAY.fullmatch(day)):
        return reader.timestamp(label, text, strict=strict)  # not a date and time to rewrite: read as written
    return reader.timestamp(label, day + time, strict=strict)
