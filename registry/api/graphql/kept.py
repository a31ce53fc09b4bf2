"""What is worked out from a parsed operation, kept across requests by the identity of its nodes.

Parsed operations are cached by their text (schema.py), so every request sending one text brings
the same node objects: what is worked out from them once (the fields collected below a field, the
SQL of a selection) holds for the next request too, unless a variable changes it (a @skip or
@include reading one), which `fixed_selection` tells. The nodes are kept with the value, so while
it is kept no other node can take one of their ids.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from graphql import (
    DirectiveNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)

V = TypeVar("V")


class KeptByNodes(Generic[V]):
    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._kept: dict[tuple[Hashable, ...], tuple[list[Any], V]] = {}

    def get(self, nodes: Sequence[Any], *more: Hashable) -> V | None:
        kept = self._kept.get((*map(id, nodes), *more))
        return None if kept is None else kept[1]

    def keep(self, nodes: Sequence[Any], *more: Hashable, value: V) -> V:
        if len(self._kept) >= self._limit:
            self._kept.clear()
        self._kept[(*map(id, nodes), *more)] = (list(nodes), value)
        return value


class _VariableDirectives(Visitor):
    """Finds a directive whose effect a variable decides, or one other than @skip and @include."""

    found = False

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        if node.name.value not in ("skip", "include") or any(
            isinstance(argument.value, VariableNode) for argument in node.arguments
        ):
            self.found = True


_fixed: KeptByNodes[bool] = KeptByNodes()


def fixed_selection(operation: OperationDefinitionNode, fragments: Iterable[FragmentDefinitionNode]) -> bool:
    """Whether the operation selects the same fields whatever its variables (and defers none)."""
    fixed = _fixed.get([operation])
    if fixed is None:
        check = _VariableDirectives()
        for node in (operation, *fragments):
            visit(node, check)
        fixed = _fixed.keep([operation], value=not check.found)
    return fixed
