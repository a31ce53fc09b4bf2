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

# Field lengths in characters: the XML 130 tables' own (MA_BN, MA_LK 100; HO_TEN 255; DIA_CHI,
# TEN_THUOC, LIEU_DUNG 1024), with a generous bound where the tables give none. A longer value
# rejects its record, naming the field; the database checks the same (sql/0010_field_lengths.sql).
KEY_CHARS = 100  # MA_BN, MA_LK, MA_HSBA, a referral paper's number
NAME_CHARS = 255  # HO_TEN; a lab test's or an author's name
CODE_CHARS = (
    50  # one code: visit type, department, procedure, drug/service/lab code, unit, route, admin codes
)
CODES_CHARS = 255  # several codes joined: MA_THUOC "a+b+c", MA_VAT_TU
LABEL_CHARS = 1024  # a short text: address, drug name, strength, dosage, a result's value
TEXT_CHARS = 4096  # diagnosis texts, a result's description and conclusion, a diagnosis title
NOTE_CHARS = 65536  # clinical progress (DIEN_BIEN_LS and the rest of XML5)
CODES_PER_FIELD = 100  # codes in one list field: departments, procedures, insurance cards
