"""POST /graphql: authenticate, run the operation, commit (the audit of what was read), answer.

A mutation answered with an error is rolled back: an error never reports a change that was made.

GET /graphql serves the API console (registry/api/console) when the configuration turns it on;
operations are accepted only by POST, so a browser's cross-site GET can run nothing. Errors carry a
code in `extensions.code`; anything unexpected is reported as INTERNAL_SERVER_ERROR without details
(messages of database errors can quote personal data), and logged by type and request id only.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLError, OperationType, get_operation_ast
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from registry.api.auth import authenticated
from registry.api.config import ApiConfig
from registry.api.console import console_page
from registry.api.database import RequestConnection
from registry.api.errors import HTTP_STATUS, ApiError, BadUserInput, Code, client_error
from registry.api.facility_directory import FacilityDirectory
from registry.api.graphql.context import Context
from registry.api.graphql.schema import parsed_operation, run_operation
from registry.api.limits import read_body

log = logging.getLogger("provreg.api")


def _error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    if original is None:
        # Raised by parsing, validation (syntax, unknown field, depth or token limits) or the
        # operation's variables: the client's fault.
        return {**error.formatted, "extensions": {"code": Code.BAD_USER_INPUT.value}}
    if isinstance(original, ApiError):
        return error.formatted
    where = ".".join(map(str, error.path or ()))
    refused = client_error(original)
    if refused is not None:
        # A value sent that the database would not take: the client's, though a check missed it.
        log.warning(
            "request %s: %s answered %s in %s", request_id, type(original).__name__, refused.code, where
        )
        return {"message": refused.message, "path": error.path, "extensions": {"code": refused.code.value}}
    log.error("request %s: %s in %s", request_id, type(original).__name__, where)
    return {"message": "internal error", "path": error.path, "extensions": {"code": Code.INTERNAL.value}}


def _failure(error: ApiError) -> JSONResponse:
    return JSONResponse({"errors": [error.formatted]}, status_code=HTTP_STATUS[error.code])


def _operation(body: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadUserInput("the body must be JSON: {query, variables, operationName}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise BadUserInput("the body must be JSON with a `query` string")
    variables = payload.get("variables")
    operation_name = payload.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        raise BadUserInput("`variables` must be an object")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadUserInput("`operationName` must be a string")
    return payload["query"], variables, operation_name


def _is_query(query: str, operation_name: str | None, max_tokens: int) -> bool:
    """Whether the operation is a query, which writes nothing but its audit (else, or if in doubt, False)."""
    try:
        operation = get_operation_ast(parsed_operation(query, max_tokens), operation_name)
    except GraphQLError:
        return False  # the schema's own parse answers with the error
    return operation is not None and operation.operation == OperationType.QUERY


async def graphql_endpoint(request: Request) -> Response:
    config: ApiConfig = request.app.state.config
    if request.method == "GET":
        if not config.console:
            return JSONResponse({"code": "NOT_FOUND", "message": "the API console is off"}, status_code=404)
        return console_page()
    request_id: str = request.state.request_id
    try:
        query, variables, operation_name = _operation(await read_body(request, config.max_graphql_body_bytes))
    except ApiError as refused:
        return _failure(refused)
    state = request.app.state
    is_query = _is_query(query, operation_name, config.max_query_tokens)
    if is_query:
        db = RequestConnection(state.read_engine, autocommit=True)
    else:
        db = RequestConnection(state.engine)
    try:
        principal = await authenticated(request, db)
        facilities: FacilityDirectory = request.app.state.facilities
        await facilities.refresh_if_stale(db)
        context = Context(
            principal=principal,
            request_id=request_id,
            db=db,
            config=config,
            facilities=facilities,
            purpose_header=request.headers.get("x-purpose"),
        )
        result = await run_operation(config, query, variables, operation_name, context)
        if is_query or not result.errors:
            await db.commit()
        else:
            # A mutation answered with an error has changed nothing (rolled back as the connection
            # closes), so a client may safely send it again: no error is ever reported about a
            # change that was made, and no data of a change that was not.
            result = ExecutionResult(None, result.errors)
    except ApiError as refused:
        return _failure(refused)
    finally:
        await db.close()
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [_error(error, request_id) for error in result.errors]
    # orjson: writes the encounters PostgreSQL wrote (Fragments) as they are, and is fast.
    return Response(orjson.dumps(answer), media_type="application/json")
