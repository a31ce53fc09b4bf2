"""The short path for plain fields answers exactly as graphql-core does: data, errors and order."""

from __future__ import annotations

import asyncio
import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.extensions import ParserCache, SchemaExtension

from registry.api.graphql.executor import PlainFieldsExecutionContext


@strawberry.enum
class Kind(enum.Enum):
    EXAM = "01"
    INPATIENT = "03"


@strawberry.type
class Part:
    name: str
    size: int | None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


@strawberry.type
class Row:
    code: str
    name: str | None
    kinds: list[Kind]
    tags: list[str] | None
    at: datetime | None
    quantity: Decimal | None
    # Broken rows (a null where the schema promises a value) must fail as graphql-core fails them.
    required: str
    parts: list[Part]
    maybe_parts: list[Part | None] | None
    main_part: Part
    first_part: Part | None

    @strawberry.field
    def label(self) -> str:
        return f"{self.code}:{self.name}"

    @strawberry.field
    async def later(self, suffix: str = "!") -> str:
        await asyncio.sleep(0)
        return self.code + suffix


def _rows() -> list[Row]:
    ok = [Part(name="a", size=1), Part(name="b", size=None)]
    broken = [Part(name="c", size=3), Part(name=None, size=4)]  # type: ignore[arg-type]
    return [
        Row(code="E11", name="Đái tháo đường", kinds=[Kind.EXAM], tags=["a", "b"],
            at=datetime(2025, 6, 1, 8, 30), quantity=Decimal("20.5"), required="x", parts=ok,
            maybe_parts=[None, *ok], main_part=ok[0], first_part=None),
        Row(code="I10", name=None, kinds=[Kind.INPATIENT, Kind.EXAM], tags=None, at=None, quantity=None,
            required=None, parts=[None], maybe_parts=None, main_part=None, first_part=ok[1]),  # type: ignore[arg-type]
        Row(code="J18", name="Viêm phổi", kinds=[None], tags=["c"], at=None, quantity=None,  # type: ignore[list-item]
            required="y", parts=broken, maybe_parts=broken, main_part=broken[1], first_part=broken[0]),
    ]  # fmt: skip


@strawberry.type
class Query:
    @strawberry.field
    def rows(self) -> list[Row]:
        return _rows()

    @strawberry.field
    async def async_rows(self) -> list[Row | None]:
        return [*_rows(), None]


QUERIES = [
    "{ rows { code name kinds tags at quantity label } }",
    '{ rows { ...F } asyncRows { later(suffix: "?") ...F } } fragment F on Row { n: name code at kinds }',
    "{ rows { required code } }",
    "{ asyncRows { code required later } }",
    "query($skip: Boolean!) { rows { code name @skip(if: $skip) tags @include(if: $skip) __typename } }",
    "{ rows { label code c2: code name } }",
    "{ rows { code parts { name size __typename } } }",
    "{ rows { p: parts { n: name } maybeParts { size name } } }",
    "{ rows { parts { name shout } maybeParts { ... on Part { size } } } }",
    "query($skip: Boolean!) { rows { parts { name @skip(if: $skip) size } } }",
    "{ rows { mainPart { name } firstPart { size name } } }",
    "{ rows { code firstPart { size } } asyncRows { firstPart { name __typename } } }",
]


def _run(schema: strawberry.Schema, query: str) -> tuple[Any, Any]:
    result = asyncio.run(schema.execute(query, variable_values={"skip": True}))
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


def test_plain_fields_answer_as_graphql_core_does() -> None:
    plain = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutionContext)
    standard = strawberry.Schema(query=Query)
    for query in QUERIES:
        data, errors = _run(plain, query)
        assert (data, errors) == _run(standard, query), query
        if data is not None:  # same keys in the same order, as the request asked for them
            assert str(data) == str(_run(standard, query)[0])
    # The broken rows did fail, with the path of the null.
    _, errors = _run(plain, QUERIES[2])
    assert errors and all(path[-1] == "required" for _, path in errors)


def test_an_extension_that_wraps_resolvers_still_sees_every_field() -> None:
    seen: list[str] = []

    class Tracing(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    schema = strawberry.Schema(
        query=Query, extensions=[Tracing], execution_context_class=PlainFieldsExecutionContext
    )
    data, _ = _run(schema, "{ rows { code name } }")
    assert data == {
        "rows": [
            {"code": c, "name": n}
            for c, n in [("E11", "Đái tháo đường"), ("I10", None), ("J18", "Viêm phổi")]
        ]
    }
    assert seen.count("code") == 3 and seen.count("name") == 3


def test_fields_collected_once_per_operation_text_unless_a_variable_decides_them(monkeypatch: Any) -> None:
    """The fields below a field are collected once for an operation text (parsed once, so its
    nodes are the same objects) and reused by later requests; not when a @skip or @include reads
    a variable, whose value may differ from one request to the next."""
    import graphql.execution.executor as graphql_executor

    collected: list[str] = []
    collect = graphql_executor.collect_subfields

    def counting(*args: Any, **kwargs: Any) -> Any:
        collected.append(args[4].name)
        return collect(*args, **kwargs)

    monkeypatch.setattr(graphql_executor, "collect_subfields", counting)
    cached = strawberry.Schema(
        query=Query, extensions=[ParserCache()], execution_context_class=PlainFieldsExecutionContext
    )
    standard = strawberry.Schema(query=Query)

    def answers(schema: strawberry.Schema, query: str, skip: bool) -> Any:
        result = asyncio.run(schema.execute(query, variable_values={"skip": skip}))
        return result.data, [e.message for e in result.errors or []]

    fixed = "{ rows { code parts { name } mainPart { size } } }"
    expected = answers(standard, fixed, True)
    assert answers(cached, fixed, True) == expected
    collected.clear()
    assert answers(cached, fixed, True) == expected
    assert collected == []  # the second request collected nothing again

    varying = "query($skip: Boolean!) { asyncRows { code firstPart { name @skip(if: $skip) size } } }"
    for skip in (True, False, True):
        assert answers(cached, varying, skip) == answers(standard, varying, skip)
    assert answers(cached, varying, False)[0]["asyncRows"][1]["firstPart"] == {"name": "b", "size": None}
    assert answers(cached, varying, True)[0]["asyncRows"][1]["firstPart"] == {"size": None}
