"""Batch linking split over processes: records sharded by birth year, so blocks rarely cross shards.

Every blocking rule but the identifier and phone rules puts the birth year into its key (name and
year, name and full date, date and commune), so records sharing such a key share their birth
year. Sharding records by birth year therefore keeps each of those blocks whole inside one shard:
a shard prepares its own records once, builds its blocks, and scores their pairs without asking
anyone. Keys of the other rules (`citizen_id`, `phone`, ...) can join records of two shards; their
blocks are gathered by the coordinator, which hands each pair to one shard (a shard prepares the
few records of another shard that its pairs need). Every candidate pair is scored exactly once.

A shard runs in a forked process (it inherits the records, nothing is copied up front) or, with
one process, in the caller's. Records are known by their position in the list, which is in
source patient id order, so a pair (a, b) with a < b has the smaller record id on the left, as
`matching.candidate_pairs` orders it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations

from matching import (
    MIN_SHARED_KEYS,
    STANDARD_BLOCKING,
    BlockingRule,
    Caveat,
    Decision,
    ModelParameters,
    PersonRecord,
    PreparedPerson,
    Scorer,
    decide,
    prepare,
)
from registry.db.bulk import copy_text
from registry.identity.explanations import explanation
from registry.identity.forked import Forked

# Rules whose key holds the birth year (or the full birth date): equal keys mean equal years.
# A rule not listed is treated as able to join any two records (correct, only less parallel).
YEAR_BOUND_RULES = frozenset(
    {
        "name_birth_year",
        "sounds_birth_year",
        "syllables_birth_year",
        "given_birth_date",
        "family_birth_date",
        "birth_date_commune",
    }
)
# Below this many records one process does the work: starting others costs more than it saves.
PARALLEL_FROM = 50_000
COPY_CHUNK = 1 << 22  # characters of COPY text per message


def default_processes(records: int, parallel_from: int = PARALLEL_FROM) -> int:
    """One process per CPU (at most 8) for `parallel_from` records or more, else one."""
    if records < parallel_from:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 8))


def shard_of(record: PersonRecord, position: int, shards: int) -> int:
    year = record.birth_year
    return (year if year is not None else position) % shards


@dataclass
class Prepared:
    """What one shard found preparing its records."""

    records: int
    keys: int
    copy_text: list[str]  # blocking_key rows in COPY text format, in chunks
    citizen_ids: list[tuple[int, str]]  # (position, valid citizen ID)
    shared_keys: list[tuple[str, str, int]]  # (kind, value, position) of rules that cross shards
    seconds: float


@dataclass
class Scored:
    pairs: int
    links: list[tuple[int, int, float]]  # (position, position, weight)
    reviews: list[tuple[int, int, float, float, str, str]]  # ..., weight, probability, reason, explanation
    newborn_links: list[tuple[int, int]]  # links with Caveat.NEWBORN_LINK
    twins: list[tuple[int, int]]  # pairs with Caveat.TWINS
    seconds: dict[str, float] = field(default_factory=dict)


class Shard:
    """One shard's records: prepared once, indexed, their candidate pairs scored and decided."""

    def __init__(
        self,
        records: Sequence[PersonRecord],
        shard: int,
        shards: int,
        parameters: ModelParameters,
        rules: Sequence[BlockingRule],
    ) -> None:
        self.records = records
        self.shard = shard
        self.shards = shards
        self.parameters = parameters
        self.rules = tuple(rules)
        self.limits = {rule.kind: rule.max_block_size for rule in self.rules}
        self.counted = {rule.kind: rule.keys_counted(MIN_SHARED_KEYS) for rule in self.rules}
        self.prepared: dict[int, PreparedPerson] = {}
        self.blocks: dict[tuple[str, str], list[int]] = defaultdict(list)

    @cached_property
    def scorer(self) -> Scorer:
        return Scorer(self.parameters)

    def prepare(self, with_keys: bool = True) -> Prepared:
        started = time.perf_counter()
        records, shards, shard = self.records, self.shards, self.shard
        rules = [(rule.kind, rule.keys, rule.kind in YEAR_BOUND_RULES) for rule in self.rules]
        chunks: list[str] = []
        lines: list[str] = []
        size = keys = 0
        citizen_ids: list[tuple[int, str]] = []
        shared: list[tuple[str, str, int]] = []
        mine = [
            position for position, record in enumerate(records) if shard_of(record, position, shards) == shard
        ]
        # In name order: the engine caches parsed names, and equal names then come one after another.
        mine.sort(key=lambda position: records[position].full_name)
        for position in mine:
            record = records[position]
            person = prepare(record)
            self.prepared[position] = person
            if person.citizen_id:
                citizen_ids.append((position, person.citizen_id.value))
            record_id = str(record.record_id)
            for kind, keys_of, year_bound in rules:
                for value in dict.fromkeys(keys_of(person)):
                    keys += 1
                    if with_keys:
                        line = f"{kind}\t{copy_text(value)}\t{record_id}\n"
                        lines.append(line)
                        size += len(line)
                    if year_bound:
                        self.blocks[(kind, value)].append(position)
                    else:
                        shared.append((kind, value, position))
            if size >= COPY_CHUNK:
                chunks.append("".join(lines))
                lines, size = [], 0
        if lines:
            chunks.append("".join(lines))
        return Prepared(len(self.prepared), keys, chunks, citizen_ids, shared, time.perf_counter() - started)

    def _person(self, position: int) -> PreparedPerson:
        person = self.prepared.get(position)
        if person is None:  # another shard's record, needed for a pair handed to this shard
            person = self.prepared[position] = prepare(self.records[position])
        return person

    def score(self, handed: Sequence[tuple[int, int, int]]) -> Scored:
        """Score the candidate pairs of this shard's own blocks and of those handed to it (a, b, keys
        they share there); decide each. Candidates as `matching.candidate_pairs` has them."""
        started = time.perf_counter()
        modulus = len(self.records)
        needed = MIN_SHARED_KEYS
        shared: Counter[int] = Counter()
        limits = self.limits
        for (kind, _), members in self.blocks.items():
            if 2 <= len(members) <= limits[kind]:
                codes = (a * modulus + b for a, b in combinations(sorted(members), 2))
                if (counted := self.counted[kind]) == 1:
                    shared.update(codes)  # the common case, counted in C
                else:
                    for code in codes:
                        shared[code] += counted
        self.blocks.clear()
        for a, b, count in handed:
            shared[a * modulus + b] += count
        codes = [code for code, count in shared.items() if count >= needed]  # type: ignore[no-redef]
        del shared
        for code in codes:
            a, b = divmod(code, modulus)
            self._person(a)
            self._person(b)
        pairs_seconds = time.perf_counter() - started
        started = time.perf_counter()
        scorer, prepared = self.scorer, self.prepared
        thresholds, version = self.parameters.thresholds, self.parameters.model_version
        link, review = Decision.LINK, Decision.REVIEW
        links: list[tuple[int, int, float]] = []
        reviews: list[tuple[int, int, float, float, str, str]] = []
        newborn_links: list[tuple[int, int]] = []
        twins: list[tuple[int, int]] = []
        for code in codes:
            a, b = divmod(code, modulus)
            score = scorer.score(prepared[a], prepared[b])
            verdict = decide(score, thresholds)
            if verdict.decision is link:
                links.append((a, b, score.weight))
                if verdict.caveat is Caveat.NEWBORN_LINK:
                    newborn_links.append((a, b))
            elif verdict.decision is review:
                reason = "; ".join(rule.reason for rule in verdict.held_back_by) or "possible match"
                reviews.append((a, b, score.weight, score.probability, reason, explanation(score, version)))
            if verdict.caveat is Caveat.TWINS:
                twins.append((a, b))
        seconds = {"candidate pairs": pairs_seconds, "scoring": time.perf_counter() - started}
        return Scored(len(codes), links, reviews, newborn_links, twins, seconds)

    def explain(self, pairs: Sequence[tuple[int, int]]) -> list[tuple[float, float, str]]:
        """Weight, probability and explanation of pairs this shard scored."""
        version = self.parameters.model_version
        scored = [self.scorer.score(self._person(a), self._person(b)) for a, b in pairs]
        return [(s.weight, s.probability, explanation(s, version)) for s in scored]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection for a while: bulk work allocates millions of objects (no
    cycles among them), and each full collection walks them all; it costs a third of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Shards(Forked[Shard]):
    """The shards of a record list, each in its own forked process when there is more than one."""

    def __init__(
        self,
        records: Sequence[PersonRecord],
        parameters: ModelParameters,
        processes: int,
        rules: Sequence[BlockingRule] = STANDARD_BLOCKING,
    ) -> None:
        count = max(1, processes)
        super().__init__([Shard(records, i, count, parameters, rules) for i in range(count)])
        self.records = records

    def __enter__(self) -> Shards:
        super().__enter__()
        return self


def timed(phases: dict[str, float], phase: str) -> Callable[[], None]:
    """Start timing a phase; call the result to add its seconds to `phases`."""
    started = time.perf_counter()

    def stop() -> None:
        phases[phase] = phases.get(phase, 0.0) + time.perf_counter() - started

    return stop


def shared_pairs(
    prepared: Sequence[Prepared], records: Sequence[PersonRecord], shards: int, rules: Sequence[BlockingRule]
) -> Iterator[tuple[int, int, int, int]]:
    """(shard, a, b, keys shared): pairs of the blocks of rules that cross shards, each handed to one
    shard; a key of a sufficient rule counts as every key needed (see `matching.blocking`)."""
    by_kind = {rule.kind: rule for rule in rules}
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    for part in prepared:
        for kind, value, position in part.shared_keys:
            blocks[(kind, value)].append(position)
    shared: Counter[tuple[int, int]] = Counter()
    for (kind, _), members in blocks.items():
        rule = by_kind[kind]
        if 2 <= len(members) <= rule.max_block_size:
            counted = rule.keys_counted(MIN_SHARED_KEYS)
            for pair in combinations(sorted(members), 2):
                shared[pair] += counted
    for (a, b), count in shared.items():
        left, right = shard_of(records[a], a, shards), shard_of(records[b], b, shards)
        yield (left if left == right or (a + b) % 2 == 0 else right), a, b, count
