"""Turning one unit's raw strings into canonical values, collecting every problem with its source field.

Each loader reads raw strings from its format and hands them to a `FieldReader` with the
field's name *as the facility knows it* (SO_CCCD, identifier[cccd], citizen_id ...), so a
rejection reads "SO_CCCD: 11 digits, expected 12 (citizen ID) or 9 (old ID card)".
All formats share these rules; only field names differ.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from loaders.codes import InvalidCode, normalise_icd10, split_codes
from loaders.dates import BirthDate, InvalidDate, parse_birth_date, parse_timestamp
from loaders.identifiers import (
    ASCII_REPAIR,
    InconsistentIdentifier,
    InsuranceCard,
    InvalidIdentifier,
    PersonIdKind,
    ascii_form,
    check_facility_code,
    normalise_phone,
    parse_insurance_card,
    read_person_id,
)
from loaders.records import Diagnosis, FieldFlag, FlaggedIdentifier, FlagKind, Reject, Sex
from loaders.text import clean_text

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

EXCERPT_LIMIT = 300
FLAGGED_VALUE_LIMIT = 200
_PROBLEMS = (InvalidIdentifier, InvalidDate, InvalidCode, ValueError)


class FieldReader:
    """Reads one unit's fields: what cannot be read accumulates instead of raising.

    A record is rejected (`errors`) only when it cannot be stored meaningfully: its keys (facility,
    patient id, episode id) or name are missing or unreadable, its visit date is unreadable, or its
    structure is broken. Any other field that cannot be read, or an identifier that is malformed,
    inconsistent or repaired, is kept as sent in `flags` (see FieldFlag) and the record is stored.
    The `strict` reads are the ones a record cannot do without.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.flags: list[FieldFlag] = []

    def flag(
        self, field: str, identifier: FlaggedIdentifier | None, kind: FlagKind, reason: str, raw: str
    ) -> None:
        self.flags.append(
            FieldFlag(
                field=field,
                identifier=identifier,
                kind=kind,
                reason=f"{field}: {reason}",
                value=raw[:FLAGGED_VALUE_LIMIT],
            )
        )

    def flags_since(self, mark: int) -> tuple[FieldFlag, ...]:
        """The flags raised since `len(self.flags)` was `mark`: one patient's, or one visit's."""
        return tuple(self.flags[mark:])

    def _read(
        self, field: str, raw: str | None, parse: Callable[[str], T], *, strict: bool = False
    ) -> T | None:
        text = clean_text(raw)
        if text is None:
            return None
        try:
            return parse(text)
        except _PROBLEMS as problem:
            if strict:
                self.errors.append(f"{field}: {problem}")
            else:
                self.flag(field, None, FlagKind.MALFORMED, str(problem), text)
            return None

    def text(self, raw: str | None) -> str | None:
        return clean_text(raw)

    def required(self, field: str, raw: str | None) -> str:
        text = clean_text(raw)
        if text is None:
            self.errors.append(f"{field}: missing")
            return ""
        return text

    def facility(self, field: str, raw: str | None) -> str | None:
        """The facility a record belongs to: part of its key, so always strict."""
        return self._read(field, raw, check_facility_code, strict=True)

    def birth_date(self, field: str, raw: str | None) -> BirthDate | None:
        return self._read(field, raw, parse_birth_date)

    def timestamp(self, field: str, raw: str | None, *, strict: bool = False) -> datetime | None:
        return self._read(field, raw, parse_timestamp, strict=strict)

    def sex(self, field: str, raw: str | None) -> Sex | None:
        return self._read(field, raw, _sex)

    def person_ids(
        self, field: str, raw: str | None, *, sex: int | None, birth_year: int | None
    ) -> dict[PersonIdKind, str]:
        """SO_CCCD may hold a citizen ID, an old ID card or a passport number; a suspect one is flagged."""
        text = clean_text(raw)
        if text is None:
            return {}
        try:
            found = read_person_id(text, sex=sex, birth_year=birth_year)
        except InvalidIdentifier as problem:
            kind = (
                FlagKind.INCONSISTENT if isinstance(problem, InconsistentIdentifier) else FlagKind.MALFORMED
            )
            self.flag(field, FlaggedIdentifier.PERSON_ID, kind, str(problem), text)
            return {}
        if found.repair:
            self.flag(field, FlaggedIdentifier.PERSON_ID, FlagKind.REPAIRED, found.repair, text)
        return {found.kind: found.value}

    def insurance_cards(self, field: str, raw: str | None) -> list[InsuranceCard]:
        """Cards joined by ';': each malformed one is flagged and left out, the others kept."""
        cards: list[InsuranceCard] = []
        for part in (clean_text(raw) or "").split(";"):
            if not part.strip():
                continue
            try:
                card = parse_insurance_card(ascii_form(part))
            except InvalidIdentifier as problem:
                self.flag(field, FlaggedIdentifier.INSURANCE_CARD, FlagKind.MALFORMED, str(problem), part)
                continue
            if not part.isascii():
                self.flag(field, FlaggedIdentifier.INSURANCE_CARD, FlagKind.REPAIRED, ASCII_REPAIR, part)
            cards.append(card)
        return cards

    def referral_facility(self, field: str, raw: str | None) -> str | None:
        """A referring or receiving facility's code; a malformed one is flagged, the visit kept."""
        text = clean_text(raw)
        if text is None:
            return None
        try:
            return check_facility_code(text)
        except InvalidIdentifier as problem:
            self.flag(field, FlaggedIdentifier.REFERRAL_FACILITY, FlagKind.MALFORMED, str(problem), text)
            return None

    def phone(self, raw: str | None) -> str | None:
        # A malformed phone is not worth rejecting an episode for: it is dropped, not guessed.
        text = clean_text(raw)
        return normalise_phone(text) if text else None

    def integer(self, field: str, raw: str | None, allowed: range, *, strict: bool = False) -> int | None:
        return self._read(field, raw, lambda text: _in_range(text, allowed), strict=strict)

    def code(self, field: str, raw: str | None, width: int) -> str | None:
        """A fixed-width numeric code written with or without its leading zeros (MA_LOAI_KCB '3' -> '03')."""
        return self._read(field, raw, lambda text: _fixed_width(text, width))

    def decimal(self, field: str, raw: str | None) -> Decimal | None:
        return self._read(field, raw, parse_decimal)

    def icd10(self, field: str, raw: str | None) -> str | None:
        """One diagnosis code (FHIR carries one per Condition, with its own text and rank)."""
        return self._read(field, raw, normalise_icd10)

    def diagnoses(
        self, main_field: str, main: str | None, other_field: str, others: str | None
    ) -> list[Diagnosis]:
        found: list[Diagnosis] = []
        seen: set[str] = set()
        for field, raw, is_main in [(main_field, main, True)] + [
            (other_field, code, False) for code in split_codes(others)
        ]:
            code = self._read(field, raw, normalise_icd10)
            if code is not None and code not in seen:
                seen.add(code)
                found.append(Diagnosis(code=code, is_main=is_main))
        return found

    def build(self, model: type[M], field_names: dict[str, str], **values: object) -> M | None:
        """Construct a canonical model; its own rules' failures are reported with source field names.

        A rule over the whole model (citizen ID vs sex) is reported under `field_names[""]` when given.
        """
        try:
            return model(**values)
        except ValidationError as invalid:
            for error in invalid.errors():
                where = ".".join(str(part) for part in error["loc"])
                # Model-wide rules (empty loc) take the "" entry: e.g. SO_CCCD for Patient's citizen-ID rule.
                label = field_names.get(where.split(".")[0], where or model.__name__)
                message = error["msg"].removeprefix("Value error, ")
                self.errors.append(f"{label}: {message}" if label else message)
            return None

    def reject(self, position: int, locator: str, excerpt: str, **keys: str | None) -> Reject:
        return Reject(
            position=position,
            locator=locator,
            reasons=tuple(self.errors),
            excerpt=excerpt[:EXCERPT_LIMIT],
            **keys,
        )


def _sex(text: str) -> Sex:
    try:
        return Sex(int(text))
    except ValueError:
        raise ValueError(f"{text!r} is not a sex code (1 male, 2 female, 3 undetermined)") from None


def _in_range(text: str, allowed: range) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) not in allowed:
        raise ValueError(f"{text!r} is not one of {allowed.start}-{allowed.stop - 1}")
    return int(text)


def _fixed_width(text: str, width: int) -> str:
    if not (text.isascii() and text.isdigit()) or len(text) > width:
        raise ValueError(f"{text!r} is not a {width}-digit code")
    return text.zfill(width)


def parse_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number (use a dot for decimals)") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return value
