"""Hostile or broken input: every loader refuses with a reason, in bounded time and memory.

Whatever bytes arrive, reading them either yields records and rejects (each with its reasons)
or raises UnreadableFile with a reason; nothing else escapes, and memory stays bounded by the
limits in loaders/limits.py, not by the input's size or nesting.
"""

from __future__ import annotations

import base64
import io
import json
import tracemalloc
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders import limits
from loaders.csv_write import write_csv
from loaders.fhir_write import write_fhir_ndjson
from loaders.options import LoaderOptions, default_profile
from loaders.read import read_units
from loaders.records import Reject, SourceRecord, UnreadableFile
from loaders.xml130_write import write_xml130
from tests.factories import make_encounter, make_patient, make_record
from tests.loaders.test_fhir import ICD10, encounter, patient
from tests.loaders.test_xml130 import envelope, summary


def read_all(data: bytes) -> list[Any]:
    return list(read_units(io.BytesIO(data), LoaderOptions(facility_code="27001")))


def peak_bytes(read: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        read()
    except UnreadableFile:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def nested_bundle(depth: int) -> bytes:
    """A Bundle whose Patient holds `depth` arrays inside one another: "x": [[[...]]]."""
    resource = json.dumps(patient()).removesuffix("}") + ', "x": ' + "[" * depth + "]" * depth + "}"
    return (
        '{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ' + resource + "}]}"
    ).encode()


def nested_table(depth: int) -> bytes:
    inner = "<TONG_HOP>" + "<A>" * depth + "</A>" * depth + "</TONG_HOP>"
    return envelope([("XML1", inner)])


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_deep_json_is_refused_in_bounded_memory(depth: int) -> None:
    with pytest.raises(UnreadableFile, match=f"nested deeper than {limits.MAX_NESTING} levels"):
        read_all(nested_bundle(depth))
    assert peak_bytes(lambda: read_all(nested_bundle(depth))) < 16 * 2**20


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_a_deep_ndjson_line_is_rejected_alone_in_bounded_memory(depth: int) -> None:
    good = json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{"resource": patient()}, {"resource": encounter()}]})  # fmt: skip
    deep = nested_bundle(depth).decode()
    data = f"{deep}\n{good}\n".encode()
    first, second = [item for item in read_all(data) if isinstance(item, SourceRecord | Reject)]
    assert isinstance(first, Reject) and first.reasons == (
        f"JSON nested deeper than {limits.MAX_NESTING} levels",
    )
    assert isinstance(second, SourceRecord)
    assert peak_bytes(lambda: read_all(data)) < 32 * 2**20


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\x é'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\x'), inner, max_size=3)
    ),
    max_leaves=12,
)


def nesting(value: object) -> int:
    """How many arrays/objects a decoded JSON value holds inside one another."""
    if isinstance(value, dict | list):
        return 1 + max(map(nesting, value.values() if isinstance(value, dict) else value), default=0)
    return 0


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES, st.integers(limits.MAX_NESTING - 12, limits.MAX_NESTING), st.booleans())
def test_an_ndjson_line_is_rejected_exactly_when_it_nests_deeper_than_the_limit(
    value: object, wrappers: int, ascii_only: bool
) -> None:
    """Counted on the line's brackets: brackets and escaped quotes inside strings do not count."""
    for _ in range(wrappers - 4):  # the Bundle, its entries, an entry and the Patient hold it too
        value = [value]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient(x=value)}]}
    line = json.dumps(bundle, ensure_ascii=ascii_only)
    item = read_all(f"{line}\n{line}\n".encode())[1]  # two lines: NDJSON
    deeper = nesting(bundle) > limits.MAX_NESTING
    assert isinstance(item, Reject) == deeper
    if deeper:
        assert item.reasons == (f"JSON nested deeper than {limits.MAX_NESTING} levels",)


@pytest.mark.parametrize("depth", [100, 10_000, 100_000])
def test_a_deep_xml_table_is_refused_in_bounded_memory(depth: int) -> None:
    with pytest.raises(UnreadableFile, match=f"nested deeper than {limits.MAX_NESTING} levels"):
        read_all(nested_table(depth))
    assert peak_bytes(lambda: read_all(nested_table(depth))) < 32 * 2**20


def test_a_deep_envelope_is_refused() -> None:
    data = b"<GIAMDINHHS>" + b"<X>" * 100_000 + b"</X>" * 100_000 + b"</GIAMDINHHS>"
    with pytest.raises(UnreadableFile, match="deeper than"):
        read_all(data)


def test_an_xml_table_with_too_many_elements_is_refused() -> None:
    rows = "<CHI_TIET_THUOC><MA_LK>LK0001</MA_LK></CHI_TIET_THUOC>" * (limits.MAX_TABLE_ELEMENTS // 2 + 1)
    data = envelope([("XML1", summary()), ("XML2", f"<DSACH_CHI_TIET_THUOC>{rows}</DSACH_CHI_TIET_THUOC>")])
    with pytest.raises(UnreadableFile, match="elements in one table"):
        read_all(data)


@pytest.mark.parametrize(
    ("field", "limit"),
    [("DIA_CHI", limits.LABEL_CHARS), ("HO_TEN", limits.NAME_CHARS), ("CHAN_DOAN_RV", limits.TEXT_CHARS)],
)
def test_a_field_over_its_length_rejects_its_record_naming_the_field(field: str, limit: int) -> None:
    fits, over = "x" * limit, "x" * (limit + 1)
    (_, stored) = read_all(envelope([("XML1", summary(**{field: fits}))]))
    assert isinstance(stored, SourceRecord)
    (_, reject) = read_all(envelope([("XML1", summary(**{field: over}))]))
    assert isinstance(reject, Reject)
    assert reject.reasons == (f"{field}: String should have at most {limit} characters",)


def drug(name: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": "m1", "medicationCodeableConcept": {"text": name}}


def lab(note: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "o1", "code": {"text": "Glucose"}, "note": [{"text": note}]}


def icd10(text: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": ICD10, "code": "E11"}], "text": text},
    }


@pytest.mark.parametrize(
    ("detail", "field", "limit"),
    [
        (drug, "MedicationRequest/m1.medicationCodeableConcept", limits.LABEL_CHARS),
        (lab, "Observation/o1.note", limits.TEXT_CHARS),
        (icd10, "Condition/c1.code.text", limits.TEXT_CHARS),
    ],
)
def test_a_fhir_detail_over_its_length_rejects_its_bundle_naming_the_element(
    detail: Callable[[str], dict[str, Any]], field: str, limit: int
) -> None:
    def read_line(text: str) -> Any:
        line = json.dumps(
            {
                "resourceType": "Bundle",
                "entry": [{"resource": r} for r in (patient(), encounter(), detail(text))],
            }
        )
        return read_all(f"{line}\n{line}\n".encode())[1]  # two lines: NDJSON

    assert isinstance(read_line("x" * limit), SourceRecord)
    reject = read_line("x" * (limit + 1))
    assert isinstance(reject, Reject)
    assert reject.reasons == (f"{field}: String should have at most {limit} characters",)


# --- Fuzzing: valid files of each format, mutated ----------------------------------------------


def _valid_files() -> list[bytes]:
    records = [
        make_record(i, make_patient(f"BN{i}", serial=f"{i:06d}"), make_encounter(f"LK{i}")) for i in (1, 2)
    ]
    files = []
    for write in (
        lambda out: write_xml130(records, out, facility_code="27001", created_at=datetime(2025, 11, 4, 2)),
        lambda out: write_fhir_ndjson(records, out, default_profile()),
        lambda out: write_csv(records, out, default_profile()),
    ):
        out = io.BytesIO()
        write(out)
        files.append(out.getvalue())
    files.append(json.dumps({"resourceType": "Bundle", "type": "collection",
                             "entry": [{"resource": patient()}, {"resource": encounter()}]}).encode())  # fmt: skip
    return files


VALID = _valid_files()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "nest", "repeat", "truncate", "text"]))
        if kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 50))]
        elif kind == "nest":
            depth = draw(st.integers(1, 3000))
            opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b"<A>", b"</A>")]))
            data[at:at] = opener * depth + closer * depth
        elif kind == "repeat":
            piece = bytes(data[at : at + draw(st.integers(1, 200))])
            data[at:at] = piece * draw(st.integers(1, 50))
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.text(max_size=30)).encode("utf-8", "surrogatepass")
    if VALID[0].startswith(bytes(data[:5])) and b"NOIDUNGFILE" in data and draw(st.booleans()):
        # Mutate inside a table too: its base64 hides it from the outer mutations.
        inner = base64.b64encode(draw(st.binary(max_size=200)))
        start = data.find(b"<NOIDUNGFILE>") + len(b"<NOIDUNGFILE>")
        data[start:start] = inner
    return bytes(data)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(mutated())
def test_any_mutation_of_a_valid_file_is_read_or_refused_with_a_reason(data: bytes) -> None:
    try:
        items = read_all(data)
    except UnreadableFile as refused:
        assert str(refused)
        return
    for item in items:
        if isinstance(item, Reject):
            assert item.reasons and all(reason.strip() for reason in item.reasons)


@pytest.mark.parametrize("data", [b"0\r<?xml", b'ma_bn,"ho_ten\rx', b"ma_bn,ho_ten\rBN1,H\r"])
def test_stray_carriage_returns_are_a_reason_not_a_crash(data: bytes) -> None:
    # Found by the fuzz test above: the csv module's own error escaped format detection.
    with pytest.raises(UnreadableFile):
        read_all(data)
