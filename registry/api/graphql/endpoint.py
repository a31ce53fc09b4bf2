"""POST /graphql: authenticate, run the operation (strawberry's `Schema.execute`), commit, answer.

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
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from registry.api.auth import authenticated
from registry.api.config import ApiConfig
from registry.api.console import console_page
from registry.api.errors import HTTP_STATUS, ApiError, BadUserInput, Code, client_error
from registry.api.graphql.context import Context
from registry.api.graphql.inputs import refused_variables
from registry.api.graphql.schema import build_schema
from registry.api.limits import read_body
from registry.db.connections import Reads, Transaction

log = logging.getLogger("provreg.api")
OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


def _error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    if isinstance(original, ApiError):
        return error.formatted
    if error.path is None and (original is None or error.nodes):
        # Raised before any field ran, by parsing, validation (syntax, unknown field, a limit) or the
        # operation's variables (missing, of the wrong type, refused by a scalar): the client's fault.
        return {**error.formatted, "extensions": {"code": Code.BAD_USER_INPUT.value}}
    where = ".".join(map(str, error.path or ()))
    refused = client_error(original) if original is not None else None
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


def _answer(data: Any, errors: list[dict[str, Any]]) -> Response:
    answer: dict[str, Any] = {"data": data}
    if errors:
        answer["errors"] = errors
    # orjson: writes the encounters PostgreSQL wrote (registry/api/graphql/encounters.py) as they are.
    return Response(orjson.dumps(answer), media_type="application/json")


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
    # Opened when first used: a query's in autocommit, a mutation's as one transaction.
    reads = Reads(state.reads)
    transaction = Transaction(state.transactions)
    try:
        principal = await authenticated(request, reads)
        await state.facilities.refresh_if_stale(reads)
        refused = refused_variables(variables)
        if refused is not None:
            return _answer(None, [BadUserInput(refused).formatted])
        context = Context(
            principal=principal,
            request_id=request_id,
            db=reads,
            config=config,
            facilities=state.facilities,
            purpose_header=request.headers.get("x-purpose"),
            transaction=transaction,
            query=query,
            operation_name=operation_name,
        )
        try:
            result = await build_schema(config).execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=OPERATIONS,
            )
        except MissingQueryError:
            return _answer(None, [BadUserInput("the document holds no operation").formatted])
        except CannotGetOperationTypeError as refused_name:
            return _answer(None, [BadUserInput(refused_name.as_http_error_reason()).formatted])
        except InvalidOperationTypeError:
            return _answer(None, [BadUserInput("this API has queries and mutations only").formatted])
        data = result.data
        if context.db is transaction:
            if result.errors:
                # A mutation answered with an error has changed nothing (rolled back as the
                # connection closes), so a client may safely send it again: no error is ever
                # reported about a change that was made, and no data of a change that was not.
                data = None
            else:
                await transaction.commit()
    except ApiError as refused:
        return _failure(refused)
    finally:
        await reads.close()
        await transaction.close()
    return _answer(data, [_error(error, request_id) for error in result.errors or ()])
