"""Every bound the loaders put on what a file may hold, in one place (README, "Limits").

A file is read as a stream, so its size alone is not bounded; what is bounded is what one record
(one HOSO, one NDJSON line, one Bundle entry, one CSV row) can make the loader hold, so that the
memory of a load stays flat whatever a facility sends. A structure over its limit refuses the file
with a reason naming the limit (or, for an NDJSON line, rejects that line); a field over its length
rejects its record, naming the field (see the `max_length` of the fields in loaders/records.py).
"""

from __future__ import annotations

# XML elements or JSON arrays/objects inside one another. Real files nest a handful of levels
# (GIAMDINHHS/THONGTINHOSO/DANHSACHHOSO/HOSO/FILEHOSO; a Bundle's entry/resource/code/coding).
MAX_NESTING = 64

# One record's raw size: a HOSO's base64 text, an NDJSON line, one entry of a JSON Bundle.
MAX_RECORD_BYTES = 64 * 1024 * 1024

# Elements in one decoded XML 130 table (a visit's drugs or services: tens of rows of ~20 elements).
MAX_TABLE_ELEMENTS = 200_000

# Resources in one FHIR unit (a Bundle of one patient's visit with its conditions and observations).
MAX_UNIT_RESOURCES = 20_000

# CSV: one physical line, and one field (the csv module's own limit, set to this).
MAX_CSV_LINE_CHARS = 1024 * 1024
MAX_CSV_FIELD_CHARS = 128 * 1024
