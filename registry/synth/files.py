"""The file a facility posts: its records in the facility's format and layout, by the loaders' writers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import BinaryIO

from loaders.csv_write import write_csv
from loaders.fhir_write import write_fhir_ndjson
from loaders.options import default_profile
from loaders.records import Encounter, Patient, SourceFormat, SourceRecord
from loaders.xml130_write import write_xml130
from registry.synth.facilities import Facility

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
        write_csv(
            records,
            stream,
            default_profile(),
            english=layout.english,
            delimiter=layout.delimiter,
            bom=layout.bom,
        )
    else:
        raise ValueError(f"facility {facility.code} posts no files")
