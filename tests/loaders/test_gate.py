"""The gate: what makes a record a Reject, what only flags it, and files with nothing in them.

A visit is rejected only when it cannot be stored meaningfully; an identifier, however
malformed, never rejects it (README, "What is validated").
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders.identifiers import InconsistentIdentifier, InvalidIdentifier, PersonIdKind, read_person_id
from loaders.options import LoaderOptions
from loaders.read import read_units
from loaders.records import FileHeader, Reject, SourceFormat, SourceRecord, UnreadableFile
from tests.loaders.test_fhir import BHYT, CCCD, FACILITY, encounter, patient
from tests.loaders.test_xml130 import SUMMARY, envelope, summary

# Any text a desk could type or a program could emit, short of what no XML file can carry at all.
identifier_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
)


def read_all(data: bytes, options: LoaderOptions | None = None) -> list[Any]:
    return list(read_units(io.BytesIO(data), options or LoaderOptions()))


def stored(items: list[Any]) -> list[SourceRecord]:
    assert not [item for item in items if isinstance(item, Reject)], items
    return [item for item in items if isinstance(item, SourceRecord)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person_id=identifier_text, card=identifier_text, referral=identifier_text)
def test_no_identifier_in_an_xml130_file_rejects_its_visit(person_id: str, card: str, referral: str) -> None:
    changes = {"SO_CCCD": escape(person_id), "MA_THE_BHYT": escape(card), "MA_NOI_DEN": escape(referral)}
    (record,) = stored(read_all(envelope([("XML1", summary(**changes))])))
    assert record.encounter is not None and record.encounter.encounter_id == SUMMARY["MA_LK"]
    if record.patient.citizen_id is not None:  # used only when valid and agreeing with the record
        assert record.patient.citizen_id[3] in "01" and record.patient.sex == 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person_id=identifier_text, card=identifier_text)
def test_no_identifier_in_a_csv_row_rejects_its_visit(person_id: str, card: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ma_bn", "ho_ten", "ma_lk", "ngay_vao", "so_cccd", "ma_the_bhyt"])
    writer.writerow(["BN1", "Hồ Lan", "LK1", "2025-11-03", person_id, card])
    (record,) = stored(read_all(out.getvalue().encode(), LoaderOptions(facility_code="27001")))
    assert record.patient.local_id == "BN1"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person_id=identifier_text, card=identifier_text, referral=identifier_text)
def test_no_identifier_in_a_fhir_bundle_rejects_its_visit(person_id: str, card: str, referral: str) -> None:
    resources = [
        patient(identifier=[{"system": CCCD, "value": person_id}, {"system": BHYT, "value": card}]),
        encounter(hospitalization={"destination": {"identifier": {"system": FACILITY, "value": referral}}}),
    ]
    data = json.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    )
    (record,) = stored(read_all(data.encode()))
    assert record.encounter is not None


@pytest.mark.parametrize(
    ("raw", "repair"),
    [
        ("27185000123", "leading zero"),  # a spreadsheet dropped it
        ("０２７１８５０００１２３", "full-width"),
        ("027 185 000 123", None),  # spacing is not damage
    ],
)
def test_repairable_citizen_ids_are_repaired_and_say_so(raw: str, repair: str | None) -> None:
    found = read_person_id(raw, sex=2, birth_year=1985)
    assert (found.kind, found.value) == (PersonIdKind.CITIZEN_ID, "027185000123")
    assert found.repair is None if repair is None else repair in (found.repair or "")


@pytest.mark.parametrize(
    ("raw", "sex", "year", "problem", "words"),
    [
        ("027185000123", 1, 1985, InconsistentIdentifier, "says a woman"),  # a mother's ID on her son
        ("027185000123", 2, 2019, InconsistentIdentifier, "born 1900-1999"),  # on her daughter
        ("27185000123", 1, 1985, InconsistentIdentifier, "leading zero restored"),
        ("2.71850E+11", 2, 1985, InvalidIdentifier, "spreadsheet notation"),
        ("99185000123", 2, 1985, InvalidIdentifier, "11 digits"),  # no province 099: not repaired
        (
            "02718500012٥",
            2,
            1985,
            InvalidIdentifier,
            "is not a citizen ID",
        ),  # an Arabic-Indic five is not a digit here
    ],
)
def test_unusable_person_ids_say_why(
    raw: str, sex: int, year: int, problem: type[Exception], words: str
) -> None:
    with pytest.raises(problem, match=words) as raised:
        read_person_id(raw, sex=sex, birth_year=year)
    assert raised.type is problem


@given(identifier_text, st.sampled_from([None, 1, 2, 3]), st.one_of(st.none(), st.integers(1900, 2030)))
def test_a_person_id_read_is_either_usable_and_agreeing_or_refused_with_a_reason(
    raw: str, sex: int | None, year: int | None
) -> None:
    try:
        found = read_person_id(raw, sex=sex, birth_year=year)
    except InvalidIdentifier as problem:
        assert str(problem)
        return
    assert found.value.isascii() and found.value.isalnum()
    if found.kind is PersonIdKind.CITIZEN_ID:
        assert len(found.value) == 12


# --- Declared counts ---------------------------------------------------------------------------


def test_an_xml130_file_that_lost_a_hoso_in_transit_is_refused_naming_both_counts() -> None:
    data = envelope([("XML1", summary())], [("XML1", summary(MA_LK="LK0002"))], count=3)
    with pytest.raises(UnreadableFile, match="SOLUONGHOSO says 3 records, but the file holds 2 HOSO"):
        read_all(data)


def test_a_fhir_bundle_whose_total_disagrees_with_its_entries_is_refused() -> None:
    resources = [patient(), encounter()]
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    searchset = {"resourceType": "Bundle", "type": "searchset", "total": 3, "entry": entries}
    with pytest.raises(UnreadableFile, match=r"Bundle\.total says 3 entries, but the Bundle holds 2"):
        read_all(json.dumps(searchset).encode())
    searchset["total"] = 2
    assert len(stored(read_all(json.dumps(searchset).encode()))) == 1
    paged = {**searchset, "total": 40, "link": [{"relation": "next", "url": "https://example.org/p2"}]}
    assert len(stored(read_all(json.dumps(paged).encode()))) == 1  # the other pages hold the rest


# --- Quiet nights ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "declared", "file_format"),
    [
        (b"", None, None),  # a zero-byte NDJSON (or any) file
        (b"\xef\xbb\xbf\n  \n", None, None),
        (b"", SourceFormat.FHIR, SourceFormat.FHIR),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', None, SourceFormat.FHIR),
        (envelope(count=0), None, SourceFormat.XML130),
        (b"ma_bn;ho_ten;ma_lk\n", None, SourceFormat.CSV),
    ],
)
def test_an_empty_extract_is_a_file_with_no_records(
    data: bytes, declared: SourceFormat | None, file_format: SourceFormat | None
) -> None:
    items = read_all(data, LoaderOptions(facility_code="27001", format=declared))
    assert len(items) == 1 and isinstance(items[0], FileHeader)
    assert items[0].format == file_format
