"""Errors a client can act on, each with a stable code (GraphQL `extensions.code`, HTTP JSON `code`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import psycopg
from graphql import GraphQLError


class Code(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    INTERNAL = "INTERNAL_SERVER_ERROR"


HTTP_STATUS = {
    Code.UNAUTHENTICATED: 401,
    Code.FORBIDDEN: 403,
    Code.NOT_FOUND: 404,
    Code.BAD_USER_INPUT: 400,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.INTERNAL: 500,
}


class ApiError(GraphQLError):
    """Raised by resolvers and endpoints; the message is shown to the client, so it holds no personal data."""

    code: Code = Code.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code.value})

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message}


class Unauthenticated(ApiError):
    code = Code.UNAUTHENTICATED


class Forbidden(ApiError):
    code = Code.FORBIDDEN


class NotFound(ApiError):
    code = Code.NOT_FOUND


class IdentityScattered(NotFound):
    """A retired master id whose records are now in several identities: it answers with all of them
    (`extensions.answersWith`) and never picks one."""

    def __init__(self, master_id: int, answers_with: tuple[int, ...]) -> None:
        now = ", ".join(map(str, answers_with))
        super().__init__(
            f"patient {master_id} is no longer in use: its records are now in patients {now}; ask for one of them"
        )
        self.extensions = {**(self.extensions or {}), "answersWith": [str(m) for m in answers_with]}


class BadUserInput(ApiError):
    code = Code.BAD_USER_INPUT


class PayloadTooLarge(ApiError):
    code = Code.PAYLOAD_TOO_LARGE


# SQLSTATEs of class 22 (data exception) that a value given by the client causes when it reaches the
# database unchecked: a number or date out of the column's range, text too long or not storable.
# Others of the class (division by zero, say) are the server's own failures.
_INPUT_SQLSTATES = {
    "22001": "a value given is too long",
    "22003": "a number given is out of range",
    "22007": "a date or time given is not valid",
    "22008": "a date or time given is out of range",
    "22021": "text given holds a character the registry cannot store",
    "22P02": "a value given is not of the expected kind",
    "22P05": "text given holds a character the registry cannot store",
}


def client_error(error: BaseException) -> BadUserInput | None:
    """The client's mistake behind an exception raised while serving it, or None (the server's failure).

    Values are checked before use (registry/api/graphql/inputs.py); this is what still reaches the
    database out of its range: a psycopg `DataError` of a value sent (SQLSTATE class 22), or the
    text with a NUL character psycopg refuses to send (it has no SQLSTATE).
    """
    if not isinstance(error, psycopg.DataError):
        return None
    if error.sqlstate is None:
        # Raised by psycopg itself: reading a stored value, or (this one) a text it will not send.
        refused = "NUL (0x00)" in str(error)
        return BadUserInput("text given may not contain the NUL character (U+0000)") if refused else None
    message = _INPUT_SQLSTATES.get(error.sqlstate)
    return BadUserInput(message) if message else None
