"""Records into identities: linked pairs joined greedily, strongest first, under constraints.

Order of authority: a steward's cannot-link beats a steward's must-link (a false merge is the
worse error, so a contradiction separates and is reported), and both beat the model. Model links
are then applied in descending weight; one is refused when it would join records a steward kept
apart, or records carrying different valid citizen IDs (the model never merges those; only a
must-link can). Greedy strongest-first means a weak link cannot bridge two identities that a
stronger link already kept apart. Ties break on record ids, so the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Link:
    left: int
    right: int
    weight: float


@dataclass(frozen=True, slots=True)
class Constraints:
    """A steward's decisions: pairs of record ids that are, or are not, one person."""

    must_link: frozenset[tuple[int, int]] = frozenset()
    cannot_link: frozenset[tuple[int, int]] = frozenset()


class Refusal(StrEnum):
    CANNOT_LINK = "cannot_link"  # a steward said these records are different people
    CITIZEN_IDS_DIFFER = "citizen_ids_differ"  # the identities carry different valid citizen IDs


@dataclass(frozen=True, slots=True)
class RefusedLink:
    left: int
    right: int
    weight: float | None  # None for a must-link or a settled identity
    reason: Refusal


@dataclass(frozen=True, slots=True)
class Clustering:
    identities: tuple[tuple[int, ...], ...]  # sorted record ids, ordered by smallest id
    refused: tuple[RefusedLink, ...]

    def identity_of(self) -> dict[int, int]:
        """Record id -> index into `identities`."""
        return {record: index for index, members in enumerate(self.identities) for record in members}


@dataclass(slots=True)
class _Group:
    members: set[int]
    citizen_ids: set[str]
    kept_apart_from: set[int] = field(default_factory=set)  # records a steward separated from this group


class _Groups:
    def __init__(self, citizen_ids: Mapping[int, str | None], cannot_link: Iterable[tuple[int, int]]) -> None:
        self._root: dict[int, int] = {}
        self._group: dict[int, _Group] = {}
        for record, citizen_id in citizen_ids.items():
            self._root[record] = record
            self._group[record] = _Group({record}, {citizen_id} if citizen_id else set())
        for left, right in cannot_link:
            self._group[self.find(left)].kept_apart_from.add(right)
            self._group[self.find(right)].kept_apart_from.add(left)

    def find(self, record: int) -> int:
        root = self._root[record]
        while root != self._root[root]:
            self._root[root] = self._root[self._root[root]]
            root = self._root[root]
        return root

    def refusal(self, left: int, right: int, *, by_steward: bool) -> Refusal | None:
        a, b = self._group[self.find(left)], self._group[self.find(right)]
        if a is b:
            return None
        if not a.kept_apart_from.isdisjoint(b.members) or not b.kept_apart_from.isdisjoint(a.members):
            return Refusal.CANNOT_LINK
        if not by_steward and not (a.citizen_ids <= b.citizen_ids or b.citizen_ids <= a.citizen_ids):
            return Refusal.CITIZEN_IDS_DIFFER
        return None

    def join(self, left: int, right: int) -> None:
        root_a, root_b = sorted((self.find(left), self.find(right)))
        if root_a == root_b:
            return
        a, b = self._group[root_a], self._group.pop(root_b)
        a.members |= b.members
        a.citizen_ids |= b.citizen_ids
        a.kept_apart_from |= b.kept_apart_from
        self._root[root_b] = root_a

    def identities(self) -> tuple[tuple[int, ...], ...]:
        return tuple(sorted(tuple(sorted(group.members)) for group in self._group.values()))


def cluster(
    citizen_ids: Mapping[int, str | None],
    links: Iterable[Link],
    constraints: Constraints = Constraints(),
    existing: Iterable[Iterable[int]] = (),
) -> Clustering:
    """Identities of the records in `citizen_ids` (record id -> valid citizen ID or None).

    `links` are the pairs decided LINK. `existing` are identities already settled (for incremental
    matching: the current identities of the candidates); they are joined first, like must-links.
    Every record id named anywhere must be a key of `citizen_ids`.
    """
    groups = _Groups(citizen_ids, constraints.cannot_link)
    refused: list[RefusedLink] = []
    settled = [(min(ids), other) for ids in map(sorted, existing) if ids for other in ids[1:]]
    for left, right in [*settled, *sorted(constraints.must_link)]:
        reason = groups.refusal(left, right, by_steward=True)
        if reason is None:
            groups.join(left, right)
        else:
            refused.append(RefusedLink(left, right, None, reason))
    for link in sorted(
        links, key=lambda link: (-link.weight, min(link.left, link.right), max(link.left, link.right))
    ):
        reason = groups.refusal(link.left, link.right, by_steward=False)
        if reason is None:
            groups.join(link.left, link.right)
        else:
            refused.append(RefusedLink(link.left, link.right, link.weight, reason))
    return Clustering(groups.identities(), tuple(refused))
