"""What a client sends, checked before it is used: a mistake is the client's (BAD_USER_INPUT), with a
clear message, never a server error.

Three layers, each where it survives however the operation is executed:
- the scalars (scalars.py) refuse a value they cannot read (a Date is yyyy-mm-dd);
- text the database cannot store (the NUL character) is refused in the operation's literals, by a
  validation rule, and in its variables, before they are coerced;
- identifiers are read on ASCII digits after NFKC (full-width digits are the same number;
  other digits, such as Arabic-Indic ones, are refused), in `identifier` and `record_id`.

What still reaches the database out of its range is answered as the client's mistake by
`registry.api.errors.client_error`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule

from registry.api.errors import BadUserInput

NUL = "\x00"
NUL_REFUSED = "text may not contain the NUL character (U+0000)"
_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


class NoNulInText(ValidationRule):
    """A string literal holding NUL (`"\\u0000"`, or a block string with one) is refused:
    PostgreSQL stores no NUL in text, and no identifier or name holds one."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if NUL in node.value:
            self.report_error(GraphQLError(NUL_REFUSED, node))


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value (keys too), with where it is."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield path, key
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def refused_variables(variables: dict[str, Any] | None) -> str | None:
    """Why these variables cannot be used (a NUL in a string), or None."""
    if not variables:
        return None
    for path, text in _strings(variables, ""):
        if NUL in text:
            return f"variable ${path.lstrip('.')}: {NUL_REFUSED}"
    return None


def nfkc(value: str) -> str:
    """Compatibility forms folded (full-width digits and letters to ASCII), surrounding space removed."""
    return unicodedata.normalize("NFKC", value).strip()


def identifier(value: str, what: str, shape: re.Pattern[str], expected: str) -> str:
    """An identifier after NFKC, which must match `shape` (written with ASCII classes, [0-9] not \\d)."""
    normalised = nfkc(value)
    if not shape.fullmatch(normalised):
        raise BadUserInput(f"{what} is {expected}")
    return normalised


def digits_only(value: str | None, what: str) -> str | None:
    """A number made of digits and separators (a phone or insurance number) after NFKC; refused when it
    holds a digit other than 0-9, which would otherwise be dropped or passed on unread."""
    if value is None:
        return None
    normalised = nfkc(value)
    if any(ch.isdigit() and not ch.isascii() for ch in normalised):
        raise BadUserInput(f"{what} is written with the digits 0-9")
    return normalised


def record_id(value: str | int, what: str) -> int:
    """A numeric id (a patient, a batch, a token...) given as an ID: ASCII digits after NFKC, in range."""
    text = nfkc(str(value))
    if not _ASCII_DIGITS.fullmatch(text):
        raise BadUserInput(f"{what} is a number")
    parsed = int(text) if len(text) <= 19 else 0  # 2**63 has 19 digits; int() refuses thousands
    if not 0 < parsed < 2**63:
        raise BadUserInput(f"{what} is out of range")
    return parsed
