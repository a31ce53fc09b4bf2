"""Which fields an operation asks for below a resolver, so one statement can fetch what a page needs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

_WORD_START = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(graphql_name: str) -> str:
    """A field's Python name from its GraphQL name (strawberry publishes Python names in camelCase)."""
    return _WORD_START.sub("_", graphql_name).lower()


def _fields(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def requested_under(selected: Sequence[SelectedField], path: Sequence[str]) -> set[str]:
    """Python names of the fields selected below `path` (GraphQL names) of the current field."""
    level = [s for field in selected for s in field.selections]
    for step in path:
        level = [s for field in _fields(level) if field.name == step for s in field.selections]
    return {snake_case(field.name) for field in _fields(level)}
