"""What a vendor may configure about its files: FHIR identifier systems and CSV column names.

Defaults live in loaders/profiles/default.toml; a vendor profile overrides them key by key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from loaders.records import SourceFormat


@dataclass(frozen=True)
class Profile:
    fhir_identifier_systems: dict[str, tuple[str, ...]]
    fhir_identifier_types: dict[str, tuple[str, ...]]
    csv_columns: dict[str, tuple[str, ...]]

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Profile:
        fhir = data.get("fhir", {})
        return cls(
            fhir_identifier_systems=_lists(fhir.get("identifier_systems", {})),
            fhir_identifier_types=_lists(fhir.get("identifier_types", {})),
            csv_columns=_lists(data.get("csv", {})),
        )

    def overridden_by(self, other: dict[str, Any]) -> Profile:
        extra = Profile.from_mapping(other)
        return Profile(
            fhir_identifier_systems={**self.fhir_identifier_systems, **extra.fhir_identifier_systems},
            fhir_identifier_types={**self.fhir_identifier_types, **extra.fhir_identifier_types},
            csv_columns={**self.csv_columns, **extra.csv_columns},
        )


def _lists(table: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {key: tuple(value) if isinstance(value, list) else (str(value),) for key, value in table.items()}


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
