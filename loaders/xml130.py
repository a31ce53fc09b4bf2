"""Reading XML 130 insurance files (Decision 130/QĐ-BYT as amended by 4750/QĐ-BYT and 3176/QĐ-BYT).

A file is an envelope (GIAMDINHHS) whose HOSO elements are treatment episodes; each HOSO holds
its tables (XML1 visit summary, XML2 drugs, ...) as base64 of UTF-8 XML. The envelope is
streamed, one HOSO in memory at a time; each HOSO becomes one SourceRecord or one Reject.

Both levels are parsed by expat under defusedxml's strictest policy (forbid_dtd): a document
type declaration is refused the moment it starts, and without one no entity can be declared,
so entity expansion ("billion laughs") and external entities never happen. The handlers are
wired straight to the C TreeBuilder: defusedxml's own ElementTree parser routes every element
through Python and is about three times slower on the inner tables. A table with no DTD and no
namespace (every real one) is parsed by ElementTree's C XMLParser instead, the same expat and C
TreeBuilder without a Python call per event; anything it would read differently, and anything it
cannot read, goes to the hardened expat, which alone words why a table is refused.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import BinaryIO, TypeVar
from xml.etree.ElementTree import Element, ParseError, TreeBuilder, XMLParser, tostring
from xml.parsers import expat

from defusedxml import DTDForbidden
from pydantic import BaseModel

from loaders import limits
from loaders.codes import split_codes
from loaders.fields import FieldReader
from loaders.identifiers import PersonIdKind
from loaders.options import LoaderOptions
from loaders.records import (
    Encounter,
    FileHeader,
    LabResult,
    Medication,
    Patient,
    ProgressNote,
    Reject,
    Service,
    SourceFormat,
    SourceRecord,
    UnreadableFile,
)
from loaders.xml130_rows import Column, RowTable, Seen, clean_rows, remember, seen_values

M = TypeVar("M", bound=BaseModel)

ENVELOPE_ROOT = "GIAMDINHHS"
SUMMARY_ROOT = "TONG_HOP"
SUMMARY_TABLE = "XML1"
# One HOSO's text (its base64 tables) beyond this is refused rather than held in memory.

_CHUNK = 64 * 1024
_ENVELOPE_TEXT = frozenset({"MACSKCB", "NGAYLAP", "SOLUONGHOSO", "LOAIHOSO", "NOIDUNGFILE"})
_TABLE_KIND = re.compile(r"(?:XML)?0*(\d{1,2})", re.IGNORECASE)
_BASE64_SPACING = b" \t\r\n\f\v"
_DTD_REFUSED = "has a document type declaration (<!DOCTYPE>); refused: DTDs carry entity attacks"
_TRUNCATION_ERRORS = frozenset(
    expat.errors.codes[message]
    for message in (expat.errors.XML_ERROR_NO_ELEMENTS, expat.errors.XML_ERROR_UNCLOSED_TOKEN,
                    expat.errors.XML_ERROR_PARTIAL_CHAR, expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION)
)  # fmt: skip
_FILE_COUNTS = range(1_000_000_000)


# --- Detail tables (XML2..XML5): which element becomes which canonical field -------------------


ROW_TABLES: tuple[RowTable, ...] = (
    RowTable(
        "XML2", "CHITIEU_CHITIET_THUOC", "DSACH_CHI_TIET_THUOC", "CHI_TIET_THUOC", Medication, "medications",
        (
            Column("code", "MA_THUOC"), Column("name", "TEN_THUOC"), Column("strength", "HAM_LUONG"),
            Column("dosage", "LIEU_DUNG"), Column("route", "DUONG_DUNG"),
            Column("quantity", "SO_LUONG", "decimal"), Column("unit", "DON_VI_TINH"),
            Column("ordered_at", "NGAY_YL", "time"), Column("performed_at", "NGAY_TH_YL", "time"),
        ),
    ),
    RowTable(
        "XML3", "CHITIEU_CHITIET_DVKT_VTYT", "DSACH_CHI_TIET_DVKT", "CHI_TIET_DVKT", Service, "services",
        (
            Column("code", "MA_DICH_VU"), Column("supply_code", "MA_VAT_TU"),
            Column("name", "TEN_DICH_VU", alternative="TEN_VAT_TU"),
            Column("quantity", "SO_LUONG", "decimal"), Column("ordered_at", "NGAY_YL", "time"),
            Column("performed_at", "NGAY_TH_YL", "time"), Column("result_at", "NGAY_KQ", "time"),
        ),
    ),
    RowTable(
        "XML4", "CHITIEU_CHITIET_DICHVUCANLAMSANG", "DSACH_CHI_TIET_CLS", "CHI_TIET_CLS", LabResult,
        "lab_results",
        (
            Column("service_code", "MA_DICH_VU"), Column("code", "MA_CHI_SO"), Column("name", "TEN_CHI_SO"),
            Column("value", "GIA_TRI"), Column("unit", "DON_VI_DO"), Column("description", "MO_TA"),
            Column("conclusion", "KET_LUAN"), Column("result_at", "NGAY_KQ", "time"),
        ),
    ),
    RowTable(
        "XML5", "CHITIEU_CHITIET_DIENBIENLAMSANG", "DSACH_CHI_TIET_DIEN_BIEN_BENH", "CHI_TIET_DIEN_BIEN_BENH",
        ProgressNote, "notes",
        (
            Column("text", "DIEN_BIEN_LS"), Column("stage", "GIAI_DOAN_BENH"), Column("consultation", "HOI_CHAN"),
            Column("surgery", "PHAU_THUAT"), Column("recorded_at", "THOI_DIEM_DBLS", "time"),
            Column("author", "NGUOI_THUC_HIEN"),
        ),
    ),
)  # fmt: skip
_READ_TABLES = frozenset({SUMMARY_TABLE, *(table.name for table in ROW_TABLES)})
_ROW_ELEMENTS = {
    table.name: {column.attribute: column.element for column in table.columns} for table in ROW_TABLES
}

# Canonical field -> XML1 element, for the canonical models' own rules ("" = a rule over the whole model).
_PATIENT_ELEMENTS = {
    "": "SO_CCCD",  # the only whole-patient rule: citizen ID vs sex and birth year
    "facility_code": "MA_CSKCB", "local_id": "MA_BN", "full_name": "HO_TEN", "birth_date": "NGAY_SINH",
    "sex": "GIOI_TINH", "citizen_id": "SO_CCCD", "old_id_number": "SO_CCCD", "passport_number": "SO_CCCD",
    "phone": "DIEN_THOAI", "address": "DIA_CHI", "nationality_code": "MA_QUOCTICH",
    "ethnicity_code": "MA_DANTOC", "occupation_code": "MA_NGHE_NGHIEP",
}  # fmt: skip
_ENCOUNTER_ELEMENTS = {
    "": "NGAY_RA",  # discharge before admission (one main diagnosis is guaranteed by XML1's shape)
    "encounter_id": "MA_LK", "record_number": "MA_HSBA", "visit_type": "MA_LOAI_KCB", "admitted_at": "NGAY_VAO",
    "inpatient_at": "NGAY_VAO_NOI_TRU", "discharged_at": "NGAY_RA", "departments": "MA_KHOA",
    "outcome": "KET_QUA_DTRI", "discharge_type": "MA_LOAI_RV", "referred_to": "MA_NOI_DEN",
    "referral_paper": "GIAY_CHUYEN_TUYEN", "admission_diagnosis_text": "CHAN_DOAN_VAO",
    "discharge_diagnosis_text": "CHAN_DOAN_RV", "procedures": "MA_PTTT_QT",
    **{table.attribute: table.name for table in ROW_TABLES},
}  # fmt: skip


# --- Entry point ------------------------------------------------------------------------------


def read_xml130(
    stream: BinaryIO, options: LoaderOptions, *, defer: bool = False
) -> Iterator[FileHeader | SourceRecord | Reject | RawHoso]:
    """The file's header, then one SourceRecord or Reject per HOSO, in file order.

    With `defer`, each HOSO comes as sent (a RawHoso, its tables still base64), for the caller to
    read (`RawHoso.read`), in another process if it likes: the envelope is what must be read in
    order, and it is a small part of the work.

    Raises UnreadableFile (possibly after some items were yielded) for a file that cannot be
    trusted as a whole: malformed or truncated XML, hostile XML, bad base64, text that is not
    UTF-8, a file from another facility than the one declared in `options`, or a SOLUONGHOSO
    that disagrees with the HOSOs the file holds.
    """
    envelope = _Envelope()
    header: FileHeader | None = None
    count = 0
    for chunk, final in _utf8_chunks(stream):
        envelope.feed(chunk, final)
        if header is None and (envelope.records_started or final):
            header = _header(envelope.header_text, options)
            yield header
        while envelope.completed:
            count += 1
            hoso = envelope.completed.popleft()
            hoso.file_facility = header.facility_code or ""
            yield hoso if defer else hoso.read()
    if header is not None and header.declared_count is not None and header.declared_count != count:
        # Records lost (or added) in transit: the facility resends the file rather than have it half-loaded.
        raise UnreadableFile(
            f"THONGTINHOSO/SOLUONGHOSO says {header.declared_count} records, but the file holds {count} HOSO"
        )


def _utf8_chunks(stream: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """The stream in chunks, each checked to be UTF-8 (expat would only say "invalid token")."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    while True:
        chunk = stream.read(_CHUNK)
        final = not chunk
        try:
            decoder.decode(chunk, final)
        except UnicodeDecodeError as problem:
            raise UnreadableFile(
                f"the file is not UTF-8 text (invalid byte near offset {offset + problem.start})"
            ) from None
        offset += len(chunk)
        yield chunk, final
        if final:
            return


def _header(text: dict[str, str], options: LoaderOptions) -> FileHeader:
    reader = FieldReader()
    facility_field = "THONGTINDONVI/MACSKCB"
    raw_facility = text.get("MACSKCB")
    facility = (
        reader.facility(facility_field, raw_facility)
        if reader.required(facility_field, raw_facility)
        else None
    )
    created_at = reader.timestamp("THONGTINHOSO/NGAYLAP", text.get("NGAYLAP"), strict=True)
    declared_count = reader.integer(
        "THONGTINHOSO/SOLUONGHOSO", text.get("SOLUONGHOSO"), _FILE_COUNTS, strict=True
    )
    if reader.errors:
        raise UnreadableFile(
            f"the file header (before the first HOSO) is invalid: {'; '.join(reader.errors)}"
        )
    if options.facility_code and facility != options.facility_code:
        raise UnreadableFile(f"file is from facility {facility} but was declared as {options.facility_code}")
    return FileHeader(
        format=SourceFormat.XML130,
        facility_code=facility,
        created_at=created_at,
        declared_count=declared_count,
    )


# --- The envelope, streamed -------------------------------------------------------------------


@dataclass(slots=True)
class RawHoso:
    """One HOSO as the envelope holds it: its tables still base64 (see read_xml130's `defer`)."""

    position: int
    files: list[tuple[str | None, str | None]] = field(default_factory=list)  # (LOAIHOSO, NOIDUNGFILE)
    file_facility: str = ""  # the envelope's MACSKCB, which every HOSO must agree with

    def read(self) -> SourceRecord | Reject:
        """The HOSO as a SourceRecord, or a Reject; raises UnreadableFile as read_xml130 would."""
        return _read_hoso(self, self.file_facility)


class _Envelope:
    """The outer XML, fed chunk by chunk.

    Keeps the header text met before the first HOSO and the HOSOs completed but not yet taken
    (at most one chunk's worth); nothing else of the file is retained.
    """

    def __init__(self) -> None:
        self.header_text: dict[str, str] = {}
        self.records_started = False
        self.completed: deque[RawHoso] = deque()
        self._open: list[str] = []
        self._hoso: RawHoso | None = None
        self._file: dict[str, str] | None = None
        self._text: list[str] | None = None
        self._hoso_chars = 0
        self._count = 0
        self._parser = _safe_expat()
        self._parser.buffer_text = True  # base64 wrapped over lines arrives in one piece, not one per line
        self._parser.buffer_size = _CHUNK
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._data

    def feed(self, chunk: bytes, final: bool) -> None:
        _parse(self._parser, chunk, final, "the file")

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        tag = name.upper()
        if not self._open and tag != ENVELOPE_ROOT:
            raise UnreadableFile(
                f"the root element is <{name}>, expected <{ENVELOPE_ROOT}> (an XML 130 file)"
            )
        if len(self._open) >= limits.MAX_NESTING:
            raise UnreadableFile(
                f"the file nests elements deeper than {limits.MAX_NESTING} levels (<{name}>)"
            )
        self._open.append(tag)
        if tag == "HOSO":
            self.records_started = True
            self._count += 1
            self._hoso = RawHoso(self._count)
            self._hoso_chars = 0
        elif tag == "FILEHOSO" and self._hoso is not None:
            self._file = {}
        self._text = [] if tag in _ENVELOPE_TEXT else None

    def _data(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)
            self._hoso_chars += len(text)
            if self._hoso_chars > limits.MAX_RECORD_BYTES:
                raise UnreadableFile(
                    f"HOSO {self._count} is larger than {limits.MAX_RECORD_BYTES // 2**20} MiB"
                )

    def _end(self, name: str) -> None:
        tag = self._open.pop()
        text = "".join(self._text) if self._text is not None else ""
        self._text = None
        if tag == "HOSO" and self._hoso is not None:
            self.completed.append(self._hoso)
            self._hoso = None
        elif tag == "FILEHOSO" and self._hoso is not None and self._file is not None:
            self._hoso.files.append((self._file.get("LOAIHOSO"), self._file.get("NOIDUNGFILE")))
            self._file = None
        elif self._file is not None:
            self._file[tag] = text
        elif not self.records_started and tag in _ENVELOPE_TEXT:
            self.header_text.setdefault(tag, text)


def _safe_expat() -> expat.XMLParserType:
    """Expat reading UTF-8 whatever the XML declaration says, refusing any DTD (defusedxml's forbid_dtd).

    A document without a DTD cannot declare entities, internal or external: refusing the
    DOCTYPE at its start refuses them all before expat reads a single declaration.
    """
    parser = expat.ParserCreate(encoding="UTF-8")
    parser.StartDoctypeDeclHandler = _refuse_dtd
    return parser


def _refuse_dtd(name: str, system_id: str | None, public_id: str | None, has_internal_subset: bool) -> None:
    raise DTDForbidden(name, system_id, public_id)


def _parse(parser: expat.XMLParserType, data: bytes, final: bool, where: str) -> None:
    try:
        parser.Parse(data, final)
    except DTDForbidden:
        raise UnreadableFile(f"{where} {_DTD_REFUSED}") from None
    except expat.ExpatError as problem:
        message = f"{where} is not well-formed XML: {expat.errors.messages[problem.code]} "
        message += f"(line {problem.lineno}, column {problem.offset})"
        if problem.code in _TRUNCATION_ERRORS:
            message += "; is it truncated?"
        raise UnreadableFile(message) from None


# --- One HOSO ---------------------------------------------------------------------------------


class _EpisodeReader(FieldReader):
    """A FieldReader that cleans or parses a raw value seen before only once (see Seen)."""

    def __init__(self, seen: Seen) -> None:
        super().__init__()
        self.seen = seen

    def text(self, raw: str | None) -> str | None:
        return None if raw is None else self.seen.text(raw)

    def timestamp(self, field: str, raw: str | None, *, strict: bool = False) -> datetime | None:
        known = self.seen.times.get(raw) if raw is not None else None
        if known is not None:
            return known
        parsed = super().timestamp(field, raw, strict=strict)
        if parsed is not None and raw is not None and remember(raw):  # failures are not remembered:
            self.seen.times[raw] = parsed  # each row reports its own
        return parsed


def _read_hoso(hoso: RawHoso, file_facility: str) -> SourceRecord | Reject:
    reader = _EpisodeReader(seen_values())
    tables, skipped = _open_tables(hoso, reader)
    summary = _first(tables.get(SUMMARY_TABLE), SUMMARY_ROOT)
    fields = _fields(summary) if summary is not None else {}
    culprits: list[Element] = []  # where the first problem is, for the excerpt

    encounter_id = reader.text(fields.get("MA_LK"))
    patient: Patient | None = None
    encounter_values: dict[str, object] = {}
    encounter_elements: dict[str, str] = {}
    if summary is None:
        reader.errors.append(f"{SUMMARY_TABLE}: missing (the HOSO has no {SUMMARY_ROOT} visit summary)")
    else:
        patient, encounter_values, encounter_elements = _read_summary(reader, fields, file_facility)
        if reader.errors:
            culprits.append(summary)
    for table in ROW_TABLES:
        encounter_values[table.attribute] = _read_rows(
            reader, table, tables.get(table.name), encounter_id, culprits
        )
    encounter_values["flags"] = reader.flags_since(len(patient.flags) if patient else 0)
    encounter = (
        _build(reader, Encounter, encounter_elements, **encounter_values) if summary is not None else None
    )

    locator = f"HOSO {hoso.position} (MA_LK {encounter_id})" if encounter_id else f"HOSO {hoso.position}"
    if reader.errors or patient is None or encounter is None:
        culprit = culprits[0] if culprits else summary
        return reader.reject(
            hoso.position,
            locator,
            tostring(culprit, encoding="unicode").strip() if culprit is not None else "",
            facility_code=file_facility,
            local_id=reader.text(fields.get("MA_BN")),
            encounter_id=encounter_id,
        )
    return SourceRecord(
        position=hoso.position, locator=locator, patient=patient, encounter=encounter, skipped_tables=skipped
    )


def _open_tables(hoso: RawHoso, reader: FieldReader) -> tuple[dict[str, Element], tuple[str, ...]]:
    """Decode and parse every table of the HOSO (hostile content is refused even in tables not read)."""
    tables: dict[str, Element] = {}
    skipped: list[str] = []
    for raw_kind, content in hoso.files:
        kind = _table_kind(raw_kind)
        where = f"HOSO {hoso.position} {kind or 'FILEHOSO'}"
        root = _parse_table(_decode_base64(content, where), where)
        if kind is None:
            reader.errors.append(f"LOAIHOSO: {raw_kind!r} is not an XML 130 table (XML0 to XML15)")
        elif kind not in _READ_TABLES:
            skipped.append(kind)
        elif kind in tables:
            reader.errors.append(f"{kind}: appears more than once in the HOSO")
        elif root is not None:  # an empty NOIDUNGFILE is an absent table
            tables[kind] = root
    return tables, tuple(skipped)


def _table_kind(raw: str | None) -> str | None:
    """'XML1', 'xml1', ' 1 ' -> 'XML1'; None for anything that is not XML0..XML15."""
    match = _TABLE_KIND.fullmatch(raw.strip()) if raw else None
    return f"XML{int(match[1])}" if match and int(match[1]) <= 15 else None


def _decode_base64(content: str | None, where: str) -> bytes:
    """NOIDUNGFILE: base64, possibly wrapped over lines; anything else in it is an error."""
    try:
        data = (content or "").encode("ascii")
        try:
            return binascii.a2b_base64(data, strict_mode=True)
        except binascii.Error:  # wrapped over lines, or broken: removing the spacing first costs a pass
            return binascii.a2b_base64(data.translate(None, _BASE64_SPACING), strict_mode=True)
    except UnicodeEncodeError:
        raise UnreadableFile(f"{where}: NOIDUNGFILE is not valid base64 (non-ASCII characters)") from None
    except binascii.Error as problem:
        raise UnreadableFile(f"{where}: NOIDUNGFILE is not valid base64 ({problem})") from None


def _parse_table(data: bytes, where: str) -> Element | None:
    if not data:
        return None
    # Every element opens with a '<': counted at C speed, so the tree built stays within the limit.
    if data.count(b"<") > 2 * limits.MAX_TABLE_ELEMENTS:
        raise UnreadableFile(f"{where}: more than {limits.MAX_TABLE_ELEMENTS:,} elements in one table")
    # What ElementTree's C parser would read otherwise than expat alone is left to it: a DTD (refused
    # there, with its reason) and namespaces (the C parser names their elements {uri}local). Without
    # a DTD no entity can be declared; an undeclared prefix is an error, which _expat_table words.
    expat_only = b"<!DOCTYPE" in data or b"xmlns" in data or b"xml:" in data
    root = None if expat_only else _c_parsed_table(data)
    if root is None:
        root = _expat_table(data, where)
    if _nested_deeper_than(root, limits.MAX_NESTING):
        raise UnreadableFile(f"{where}: elements nested deeper than {limits.MAX_NESTING} levels")
    return root


def _c_parsed_table(data: bytes) -> Element | None:
    """The table as ElementTree's C XMLParser reads it (a third fewer instructions than
    _expat_table); None if it cannot, for _expat_table to word why."""
    parser = XMLParser(encoding="UTF-8")
    try:
        parser.feed(data)
        return parser.close()
    except ParseError:
        return None


def _expat_table(data: bytes, where: str) -> Element:
    builder = TreeBuilder()
    parser = _safe_expat()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        _parse(parser, data, True, where)
    except UnreadableFile:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as problem:
            raise UnreadableFile(
                f"{where}: the table is not UTF-8 text (invalid byte at {problem.start})"
            ) from None
        raise
    return builder.close()


def _nested_deeper_than(root: Element, limit: int) -> bool:
    """Whether the tree is more than `limit` levels deep, level by level (no recursion, no parent links)."""
    level, depth = [root], 1
    while level:
        if depth > limit:
            return True
        level = list(chain.from_iterable(filter(len, level)))  # at C speed; leaves have no children
        depth += 1
    return False


def _first(root: Element | None, tag: str) -> Element | None:
    found = _find_all(root, tag) if root is not None else []
    return found[0] if found else None


def _find_all(root: Element, tag: str) -> list[Element]:
    """Elements named `tag` (any case) wherever they sit under whatever wrappers; not searched inside."""
    found: list[Element] = []
    pending = [root]
    while pending:
        element = pending.pop()
        if element.tag.upper() == tag:
            found.append(element)
        else:
            pending.extend(reversed(element))  # reversed: pop() then visits in document order
    return found


def _fields(element: Element) -> dict[str, str | None]:
    return {child.tag.upper(): child.text for child in element}


def _either(fields: dict[str, str | None], name: str, older_name: str) -> tuple[str, str | None]:
    """The element under its current name, else under its Decision-4210 name; errors cite the one used."""
    if fields.get(name) is None and fields.get(older_name) is not None:
        return older_name, fields[older_name]
    return name, fields.get(name)


def _read_summary(
    reader: FieldReader, fields: dict[str, str | None], file_facility: str
) -> tuple[Patient | None, dict[str, object], dict[str, str]]:
    """XML1: the patient as this facility knows them, the episode's own fields and their elements."""
    facility = reader.facility("MA_CSKCB", fields.get("MA_CSKCB"))
    if facility is not None and facility != file_facility:
        reader.errors.append(f"MA_CSKCB: {facility} is not the file's facility {file_facility} (MACSKCB)")
    birth_date = reader.birth_date("NGAY_SINH", fields.get("NGAY_SINH"))
    sex = reader.sex("GIOI_TINH", fields.get("GIOI_TINH"))
    ids = reader.person_ids(
        "SO_CCCD", fields.get("SO_CCCD"), sex=sex, birth_year=birth_date.year if birth_date else None
    )
    card_element, raw_cards = _either(fields, "MA_THE_BHYT", "MA_THE")
    cards = reader.insurance_cards(card_element, raw_cards)
    patient_flags = reader.flags_since(0)
    patient = _build(
        reader,
        Patient,
        {**_PATIENT_ELEMENTS, "insurance_cards": card_element, "social_insurance_number": card_element},
        facility_code=facility or file_facility,  # XML1 may leave it to the envelope
        local_id=reader.required("MA_BN", fields.get("MA_BN")),
        full_name=reader.required("HO_TEN", fields.get("HO_TEN")),
        birth_date=birth_date,
        sex=sex,
        citizen_id=ids.get(PersonIdKind.CITIZEN_ID),
        old_id_number=ids.get(PersonIdKind.OLD_ID_CARD),
        passport_number=ids.get(PersonIdKind.PASSPORT),
        insurance_cards=tuple(card.code for card in cards),
        # Cards disagreeing on the lifelong number are the facility's typo to fix, not a reason to refuse.
        social_insurance_number=cards[0].social_insurance_number if cards else None,
        phone=reader.phone(fields.get("DIEN_THOAI")),
        address=dict(
            text=reader.text(fields.get("DIA_CHI")),
            province_code=reader.text(fields.get("MATINH_CU_TRU")),
            district_code=reader.text(fields.get("MAHUYEN_CU_TRU")),
            commune_code=reader.text(fields.get("MAXA_CU_TRU")),
        ),
        nationality_code=reader.text(fields.get("MA_QUOCTICH")),
        ethnicity_code=reader.text(fields.get("MA_DANTOC")),
        occupation_code=reader.text(fields.get("MA_NGHE_NGHIEP")),
        flags=patient_flags,
    )
    main_element, main = _either(fields, "MA_BENH_CHINH", "MA_BENH")
    others_element, others = _either(fields, "MA_BENH_KT", "MA_BENHKHAC")
    from_element, referred_from = _either(fields, "MA_NOI_DI", "MA_NOI_CHUYEN")
    encounter_values: dict[str, object] = {
        "encounter_id": reader.required("MA_LK", fields.get("MA_LK")),
        "record_number": reader.text(fields.get("MA_HSBA")),
        "visit_type": reader.code("MA_LOAI_KCB", fields.get("MA_LOAI_KCB"), 2),
        "admitted_at": reader.timestamp("NGAY_VAO", fields.get("NGAY_VAO"), strict=True),
        "inpatient_at": reader.timestamp("NGAY_VAO_NOI_TRU", fields.get("NGAY_VAO_NOI_TRU")),
        "discharged_at": reader.timestamp("NGAY_RA", fields.get("NGAY_RA")),
        "departments": tuple(split_codes(reader.text(fields.get("MA_KHOA")))),
        "outcome": reader.integer("KET_QUA_DTRI", fields.get("KET_QUA_DTRI"), range(1, 9)),
        "discharge_type": reader.integer("MA_LOAI_RV", fields.get("MA_LOAI_RV"), range(1, 6)),
        "referred_from": reader.referral_facility(from_element, referred_from),
        "referred_to": reader.referral_facility("MA_NOI_DEN", fields.get("MA_NOI_DEN")),
        "referral_paper": reader.text(fields.get("GIAY_CHUYEN_TUYEN")),
        "admission_diagnosis_text": reader.text(fields.get("CHAN_DOAN_VAO")),
        "discharge_diagnosis_text": reader.text(fields.get("CHAN_DOAN_RV")),
        "diagnoses": tuple(reader.diagnoses(main_element, main, others_element, others)),
        "procedures": tuple(split_codes(reader.text(fields.get("MA_PTTT_QT")))),
    }
    elements = {**_ENCOUNTER_ELEMENTS, "diagnoses": main_element, "referred_from": from_element}
    return patient, encounter_values, elements


def _read_rows(
    reader: _EpisodeReader,
    table: RowTable,
    root: Element | None,
    encounter_id: str | None,
    culprits: list[Element],
) -> tuple[BaseModel, ...]:
    """Every row of a detail table; its problems and flags named "XML2 row 3 NGAY_YL: ..." (rows from 1)."""
    if root is None:
        return ()
    elements = _find_all(root, table.row)
    clean = clean_rows(table, elements, reader.seen, encounter_id)
    if clean is not None:
        return clean
    rows: list[BaseModel] = []
    for number, element in enumerate(elements, 1):
        fields = _fields(element)
        row_reader = _EpisodeReader(reader.seen)
        values = {
            column.attribute: _read_column(
                row_reader,
                column,
                fields.get(column.element)
                or (fields.get(column.alternative) if column.alternative else None),
            )
            for column in table.columns
        }
        row_key = row_reader.text(fields.get("MA_LK"))
        if encounter_id and row_key and row_key != encounter_id:
            row_reader.errors.append(f"MA_LK: {row_key!r} is not this HOSO's MA_LK {encounter_id!r}")
        row = (
            None if row_reader.errors else row_reader.build(table.model, _ROW_ELEMENTS[table.name], **values)
        )
        if row_reader.flags:
            where = f"{table.name} row {number}"
            reader.flags.extend(
                flag.model_copy(update={"field": f"{where} {flag.field}", "reason": f"{where} {flag.reason}"})
                for flag in row_reader.flags
            )
        if row is None:
            reader.errors.extend(f"{table.name} row {number} {error}" for error in row_reader.errors)
            culprits.append(element)
        else:
            rows.append(row)
    return tuple(rows)


def _read_column(reader: FieldReader, column: Column, raw: str | None) -> object:
    if column.kind == "decimal":
        return reader.decimal(column.element, raw)
    if column.kind == "time":
        return reader.timestamp(column.element, raw)  # the episode reader's, which remembers times parsed
    return reader.text(raw)


def _build(reader: FieldReader, model: type[M], elements: dict[str, str], **values: object) -> M | None:
    """FieldReader.build, without a second complaint about an element already reported."""
    reported = {error.partition(":")[0] for error in reader.errors}
    before = len(reader.errors)
    built = reader.build(model, elements, **values)
    reader.errors[before:] = [
        error for error in reader.errors[before:] if error.partition(":")[0] not in reported
    ]
    return built
