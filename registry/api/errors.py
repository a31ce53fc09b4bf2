"""Errors a client can act on, each with a stable code (GraphQL `extensions.code`, HTTP JSON `code`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

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


class BadUserInput(ApiError):
    code = Code.BAD_USER_INPUT


class PayloadTooLarge(ApiError):
    code = Code.PAYLOAD_TOO_LARGE
