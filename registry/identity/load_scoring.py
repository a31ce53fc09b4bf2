"""A load's records prepared, indexed and their candidate pairs scored, in forked workers.

Preparing records (parsing names, folding addresses) and scoring pairs are pure Python and take
most of a large load's linking time, so they are split over processes by source patient id: a
worker prepares its share of the load's records once (handing back their blocking keys as COPY
text and their citizen IDs), scores the candidate pairs whose record it owns (preparing the
candidates they need), and later explains the pairs the decisions keep. Deciding which identity
each record joins stays with the caller, in record order. Records travel as plain rows
(`registry.identity.person_records.person_rows`), results as plain tuples: both pickle cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any

from matching import (
    Caveat,
    Decision,
    ModelParameters,
    PairScore,
    PreparedPerson,
    Scorer,
    blocking_keys,
    decide,
    prepare,
)
from matching.score import probability
from registry.db.bulk import copy_text
from registry.identity.explanations import explanation
from registry.identity.forked import Forked
from registry.identity.person_records import person_of_row
from registry.identity.relink_shards import default_processes

# A load of fewer records is linked in one process: forking and shipping rows would cost more.
PARALLEL_FROM = 5_000

Row = tuple[Any, ...]
Pair = tuple[int, int]  # (a load's record, its candidate), source patient ids


@dataclass(frozen=True, slots=True)
class PairVerdict:
    weight: float
    decision: Decision
    reason: str  # why a REVIEW pair is held back ("possible match" on weight alone); "" otherwise
    caveat: Caveat | None = None

    @property
    def probability(self) -> float:
        return probability(self.weight)


def _name(row: Row) -> str:
    return row[2]  # full_name (see `registry.identity.person_records`)


def _owner(record: int, parts: int) -> int:
    return record % parts


class LoadWorker:
    """One share of a load's records: prepared once, then their pairs scored and explained."""

    def __init__(self, rows: dict[int, Row], part: int, parts: int, parameters: ModelParameters) -> None:
        self.rows = rows  # the load's records (inherited when forked), then the candidates sent here
        self.part = part
        self.parts = parts
        self.parameters = parameters
        self.prepared: dict[int, PreparedPerson] = {}
        self.scores: dict[Pair, PairScore] = {}  # the LINK and REVIEW pairs scored

    @cached_property
    def scorer(self) -> Scorer:
        return Scorer(self.parameters)

    def _person(self, record: int) -> PreparedPerson:
        person = self.prepared.get(record)
        if person is None:
            person = self.prepared[record] = prepare(person_of_row(self.rows[record])[0])
        return person

    def prepare(self) -> tuple[str, list[tuple[int, str]]]:
        """This share's blocking_key rows (kind, value, source patient id) as COPY text, and the
        valid citizen IDs of its records."""
        mine = [record for record in self.rows if _owner(record, self.parts) == self.part]
        # In name order: the engine caches parsed names, and equal names then come one after another.
        mine.sort(key=lambda record: _name(self.rows[record]))
        lines: list[str] = []
        citizen_ids: list[tuple[int, str]] = []
        for record in mine:
            person = self._person(record)
            if person.citizen_id:
                citizen_ids.append((record, person.citizen_id.value))
            lines.extend(f"{kind}\t{copy_text(value)}\t{record}\n" for kind, value in blocking_keys(person))
        return "".join(lines), citizen_ids

    def score(
        self, rows: Sequence[Row], pairs: Sequence[Pair]
    ) -> list[tuple[float, Decision, str, Caveat | None]]:
        """Weight, decision, review reason and caveat of each pair; `rows` are the candidates not in
        the load."""
        self.rows.update((row[0], row) for row in rows)
        for row in sorted(rows, key=_name):  # equal names one after another (see `prepare`)
            self._person(row[0])
        scorer, thresholds = self.scorer, self.parameters.thresholds
        verdicts = []
        for pair in pairs:
            score = scorer.score(self._person(pair[0]), self._person(pair[1]))
            verdict = decide(score, thresholds)
            if verdict.decision is not Decision.NEW:  # kept to be explained (most NEW pairs never are)
                self.scores[pair] = score
            reason = ""
            if verdict.decision is Decision.REVIEW:
                reason = "; ".join(rule.reason for rule in verdict.held_back_by) or "possible match"
            verdicts.append((score.weight, verdict.decision, reason, verdict.caveat))
        return verdicts

    def explain(self, pairs: Sequence[Pair]) -> list[str]:
        scorer, scores, version = self.scorer, self.scores, self.parameters.model_version
        return [
            explanation(
                scores.get(pair) or scorer.score(self._person(pair[0]), self._person(pair[1])), version
            )
            for pair in pairs
        ]


class LoadScoring:
    """The workers of one load: `prepare`, then `start_scoring` and `verdicts`, then `explain`, inside
    a `with` block."""

    def __init__(
        self, rows: Iterable[Row], parameters: ModelParameters, processes: int | None = None
    ) -> None:
        by_id = {row[0]: row for row in rows}
        if processes is None:
            processes = default_processes(len(by_id), PARALLEL_FROM)
        self.parts = max(1, processes)
        self._workers = Forked([LoadWorker(by_id, i, self.parts, parameters) for i in range(self.parts)])
        self._scored: list[list[Pair]] = []  # the pairs being scored, by worker

    def __enter__(self) -> LoadScoring:
        self._workers.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._workers.__exit__(kind, error, trace)

    def prepare(self) -> tuple[list[str], dict[int, str]]:
        """The load's blocking_key rows as COPY text chunks, and its records' valid citizen IDs."""
        shares = self._workers.call("prepare")
        return [text for text, _ in shares], {record: value for _, ids in shares for record, value in ids}

    def start_scoring(self, candidates: Sequence[Row], pairs: Sequence[Pair]) -> None:
        """Have every pair scored (`verdicts` waits for them); `candidates`: the rows of the pairs'
        records not in the load. The caller may use the database meanwhile."""
        self._scored = self._split(pairs)
        needed: list[set[int]] = [{c for _, c in share} for share in self._scored]
        rows = (
            [[row for row in candidates if row[0] in ids] for ids in needed]
            if self.parts > 1
            else [candidates]
        )
        self._workers.start("score", list(zip(rows, self._scored, strict=True)))

    def verdicts(self) -> dict[Pair, PairVerdict]:
        """Every pair's verdict, from `start_scoring`."""
        answers = self._workers.results()
        return {
            pair: PairVerdict(*verdict)
            for share, verdicts in zip(self._scored, answers, strict=True)
            for pair, verdict in zip(share, verdicts, strict=True)
        }

    def explain(self, pairs: Iterable[Pair]) -> dict[Pair, str]:
        split = self._split(dict.fromkeys(pairs))
        answers = self._workers.call("explain", [(share,) for share in split])
        return {
            pair: detail
            for share, details in zip(split, answers, strict=True)
            for pair, detail in zip(share, details, strict=True)
        }

    def _split(self, pairs: Iterable[Pair]) -> list[list[Pair]]:
        """Pairs by the worker owning their load record (which prepared it)."""
        split: list[list[Pair]] = [[] for _ in range(self.parts)]
        for pair in pairs:
            split[_owner(pair[0], self.parts)].append(pair)
        return split
