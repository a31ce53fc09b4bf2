"""The labels of the XML 130 code lists (visit type, outcome, discharge type, department), in
Vietnamese and English, read from the data file xml130.toml beside this module.

The API writes them two ways from the same data (registry/api/graphql/encounters.py): looked up
here for an encounter built from its row, or as an SQL CASE (`label_sql`) in the statement that
writes encounters as JSON.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

CodeList = Literal["visit_type", "outcome", "discharge_type", "department"]
Language = Literal["vi", "en"]
CODE_LISTS: tuple[CodeList, ...] = ("visit_type", "outcome", "discharge_type", "department")


@dataclass(frozen=True)
class Label:
    code: str
    vi: str | None
    en: str | None


@cache
def code_lists() -> dict[str, dict[str, dict[str, str]]]:
    """list -> code -> language -> label, as the data file has them."""
    text = resources.files("registry.codes").joinpath("xml130.toml").read_text(encoding="utf-8")
    lists = tomllib.loads(text)
    unknown = set(lists) - set(CODE_LISTS)
    if unknown or any(set(entry) != {"vi", "en"} for codes in lists.values() for entry in codes.values()):
        raise ValueError(f"xml130.toml: lists are {CODE_LISTS}, each code with vi and en ({unknown or ''})")
    return lists


def label(code_list: CodeList, code: str | int | None) -> Label | None:
    """The code's labels (None for no code; a code the list lacks has no labels, its code kept)."""
    if code is None:
        return None
    entry = code_lists().get(code_list, {}).get(str(code), {})
    return Label(str(code), entry.get("vi"), entry.get("en"))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def label_sql(code_list: CodeList, language: Language, code_text: str) -> str:
    """SQL of type text: the label of the code `code_text` (an SQL expression of type text)."""
    cases = " ".join(
        f"WHEN {_literal(code)} THEN {_literal(entry[language])}"
        for code, entry in code_lists().get(code_list, {}).items()
    )
    return f"CASE {code_text} {cases} END" if cases else "NULL::text"
