"""FHIR R4 Bundles: one SourceRecord per Encounter, and one per Patient that has no Encounter.

A file is either NDJSON, one Bundle per line (a unit per line, "line 7"), or one JSON Bundle: a
Bundle of resources (one unit, "Bundle 1") or a Bundle whose entries are Bundles (a unit per
entry, "Bundle 3"). Both are streamed: NDJSON line by line, JSON entry by entry (ijson), so
memory holds one unit, not the file. A unit with any problem becomes one Reject.

Mapping rules (identifier systems and type codes come from the profile) are documented in
schema/fhir-profile.md; the ones that choose between alternatives are stated where they are made.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, BinaryIO, TypeVar

import ijson
from pydantic import BaseModel, ValidationError

from loaders import limits
from loaders.detect import peeked
from loaders.fields import EXCERPT_LIMIT, FieldReader
from loaders.identifiers import InsuranceCard, PersonIdKind
from loaders.options import LoaderOptions, Profile
from loaders.records import (
    Diagnosis,
    Encounter,
    FileHeader,
    FlaggedIdentifier,
    FlagKind,
    LabResult,
    Medication,
    Patient,
    Reject,
    Sex,
    SourceFormat,
    SourceRecord,
    UnreadableFile,
)

Json = dict[str, Any]
M = TypeVar("M", bound=BaseModel)

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
# MA_LOAI_KCB on Encounter.type. Like the identifier systems, provreg's own URI until hl7vn/vn-core-ig fixes one.
VISIT_TYPE_SYSTEM = "https://fhir.hl7.vn/core/CodeSystem/ma-loai-kcb"
DIAGNOSIS_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
GENDERS: dict[str, Sex | None] = {
    "male": Sex.MALE,
    "female": Sex.FEMALE,
    "other": Sex.UNDETERMINED,
    "unknown": None,
}
# The main diagnosis is the Condition that Encounter.diagnosis ranks 1, taking the discharge
# diagnosis (DD, what MA_BENH_CHINH records) before the admission one (AD) before an entry with
# no role or the billing role; rank 1 in any other role (comorbidity, pre-op ...) is never main.
MAIN_DIAGNOSIS_ROLES: tuple[tuple[str | None, ...], ...] = (("DD",), ("AD",), (None, "billing"))
READ_RESOURCES = frozenset(
    {"Patient", "Organization", "Encounter", "Condition", "Observation", "MedicationRequest"}
)
_CLINICAL = {"Condition": "conditions", "Observation": "observations", "MedicationRequest": "medications"}
_PERSON_ID_KINDS = frozenset(kind.value for kind in PersonIdKind)

# NDJSON is told from JSON by a first line that is a whole JSON object with more lines after it.
SNIFF_BYTES = 1024 * 1024
# FHIR times carry a zone; provreg stores Vietnamese wall-clock time (UTC+7, no daylight saving).
VIETNAM_UTC_OFFSET = timedelta(hours=7)
_ZONE = re.compile(r"T[\d:.]+(Z|([+-])(\d{2}):?(\d{2}))$")


def read_fhir(stream: BinaryIO, options: LoaderOptions) -> Iterator[FileHeader | SourceRecord | Reject]:
    yield FileHeader(format=SourceFormat.FHIR, facility_code=options.facility_code)
    head, stream = peeked(stream, SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        stream.read(len(codecs.BOM_UTF8))
        head = head[len(codecs.BOM_UTF8) :]
    units = _ndjson_units(stream) if _is_ndjson(head) else _json_units(stream)
    for unit in units:
        if isinstance(unit, Reject):
            yield unit
        else:
            yield from _UnitReader(unit, options).read()


@dataclass(frozen=True)
class _Unit:
    position: int
    locator: str
    entries: list[Json]  # Bundle.entry, with those of nested Bundles in their place
    excerpt: str


# --- Splitting a file into units ----------------------------------------------------------------


def _is_ndjson(head: bytes) -> bool:
    """A one-line file is read as JSON: the same unit, and a Bundle of Bundles keeps its units."""
    first, newline, rest = head.lstrip().partition(b"\n")
    if not newline or not rest.strip():
        return False
    try:
        return isinstance(json.loads(first), dict)
    except RecursionError:  # an object too deep to read: a line the NDJSON reader will reject
        return first.startswith(b"{")
    except ValueError:
        return False


def _ndjson_units(stream: BinaryIO) -> Iterator[_Unit | Reject]:
    position = 0
    for number, line in enumerate(_lines(stream), start=1):
        if not line.strip():
            continue
        position += 1
        locator = f"line {number}"
        try:
            bundle = json.loads(line, parse_float=Decimal)
            if _nested_deeper_than(line.encode(), limits.MAX_NESTING):
                raise RecursionError
        except ValueError as error:
            yield _line_reject(position, locator, f"not JSON: {error}", line)
            continue
        except RecursionError:  # json's own limit, or ours
            yield _line_reject(
                position, locator, f"JSON nested deeper than {limits.MAX_NESTING} levels", line
            )
            continue
        if not _is_bundle(bundle):
            found = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
            yield _line_reject(
                position, locator, f"resourceType: {found!r}, expected a Bundle per line", line
            )
            continue
        entries = list(_flattened(bundle))
        if len(entries) > limits.MAX_UNIT_RESOURCES:
            reason = f"Bundle: more than {limits.MAX_UNIT_RESOURCES:,} resources in one Bundle"
            yield _line_reject(position, locator, reason, line)
            continue
        yield _Unit(position, locator, entries, line)


def _line_reject(position: int, locator: str, reason: str, line: str) -> Reject:
    return Reject(position=position, locator=locator, reasons=(reason,), excerpt=line[:EXCERPT_LIMIT])


# A JSON text's structure: its quotes and brackets, both kinds as one ('{' read as '['), since a
# valid text closes each as it opened it.
_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))


def _nested_deeper_than(text: bytes, limit: int) -> bool:
    """Whether the arrays/objects of a valid UTF-8 JSON text nest more than `limit` levels: read off
    its brackets outside strings with bytes methods (C), not by walking the decoded value in Python."""
    if b"\\" in text:  # an escaped backslash or quote neither ends a string nor starts one
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(text.translate(_AS_BRACKETS, _NOT_STRUCTURE).split(b'"')[::2])
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")  # the innermost arrays/objects: one level less
    return bool(brackets)


def _lines(stream: BinaryIO) -> Iterator[str]:
    offset = 0
    number = 0
    while raw := stream.readline(limits.MAX_RECORD_BYTES):
        number += 1
        if len(raw) == limits.MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            raise UnreadableFile(f"line {number} is longer than {limits.MAX_RECORD_BYTES // 2**20} MiB")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnreadableFile(f"not UTF-8 (line {number}, byte offset {offset + error.start})") from None
        offset += len(raw)
        yield line


def _json_units(stream: BinaryIO) -> Iterator[_Unit | Reject]:
    loose: list[Json] = []
    nested = 0
    for number, entry in enumerate(_streamed_entries(stream), start=1):
        resource = entry.get("resource")
        is_bundle = _is_bundle(resource)
        if (is_bundle and loose) or (not is_bundle and nested):
            raise UnreadableFile(
                f"Bundle.entry[{number}]: a Bundle holds either Bundles or resources, not both"
            )
        if is_bundle:
            nested += 1
            yield _Unit(nested, f"Bundle {nested}", list(_flattened(resource)), _excerpt(resource))
        else:
            loose.append(entry)
            if len(loose) > limits.MAX_UNIT_RESOURCES:
                raise UnreadableFile(
                    f"Bundle: more than {limits.MAX_UNIT_RESOURCES:,} resources in one Bundle"
                )
    if loose:
        yield _Unit(1, "Bundle 1", loose, _excerpt(loose[0]))


def _streamed_entries(stream: BinaryIO) -> Iterator[Json]:
    """The entries of the file's Bundle, built one at a time.

    Read from ijson's basic events, whose memory does not grow with nesting (its prefixed events
    spell out the whole path at every level: quadratic in the depth), following where each event
    sits by hand: the Bundle's own keys at depth 1, its entries at depth 2.

    A Bundle that states its `total` and has no next page must hold that many matches (entries
    whose search.mode is "match", or all entries when none says): otherwise entries were lost.
    """
    events = ijson.basic_parse(stream)
    depth = 0
    key = link_key = None  # the Bundle's key being read; the key inside a Bundle.link item
    resource_type = total = None
    paged = False
    entries = matches = 0
    try:
        for event, value in events:
            if depth == 0 and event != "start_map":
                raise UnreadableFile("not a FHIR Bundle: the JSON is not an object")
            if depth == 2 and key == "entry" and event == "start_map":
                entry = _built(events)
                entries += 1
                matches += _object(entry.get("search")).get("mode") == "match"
                yield entry
                continue
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > limits.MAX_NESTING:
                    raise UnreadableFile(f"Bundle: JSON nested deeper than {limits.MAX_NESTING} levels")
            elif event in ("end_map", "end_array"):
                depth -= 1
            elif event == "map_key":
                if depth == 1:
                    key = value
                elif depth == 3 and key == "link":
                    link_key = value
            elif depth == 1 and key == "resourceType":
                resource_type = value
                if value != "Bundle":
                    raise UnreadableFile(f"not a FHIR Bundle: resourceType is {value!r}")
            elif depth == 1 and key == "total":
                total = value
            elif depth == 3 and key == "link" and link_key == "relation" and value == "next":
                paged = True
    except ijson.JSONError as error:
        raise UnreadableFile(f"not JSON: {_first_line(error)}") from None
    if resource_type != "Bundle":
        raise UnreadableFile("not a FHIR Bundle: no resourceType")
    held = matches or entries
    if total is not None and not paged and total != held:
        raise UnreadableFile(f"Bundle.total says {total} entries, but the Bundle holds {held}")


def _built(events: Iterator[tuple[str, Any]]) -> Json:
    """The entry whose start_map was just read, from the events up to its end_map, within the limits."""
    builder = ijson.ObjectBuilder()
    builder.event("start_map", None)
    depth = 1
    size = 0
    for event, value in events:
        builder.event(event, value)
        depth += event in ("start_map", "start_array")
        depth -= event in ("end_map", "end_array")
        if depth == 0:
            break
        if depth > limits.MAX_NESTING:
            raise UnreadableFile(f"Bundle.entry: JSON nested deeper than {limits.MAX_NESTING} levels")
        size += len(value) if isinstance(value, str) else 8
        if size > limits.MAX_RECORD_BYTES:
            raise UnreadableFile(f"Bundle.entry: larger than {limits.MAX_RECORD_BYTES // 2**20} MiB")
    return builder.value


def _first_line(error: Exception) -> str:
    message = error.args[0] if error.args else error
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _flattened(bundle: Json) -> Iterator[Json]:
    """A Bundle nested in a unit's Bundle is part of that unit."""
    for entry in _objects(bundle.get("entry")):
        resource = entry.get("resource")
        if _is_bundle(resource):
            yield from _flattened(resource)
        else:
            yield entry


def _is_bundle(resource: object) -> bool:
    return isinstance(resource, dict) and resource.get("resourceType") == "Bundle"


def _excerpt(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, default=str)[:EXCERPT_LIMIT]


# --- Values out of FHIR JSON, whatever a vendor put there ---------------------------------------


def _objects(value: object) -> list[Json]:
    """A repeating element's objects; a single object where a list belongs is read as a list of one."""
    if isinstance(value, dict):
        return [value]
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _object(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _first(value: object) -> Json:
    return next(iter(_objects(value)), {})


def _string(value: object) -> str | None:
    """Strings as they are; numbers (an identifier written unquoted) as their JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")  # ijson and json.loads(parse_float=Decimal) keep the digits written
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _strings(value: object) -> list[str]:
    return [text for item in value if (text := _string(item))] if isinstance(value, list) else []


def _codes(concept: object) -> list[str]:
    return [
        code for coding in _objects(_object(concept).get("coding")) if (code := _string(coding.get("code")))
    ]


def _concept_text(concept: object) -> str | None:
    """CodeableConcept.text, else the first coding's display."""
    concept = _object(concept)
    return _string(concept.get("text")) or _string(_first(concept.get("coding")).get("display"))


def _name(resource: Json) -> str:
    """How a resource is named in reasons: Encounter/e1."""
    kind, ident = _string(resource.get("resourceType")) or "resource", _string(resource.get("id"))
    return f"{kind}/{ident}" if ident else kind


def _identifier_kind(identifier: Json, profile: Profile) -> str | None:
    """What an identifier is: its system as the profile lists it, else its type code (HL7 v2-0203)."""
    system = identifier.get("system")
    for kind, systems in profile.fhir_identifier_systems.items():
        if system in systems:
            return kind
    codes = _codes(identifier.get("type"))
    for kind, types in profile.fhir_identifier_types.items():
        if any(code in types for code in codes):
            return kind
    return None


def _identifier_values(identifiers: object, kind: str, profile: Profile) -> list[str]:
    return [
        value
        for identifier in _objects(identifiers)
        if _identifier_kind(identifier, profile) == kind and (value := _string(identifier.get("value")))
    ]


# --- Reading one unit ---------------------------------------------------------------------------


class _Index:
    """A unit's resources, and references between them resolved."""

    def __init__(self, entries: list[Json]) -> None:
        self.resources: list[Json] = []
        self._by_reference: dict[str, Json] = {}
        for entry in entries:
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                continue
            self.resources.append(resource)
            if full_url := _string(entry.get("fullUrl")):
                self._by_reference[full_url] = resource
            kind, ident = _string(resource.get("resourceType")), _string(resource.get("id"))
            if kind and ident:
                self._by_reference[f"{kind}/{ident}"] = resource

    def of_type(self, kind: str) -> list[Json]:
        return [resource for resource in self.resources if resource.get("resourceType") == kind]

    def resolve(self, reference: object, holder: Json) -> Json | None:
        """Reference.reference: '#id' (contained in `holder`), a fullUrl, Type/id, or an absolute URL."""
        target = _string(_object(reference).get("reference"))
        if target is None:
            return None
        if target.startswith("#"):
            return next((c for c in _objects(holder.get("contained")) if c.get("id") == target[1:]), None)
        target = target.split("/_history/")[0]
        found = self._by_reference.get(target)
        if found is None and target.count("/") > 1:
            found = self._by_reference.get("/".join(target.rsplit("/", 2)[-2:]))
        return found


@dataclass
class _Clinical:
    """The resources of one Encounter, in Bundle order."""

    conditions: list[Json] = field(default_factory=list)
    observations: list[Json] = field(default_factory=list)
    medications: list[Json] = field(default_factory=list)


class _UnitReader:
    """Reads one unit: every problem is collected; any problem makes the unit one Reject."""

    def __init__(self, unit: _Unit, options: LoaderOptions) -> None:
        self.unit = unit
        self.options = options
        self.profile = options.profile
        self.index = _Index(unit.entries)
        self.reader = FieldReader()
        self.keys: dict[str, str | None] = {"facility_code": options.facility_code}
        kinds = {_string(resource.get("resourceType")) for resource in self.index.resources}
        self.skipped = tuple(sorted(kind for kind in kinds if kind and kind not in READ_RESOURCES))

    def read(self) -> list[SourceRecord] | list[Reject]:
        patients = self.index.of_type("Patient")
        encounters = self.index.of_type("Encounter")
        if not patients:
            self.reader.errors.append("Bundle: no Patient")
        patient_values = {id(patient): self._patient_values(patient) for patient in patients}
        clinical = self._attach(encounters)
        pairs = [(self._subject(encounter, patients), encounter) for encounter in encounters]
        with_visits = {id(patient) for patient, _ in pairs}
        pairs += [(patient, None) for patient in patients if id(patient) not in with_visits]
        prepared = [
            (
                self._facility(patient, encounter),
                patient_values[id(patient)],
                self._encounter_values(encounter, clinical) if encounter else None,
            )
            for patient, encounter in pairs
            if patient is not None
        ]
        # Models are built only from clean values, so a bad field is reported once, by its FHIR name.
        records = [] if self.reader.errors else [self._record(*values) for values in prepared]
        if self.reader.errors:
            # A patient's problem is reported once, not once per visit.
            self.reader.errors = list(dict.fromkeys(self.reader.errors))
            return [self.reader.reject(self.unit.position, self.unit.locator, self.unit.excerpt, **self.keys)]
        return [record for record in records if record is not None]

    def _record(
        self,
        facility: str | None,
        patient_values: dict[str, Any],
        encounter: tuple[str, dict[str, Any]] | None,
    ) -> SourceRecord | None:
        patient = self.reader.build(Patient, _PATIENT_LABELS, facility_code=facility, **patient_values)
        built = None
        if encounter is not None:
            name, values = encounter
            labels = {key: f"{name}.{label}" for key, label in _ENCOUNTER_LABELS.items()}
            built = self.reader.build(Encounter, labels, **values)
        if patient is None or (encounter is not None and built is None):
            return None
        return SourceRecord(
            position=self.unit.position,
            locator=self.unit.locator,
            patient=patient,
            encounter=built,
            skipped_tables=self.skipped,
        )

    # Patient ----------------------------------------------------------------------------------

    def _patient_values(self, patient: Json) -> dict[str, Any]:
        reader = self.reader
        flags_from = len(reader.flags)
        birth_date = reader.birth_date("birthDate", _string(patient.get("birthDate")))
        sex = self._sex(patient.get("gender"))
        person_ids: dict[PersonIdKind, str] = {}
        doubtful: set[PersonIdKind] = set()
        cards: list[InsuranceCard] = []
        local_ids: list[str] = []
        for identifier in _objects(patient.get("identifier")):
            kind = _identifier_kind(identifier, self.profile)
            value = _string(identifier.get("value"))
            label = f"identifier[{kind}]"
            if kind in _PERSON_ID_KINDS:
                # The shape decides, as for SO_CCCD: a 9-digit number under the citizen-ID system is a CMND.
                year = birth_date.year if birth_date else None
                for found, number in reader.person_ids(label, value, sex=sex, birth_year=year).items():
                    if person_ids.setdefault(found, number) != number:
                        # Which of two is this person's cannot be told here: neither is used as a key.
                        doubtful.add(found)
                        reason = f"two different {found.value} numbers on one patient: neither is used"
                        reader.flag(
                            label, FlaggedIdentifier.PERSON_ID, FlagKind.INCONSISTENT, reason, value or ""
                        )
            elif kind == "insurance_card":
                cards += reader.insurance_cards(label, value)
            elif kind == "local_id" and value:
                local_ids.append(value)
        # MA_BN: the facility's record number (type MR/PI), else the resource id the facility gave.
        local_id = local_ids[0] if local_ids else _string(patient.get("id"))
        if self.keys.get("local_id") is None:
            self.keys["local_id"] = reader.text(local_id)
        codes = tuple(dict.fromkeys(card.code for card in cards))
        for kind in doubtful:
            del person_ids[kind]
        return {
            "local_id": reader.required("identifier[local_id]", local_id),
            "full_name": reader.required("name", _human_name(patient)),
            "birth_date": birth_date,
            "sex": sex,
            "citizen_id": person_ids.get(PersonIdKind.CITIZEN_ID),
            "old_id_number": person_ids.get(PersonIdKind.OLD_ID_CARD),
            "passport_number": person_ids.get(PersonIdKind.PASSPORT),
            "insurance_cards": codes,
            "social_insurance_number": cards[0].social_insurance_number if cards else None,
            "phone": reader.phone(_phone(patient)),
            "address": self._address(_first(patient.get("address"))),
            "flags": reader.flags_since(flags_from),
        }

    def _sex(self, gender: object) -> Sex | None:
        if gender is None:
            return None
        if isinstance(gender, str) and gender in GENDERS:
            return GENDERS[gender]
        reason = f"{gender!r} is not male, female, other or unknown"
        self.reader.flag("gender", None, FlagKind.MALFORMED, reason, str(gender))
        return None

    def _address(self, address: Json) -> dict[str, str | None]:
        """Numeric state/district/city are administrative codes (province, district, commune); names go to
        the text. Validated with the Patient, so a value over its length is reported as the Patient's."""
        parts = {"province_code": "state", "district_code": "district", "commune_code": "city"}
        values = {key: (_string(address.get(element)) or "").strip() for key, element in parts.items()}
        codes = {key: value for key, value in values.items() if value.isdigit()}
        names = [value for key, value in reversed(values.items()) if value and key not in codes]
        text = _string(address.get("text")) or ", ".join(_strings(address.get("line")) + names)
        return {"text": self.reader.text(text), **codes}

    # Facility ---------------------------------------------------------------------------------

    def _facility(self, patient: Json, encounter: Json | None) -> str | None:
        """Encounter.serviceProvider, else Patient.managingOrganization, else the unit's only facility
        Organization, else the declared facility. A unit naming another facility spoils the file."""
        candidates: list[tuple[str, str | None]] = []
        if encounter is not None:
            provider = self._organisation_code(encounter.get("serviceProvider"), encounter)
            candidates.append((f"{_name(encounter)}.serviceProvider", provider))
        managing = self._organisation_code(patient.get("managingOrganization"), patient)
        candidates.append(("managingOrganization", managing))
        bundled = {
            code
            for organisation in self.index.of_type("Organization")
            for code in _identifier_values(organisation.get("identifier"), "facility", self.profile)
        }
        if len(bundled) == 1:
            candidates.append(("Organization.identifier", bundled.pop()))
        label, raw = next(((label, raw) for label, raw in candidates if raw), ("managingOrganization", None))
        if raw is None:
            if self.options.facility_code is None:
                self.reader.errors.append(f"{label}: no facility code, and none was declared")
            return self.options.facility_code
        code = self.reader.facility(label, raw)
        if code is not None and self.options.facility_code not in (None, code):
            raise UnreadableFile(
                f"{self.unit.locator}: facility {code} is not the declared facility {self.options.facility_code}"
            )
        self.keys["facility_code"] = self.keys["facility_code"] or code
        return code

    def _organisation_code(self, reference: object, holder: Json) -> str | None:
        """A facility code on Reference.identifier, or on the identifier of the Organization referred to."""
        own = _identifier_values([_object(reference).get("identifier")], "facility", self.profile)
        organisation = self.index.resolve(reference, holder) or {}
        return next(
            iter(own + _identifier_values(organisation.get("identifier"), "facility", self.profile)), None
        )

    # Encounter and its clinical resources -----------------------------------------------------

    def _subject(self, encounter: Json, patients: list[Json]) -> Json | None:
        subject = self.index.resolve(encounter.get("subject"), encounter)
        if subject is not None and any(subject is patient for patient in patients):
            return subject
        if encounter.get("subject") is None and len(patients) == 1:
            return patients[0]
        if patients:
            self.reader.errors.append(
                f"{_name(encounter)}.subject: does not refer to a Patient in the Bundle"
            )
        return None

    def _attach(self, encounters: list[Json]) -> dict[int, _Clinical]:
        """Each Condition, Observation and MedicationRequest to its Encounter: the one its `encounter`
        names, else (a Condition) the one whose diagnosis lists it, else the unit's only Encounter."""
        clinical = {id(encounter): _Clinical() for encounter in encounters}
        diagnosed: dict[int, Json] = {}
        for encounter in encounters:
            for entry in _objects(encounter.get("diagnosis")):
                if (condition := self.index.resolve(entry.get("condition"), encounter)) is not None:
                    diagnosed[id(condition)] = encounter
        for resource in self.index.resources:
            kind = resource.get("resourceType")
            if kind not in _CLINICAL:
                continue
            if resource.get("encounter") is not None:
                target = self.index.resolve(resource.get("encounter"), resource)
                if target is None or id(target) not in clinical:
                    self.reader.errors.append(
                        f"{_name(resource)}.encounter: does not refer to an Encounter in the Bundle"
                    )
                    continue
            elif id(resource) in diagnosed:
                target = diagnosed[id(resource)]
            elif len(encounters) == 1:
                target = encounters[0]
            elif not encounters:
                continue  # a patient's record outside any visit: no episode to hold it
            else:
                self.reader.errors.append(
                    f"{_name(resource)}: no encounter, and the Bundle has {len(encounters)} Encounters"
                )
                continue
            getattr(clinical[id(target)], _CLINICAL[kind]).append(resource)
        return clinical

    def _encounter_values(
        self, encounter: Json, clinical: dict[int, _Clinical]
    ) -> tuple[str, dict[str, Any]]:
        reader = self.reader
        flags_from = len(reader.flags)
        name = _name(encounter)
        # MA_LK: the identifier under a profile 'encounter' system, else the resource id.
        ids = _identifier_values(encounter.get("identifier"), "encounter", self.profile)
        encounter_id = ids[0] if ids else _string(encounter.get("id"))
        if self.keys.get("encounter_id") is None:
            self.keys["encounter_id"] = reader.text(encounter_id)
        period = _object(encounter.get("period"))
        hospitalization = _object(encounter.get("hospitalization"))
        attached = clinical[id(encounter)]
        visit_type = next(
            (
                _string(c.get("code"))
                for t in _objects(encounter.get("type"))
                for c in _objects(t.get("coding"))
                if c.get("system") == VISIT_TYPE_SYSTEM
            ),
            None,
        )
        return name, {
            "encounter_id": reader.required(f"{name}.identifier[encounter]", encounter_id),
            "visit_type": reader.code(f"{name}.type", visit_type, 2),
            "admitted_at": self._timestamp(f"{name}.period.start", period.get("start"), strict=True),
            "discharged_at": self._timestamp(f"{name}.period.end", period.get("end")),
            "referred_from": self._referral(
                hospitalization.get("origin"), encounter, f"{name}.hospitalization.origin"
            ),
            "referred_to": self._referral(
                hospitalization.get("destination"), encounter, f"{name}.hospitalization.destination"
            ),
            "admission_diagnosis_text": reader.text(_concept_text(_first(encounter.get("reasonCode")))),
            "diagnoses": self._diagnoses(encounter, attached.conditions),
            "lab_results": tuple(
                row for row in map(self._lab_result, attached.observations) if row is not None
            ),
            "medications": tuple(
                row for row in map(self._medication, attached.medications) if row is not None
            ),
            "flags": reader.flags_since(flags_from),
        }

    def _referral(self, reference: object, holder: Json, label: str) -> str | None:
        """Only a reference carrying a facility code is a referral facility (origin may be a Location)."""
        return self.reader.referral_facility(label, self._organisation_code(reference, holder))

    def _timestamp(self, label: str, raw: object, *, strict: bool = False) -> datetime | None:
        text = _string(raw)
        moment = self.reader.timestamp(label, text, strict=strict)
        zone = _ZONE.search(text) if moment is not None and text else None
        if moment is None or zone is None:
            return moment
        _, sign, hours, minutes = zone.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes)) if sign else timedelta()  # 'Z': UTC
        return moment - (-offset if sign == "-" else offset) + VIETNAM_UTC_OFFSET

    def _diagnoses(self, encounter: Json, conditions: list[Json]) -> tuple[Diagnosis, ...]:
        """ICD-10 Conditions (a coding whose system contains 'icd-10'); others are not diagnoses provreg reads."""
        main = self._main_condition(encounter)
        found: list[Diagnosis] = []
        for condition in conditions:
            concept = _object(condition.get("code"))
            codings = _objects(concept.get("coding"))
            coding = next((c for c in codings if "icd-10" in (_string(c.get("system")) or "").lower()), None)
            if coding is None:
                continue
            code = self.reader.icd10(f"{_name(condition)}.code", _string(coding.get("code")))
            text = _string(concept.get("text")) or _string(coding.get("display"))
            if code is not None:
                diagnosis = self._detail(
                    Diagnosis, condition, _DIAGNOSIS_ELEMENTS,
                    code=code, is_main=condition is main, text=self.reader.text(text),
                )  # fmt: skip
                if diagnosis is not None:
                    found.append(diagnosis)
        # Main first, as in MA_BENH_CHINH then MA_BENH_KT; a code listed twice counts once.
        found.sort(key=lambda diagnosis: not diagnosis.is_main)
        unique: dict[str, Diagnosis] = {}
        for diagnosis in found:
            unique.setdefault(diagnosis.code, diagnosis)
        return tuple(unique.values())

    def _main_condition(self, encounter: Json) -> Json | None:
        ranked_first: list[tuple[int, Json]] = []
        for entry in _objects(encounter.get("diagnosis")):
            condition = self.index.resolve(entry.get("condition"), encounter)
            roles = _codes(entry.get("use")) or [None]
            tier = next(
                (i for i, tier in enumerate(MAIN_DIAGNOSIS_ROLES) if any(r in tier for r in roles)), None
            )
            if condition is not None and entry.get("rank") == 1 and tier is not None:
                ranked_first.append((tier, condition))
        return min(ranked_first, key=lambda pair: pair[0], default=(0, None))[1]

    def _detail(self, model: type[M], resource: Json, elements: dict[str, str], **values: object) -> M | None:
        """A detail row's model; a value it cannot hold (a text over its length) rejects the unit, naming
        the element it came from (the names are made only then: a visit has tens of rows)."""
        try:
            return model(**values)
        except ValidationError:
            name = _name(resource)
            labels = {key: f"{name}.{element}" for key, element in elements.items()}
            return self.reader.build(model, labels, **values)

    def _lab_result(self, observation: Json) -> LabResult | None:
        name = _name(observation)
        quantity = _object(observation.get("valueQuantity"))
        value = (
            _string(observation.get("valueString"))
            or _string(quantity.get("value"))
            or _string(observation.get("valueInteger"))
            or _concept_text(observation.get("valueCodeableConcept"))
        )
        return self._detail(
            LabResult,
            observation,
            _LAB_RESULT_ELEMENTS,
            code=self.reader.text(next(iter(_codes(observation.get("code"))), None)),
            name=self.reader.text(_concept_text(observation.get("code"))),
            value=self.reader.text(value),
            unit=self.reader.text(_string(quantity.get("unit")) or _string(quantity.get("code"))),
            description=self.reader.text(_string(_first(observation.get("note")).get("text"))),
            conclusion=self.reader.text(_concept_text(_first(observation.get("interpretation")))),
            result_at=self._timestamp(
                f"{name}.effectiveDateTime", observation.get("effectiveDateTime") or observation.get("issued")
            ),
        )

    def _medication(self, request: Json) -> Medication | None:
        name = _name(request)
        concept = request.get("medicationCodeableConcept")
        dosage = _first(request.get("dosageInstruction"))
        quantity = _object(_object(request.get("dispenseRequest")).get("quantity"))
        return self._detail(
            Medication,
            request,
            _MEDICATION_ELEMENTS,
            code=self.reader.text(next(iter(_codes(concept)), None)),
            name=self.reader.text(_concept_text(concept)),
            dosage=self.reader.text(_string(dosage.get("text"))),
            route=self.reader.text(_concept_text(dosage.get("route"))),
            quantity=self.reader.decimal(
                f"{name}.dispenseRequest.quantity.value", _string(quantity.get("value"))
            ),
            unit=self.reader.text(_string(quantity.get("unit")) or _string(quantity.get("code"))),
            ordered_at=self._timestamp(f"{name}.authoredOn", request.get("authoredOn")),
        )


def _phone(patient: Json) -> str | None:
    phones = (
        _string(point.get("value"))
        for point in _objects(patient.get("telecom"))
        if point.get("system") == "phone"
    )
    return next(phones, None)


def _human_name(patient: Json) -> str | None:
    """HumanName.text, else family then given names: the Vietnamese order. The official name first."""
    names = _objects(patient.get("name"))
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = _string(chosen.get("family"))
    return (
        _string(chosen.get("text"))
        or " ".join(([family] if family else []) + _strings(chosen.get("given")))
        or None
    )


_PATIENT_LABELS = {
    "facility_code": "managingOrganization",
    "local_id": "identifier[local_id]",
    "full_name": "name",
    "birth_date": "birthDate",
    "sex": "gender",
    "citizen_id": "identifier[citizen_id]",
    "old_id_number": "identifier[old_id_card]",
    "passport_number": "identifier[passport]",
    "insurance_cards": "identifier[insurance_card]",
    "social_insurance_number": "identifier[insurance_card]",
    "phone": "telecom",
    "address": "address",
}
# The element each field of a detail row comes from, to name it in a rejection.
_DIAGNOSIS_ELEMENTS = {"code": "code", "is_main": "code", "text": "code.text"}
_LAB_RESULT_ELEMENTS = {
    "code": "code",
    "name": "code",
    "value": "value[x]",
    "unit": "valueQuantity.unit",
    "description": "note",
    "conclusion": "interpretation",
    "result_at": "effectiveDateTime",
}
_MEDICATION_ELEMENTS = {
    "code": "medicationCodeableConcept",
    "name": "medicationCodeableConcept",
    "dosage": "dosageInstruction.text",
    "route": "dosageInstruction.route",
    "quantity": "dispenseRequest.quantity.value",
    "unit": "dispenseRequest.quantity.unit",
    "ordered_at": "authoredOn",
}
_ENCOUNTER_LABELS = {
    "encounter_id": "identifier[encounter]",
    "visit_type": "type",
    "admitted_at": "period.start",
    "discharged_at": "period.end",
    "referred_from": "hospitalization.origin",
    "referred_to": "hospitalization.destination",
    "admission_diagnosis_text": "reasonCode",
    "diagnoses": "diagnosis",
    "lab_results": "Observation",
    "medications": "MedicationRequest",
}
