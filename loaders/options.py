"""What a vendor may configure about its files: FHIR identifier systems and CSV column names.

Defaults live in loaders/profiles/default.toml; a vendor profile overrides them key by key.
A CSV field may also be composed from several columns (a name split into family and given
name, a visit date and its time): `[csv.parts]` names the part columns and `[csv.compose]`
says which parts make which field (see schema/csv-columns.md).
"""

from __future__ import annotations

import functools
import tomllib
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from loaders.records import SourceFormat

# Sub-tables of [csv] that are not columns.
_CSV_TABLES = ("parts", "compose")


class ProfileError(ValueError):
    """A profile that cannot be used as written; the message names the key."""


def folded(name: str) -> str:
    """A column name as headers are compared: lower case without Vietnamese accents, spaces,
    underscores or punctuation; đ -> d ("Họ tên" == "HO_TEN" == "ho ten")."""
    decomposed = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(char for char in decomposed.casefold() if char.isalnum())


@dataclass(frozen=True)
class Composition:
    """How one CSV field is made from part columns when the file splits it.

    `alternatives`: lists of column names (parts, or the field's own column), tried in order; a
    row's value is the non-empty cells of the first one the file has, joined by a space.
    `required`: parts that must be filled whenever another part of the row is.
    """

    alternatives: tuple[tuple[str, ...], ...]
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Profile:
    fhir_identifier_systems: dict[str, tuple[str, ...]]
    fhir_identifier_types: dict[str, tuple[str, ...]]
    csv_columns: dict[str, tuple[str, ...]]
    csv_parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    csv_compose: dict[str, Composition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_csv(self)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Profile:
        return cls(**_sections(data))

    def overridden_by(self, other: dict[str, Any]) -> Profile:
        extra = _sections(other)
        return Profile(**{name: {**getattr(self, name), **table} for name, table in extra.items()})


def _sections(data: dict[str, Any]) -> dict[str, Any]:
    """A profile mapping's tables, each keyed as in the TOML (a vendor's may be partial)."""
    fhir = data.get("fhir", {})
    csv = data.get("csv", {})
    return {
        "fhir_identifier_systems": _lists(fhir.get("identifier_systems", {})),
        "fhir_identifier_types": _lists(fhir.get("identifier_types", {})),
        "csv_columns": _lists({key: value for key, value in csv.items() if key not in _CSV_TABLES}),
        "csv_parts": _lists(csv.get("parts", {})),
        "csv_compose": {key: _composition(key, value) for key, value in csv.get("compose", {}).items()},
    }


def _lists(table: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {key: tuple(value) if isinstance(value, list) else (str(value),) for key, value in table.items()}


def _composition(key: str, table: Any) -> Composition:
    where = f"[csv.compose.{key}]"
    alternatives = table.get("from") if isinstance(table, dict) else None
    if not (
        isinstance(alternatives, list)
        and alternatives
        and all(isinstance(parts, list) and parts for parts in alternatives)
    ):
        raise ProfileError(f'{where}: needs from = [["part", "part"], ...], a list of lists of columns')
    return Composition(
        alternatives=tuple(tuple(str(part) for part in parts) for parts in alternatives),
        required=frozenset(str(part) for part in table.get("required", [])),
    )


def _check_csv(profile: Profile) -> None:
    """Every composition names known columns, and no two columns answer to the same header."""
    problems = [
        f"[csv.parts] {key}: already a [csv] column"
        for key in profile.csv_parts.keys() & profile.csv_columns.keys()
    ]
    for key, composition in profile.csv_compose.items():
        used = {part for parts in composition.alternatives for part in parts}
        if key not in profile.csv_columns:
            problems.append(f"[csv.compose.{key}]: {key} is not a [csv] column")
        problems += [
            f"[csv.compose.{key}]: {part} is neither a [csv.parts] nor a [csv] column"
            for part in sorted(used - profile.csv_parts.keys() - profile.csv_columns.keys())
        ]
        problems += [
            f"[csv.compose.{key}]: required {part} is in none of its alternatives"
            for part in sorted(composition.required - used)
        ]
    owners: dict[str, tuple[str, str]] = {}
    for column, names in (profile.csv_columns | profile.csv_parts).items():
        if not names:
            problems.append(f"[csv] {column}: needs at least one column name")
        for name in names:
            owner, first = owners.setdefault(folded(name), (column, name))
            if owner != column:
                problems.append(f"[csv] {first!r} ({owner}) and {name!r} ({column}) are the same header name")
    if problems:
        raise ProfileError("; ".join(problems))


@functools.cache  # read once: a load of many small files asks for it per file
def default_profile() -> Profile:
    text = resources.files("loaders").joinpath("profiles/default.toml").read_text(encoding="utf-8")
    return Profile.from_mapping(tomllib.loads(text))


def load_profile(path: Path | None) -> Profile:
    """The default profile, overridden by a vendor's TOML file when one is given."""
    base = default_profile()
    if path is None:
        return base
    return base.overridden_by(tomllib.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class LoaderOptions:
    """How to read one file.

    facility_code: the facility the file is declared to come from (CLI --facility, or the
    posting facility's token); a file naming another facility is unreadable as a whole, and
    formats that do not name the facility (some CSV) take it from here.
    """

    facility_code: str | None = None
    format: SourceFormat | None = None
    profile: Profile = field(default_factory=default_profile)
