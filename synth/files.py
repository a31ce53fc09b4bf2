"""The file a facility posts: its records in the facility's format and layout, by the loaders' writers.

A clinic whose software splits the name (`CsvLayout.name_columns` 2 or 3) gets the writer's file
with its name column split: words of the name as recorded (noise and all), the last word the
given name; with three columns the first word is the family name and the rest the middle name.
A name the desk typed in given-name-first order is split the same way, as such software would
show it; joined again with spaces, the columns give the recorded name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import BinaryIO

from loaders.csv_write import write_csv
from loaders.fhir_write import write_fhir_ndjson
from loaders.options import default_profile
from loaders.records import Encounter, Patient, SourceFormat, SourceRecord
from loaders.xml130_write import write_xml130
from synth.facilities import CsvLayout, Facility

POSTED_AT = time(23, 30)  # facilities post after the day's last discharges
_UNITS = {SourceFormat.XML130: "HOSO", SourceFormat.FHIR: "line", SourceFormat.CSV: "line"}


def source_records(facility: Facility, units: Iterable[tuple[Patient, Encounter]]) -> list[SourceRecord]:
    """Number the units as the file will hold them.

    Built without validation: a patient that breaks the canonical rules on purpose (an expected
    reject) would otherwise be refused here, before the file could carry it to the loaders.
    """
    unit = _UNITS[facility.format] if facility.format else "unit"
    return [
        SourceRecord.model_construct(position=i, locator=f"{unit} {i}", patient=patient, encounter=encounter)
        for i, (patient, encounter) in enumerate(units, 1)
    ]


def write_facility_file(
    facility: Facility, records: Sequence[SourceRecord], stream: BinaryIO, night: date
) -> None:
    if facility.format == SourceFormat.XML130:
        write_xml130(
            records, stream, facility_code=facility.code, created_at=datetime.combine(night, POSTED_AT)
        )
    elif facility.format == SourceFormat.FHIR:
        write_fhir_ndjson(records, stream, default_profile())
    elif facility.format == SourceFormat.CSV and facility.csv_layout is not None:
        layout = facility.csv_layout
        if layout.name_columns == 1:
            write_csv(
                records,
                stream,
                default_profile(),
                english=layout.english,
                delimiter=layout.delimiter,
                bom=layout.bom,
            )
        else:
            _write_split_name_csv(records, stream, layout)
    else:
        raise ValueError(f"facility {facility.code} posts no files")


# Headers of the name's parts, as clinic software labels them (the default CSV profile composes
# full_name from them).
SPLIT_NAME_HEADERS = {
    (2, False): ("Họ và tên đệm", "Tên"),
    (3, False): ("Họ", "Tên đệm", "Tên"),
    (2, True): ("Last name", "First name"),
    (3, True): ("Last name", "Middle name", "First name"),
}


def split_name(full_name: str, columns: int) -> tuple[str, ...]:
    """The name as `columns` columns: (family and middle, given) or (family, middle, given)."""
    words = full_name.split()
    head, given = words[:-1], words[-1:]
    if columns == 2:
        return " ".join(head), " ".join(given)
    return " ".join(head[:1]), " ".join(head[1:]), " ".join(given)


def _write_split_name_csv(records: Sequence[SourceRecord], stream: BinaryIO, layout: CsvLayout) -> None:
    """The writer's CSV, its name column replaced by the layout's two or three name columns."""
    written = io.BytesIO()
    write_csv(records, written, default_profile(), english=layout.english, delimiter=layout.delimiter)
    rows = csv.reader(io.StringIO(written.getvalue().decode("utf-8"), newline=""), delimiter=layout.delimiter)
    header = next(rows)
    names = default_profile().csv_columns["full_name"]
    at = header.index(names[1] if layout.english else names[0])
    text = io.TextIOWrapper(stream, encoding="utf-8-sig" if layout.bom else "utf-8", newline="")
    try:
        out = csv.writer(text, delimiter=layout.delimiter)
        out.writerow(
            [*header[:at], *SPLIT_NAME_HEADERS[layout.name_columns, layout.english], *header[at + 1 :]]
        )
        for row in rows:
            out.writerow([*row[:at], *split_name(row[at], layout.name_columns), *row[at + 1 :]])
    finally:
        text.flush()
        text.detach()
