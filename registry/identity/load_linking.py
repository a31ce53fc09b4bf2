"""Incremental linking: each load's new or changed source patients matched as they arrive.

For every such record, in id order: candidates are the records sharing a blocking key (an index
lookup); the engine has scored and decided each pair (in worker processes for a large load, see
`registry.identity.load_scoring`). The record joins the identity of its
strongest LINK candidate, unless that identity holds a different citizen ID or a steward kept
the two apart; a steward's own link is never changed. Every other LINK and REVIEW pair goes to
the stewards' review queue with its explanation; with no LINK the record keeps its identity or
founds a new one. Precision first: an incremental load never merges two existing identities
(a record matching two of them links to the stronger, and the other pair is queued); that is
left to a steward or to a batch re-link (`provreg match run`).

The whole step runs under the linking lock (`registry.identity.links`, which writes every link),
so two loads meeting the same new person at once are serialised here and the second sees the
first's identity.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import psycopg

from matching import Caveat, Decision, refused_newborn_links
from registry.identity.key_index import load_candidate_pairs, stage_keys, store_staged_keys
from registry.identity.links import LinkRow, found_identities, lock_linking, write_links
from registry.identity.load_scoring import LoadScoring, Pair, PairVerdict
from registry.identity.model_store import active_parameters
from registry.identity.person_records import master_of_row, person_rows
from registry.identity.relink_shards import paused_gc
from registry.identity.review_queue import TWIN_IN_SIGHT, queue_reviews

REVIEWS_PER_RECORD = 5


@dataclass(frozen=True)
class Outcome:
    source_patient_id: int
    master_patient_id: int | None  # None: found a new identity
    method: str
    linked_by: Pair | None  # the LINK pair that decided it
    verdict: PairVerdict | None
    claims_citizen_id: bool


@dataclass(frozen=True)
class ReviewItem:
    source_patient_id: int
    candidate_source_patient_id: int
    verdict: PairVerdict
    reason: str

    @property
    def pair(self) -> Pair:
        return (self.source_patient_id, self.candidate_source_patient_id)


class _State:
    """What the linking step knows: records, their identities, and the citizen IDs identities hold."""

    def __init__(
        self, connection: psycopg.Connection[Any], touched_ids: list[int], rows: list[tuple[Any, ...]],
        scoring: LoadScoring,
    ) -> None:  # fmt: skip
        self.current: dict[int, int | None] = {row[0]: master_of_row(row) for row in rows}
        key_text, self.own_citizen_id = scoring.prepare()
        stage_keys(connection, touched_ids, key_text)
        self.candidates: dict[int, list[int]] = defaultdict(list)
        for record, candidate in load_candidate_pairs(connection):
            self.candidates[record].append(candidate)
        touched = set(touched_ids)
        others = {c for cs in self.candidates.values() for c in cs if c not in touched}
        other_rows = person_rows(connection, others)
        self.master_of: dict[int, int | None] = {row[0]: master_of_row(row) for row in other_rows}
        # The pairs the decisions read: a load record meets its other candidates once they have
        # an identity, i.e. those outside the load and those of the load linked before it.
        pairs = [
            (record, candidate)
            for record, candidates in self.candidates.items()
            for candidate in candidates
            if candidate not in touched or candidate < record
        ]
        scoring.start_scoring(other_rows, pairs)
        store_staged_keys(connection)  # while the workers score
        masters = {m for m in [*self.master_of.values(), *self.current.values()] if m is not None}
        citizen_ids = list(self.own_citizen_id.values())
        self.citizen_id_of: dict[int, str | None] = {}
        self.holder_of: dict[str, int] = {}
        for master, citizen_id in connection.execute(
            "SELECT id, citizen_id FROM master_patient WHERE id = ANY(%s) OR citizen_id = ANY(%s)",
            (list(masters), citizen_ids),
        ).fetchall():
            self.citizen_id_of[master] = citizen_id
            if citizen_id:
                self.holder_of[citizen_id] = master
        self.steward_master: dict[int, int] = dict(
            connection.execute(
                "SELECT source_patient_id, master_patient_id FROM patient_link"
                " WHERE source_patient_id = ANY(%s) AND superseded_at IS NULL AND method = 'steward'",
                (touched_ids,),
            ).fetchall()
        )
        self.kept_apart: set[tuple[int, int]] = set()
        for left, right in connection.execute(
            "SELECT left_source_patient_id, right_source_patient_id FROM match_constraint"
            " WHERE NOT same_person AND (left_source_patient_id = ANY(%s) OR right_source_patient_id = ANY(%s))",
            (touched_ids, touched_ids),
        ).fetchall():
            self.kept_apart |= {(left, right), (right, left)}
        self.verdicts = scoring.verdicts()


def _near_twins(record: int, state: _State) -> set[int]:
    """The candidates this record's newborn links to are refused (`matching.refused_newborn_links`):
    two candidates are known to be one person when they are in one identity."""
    verdicts = [
        (candidate, state.verdicts[(record, candidate)])
        for candidate in state.candidates.get(record, ())
        if state.master_of.get(candidate) is not None
    ]
    newborn = [
        (record, c) for c, v in verdicts if v.decision is Decision.LINK and v.caveat is Caveat.NEWBORN_LINK
    ]
    if not newborn:
        return set()
    twins = [(record, c) for c, v in verdicts if v.caveat is Caveat.TWINS]
    master_of = state.master_of
    refused = refused_newborn_links(newborn, twins, lambda a, b: master_of.get(a) == master_of.get(b))
    return {candidate for _, candidate in refused}


def _decide_one(record: int, state: _State) -> tuple[Outcome, list[ReviewItem]]:
    own_citizen_id = state.own_citizen_id.get(record)
    reviews: list[ReviewItem] = []
    best: dict[int, tuple[int, PairVerdict]] = {}  # master -> (candidate, strongest LINK pair into it)
    near_twins = _near_twins(record, state)
    for candidate in state.candidates.get(record, ()):
        master = state.master_of.get(candidate)
        if master is None:  # not yet linked: it considers this record when its own turn comes
            continue
        verdict = state.verdicts[(record, candidate)]
        if verdict.decision is Decision.NEW:
            continue
        if verdict.decision is Decision.REVIEW:
            reviews.append(ReviewItem(record, candidate, verdict, verdict.reason))
            continue
        held = state.citizen_id_of.get(master)
        if candidate in near_twins:
            reviews.append(ReviewItem(record, candidate, verdict, TWIN_IN_SIGHT))
        elif (record, candidate) in state.kept_apart:
            reviews.append(
                ReviewItem(record, candidate, verdict, "a steward said these are different people")
            )
        elif own_citizen_id and held and held != own_citizen_id:
            reviews.append(
                ReviewItem(record, candidate, verdict, "the identity holds a different citizen ID")
            )
        elif master not in best or verdict.weight > best[master][1].weight:
            best[master] = (candidate, verdict)
    holder = state.holder_of.get(own_citizen_id) if own_citizen_id else None
    if holder is not None:
        # The identity holding the record's citizen ID is the only one it may join: another would
        # then carry that ID without holding it, and could later claim a second one.
        for master in [m for m in best if m != holder]:
            candidate, verdict = best.pop(master)
            reviews.append(
                ReviewItem(record, candidate, verdict, "carries a citizen ID another identity holds")
            )
    chosen = max(best, key=lambda m: (best[m][1].weight, -m)) if best else None
    for master, (candidate, verdict) in best.items():
        if master != chosen:
            reviews.append(ReviewItem(record, candidate, verdict, "also matches another identity"))
    if chosen is not None:
        claims = own_citizen_id is not None and state.citizen_id_of.get(chosen) is None
        candidate, verdict = best[chosen]
        outcome = Outcome(
            record,
            chosen,
            "score",
            (record, candidate),
            verdict,
            claims and own_citizen_id not in state.holder_of,
        )
    else:
        keep = state.current.get(record)
        if (
            keep is not None
            and own_citizen_id
            and state.citizen_id_of.get(keep) not in (None, own_citizen_id)
        ):
            keep = None  # its identity holds another citizen ID (the record changed): it leaves
        outcome = Outcome(record, keep, "new_identity", None, None, own_citizen_id not in state.holder_of)
    if own_citizen_id in state.holder_of and state.holder_of[own_citizen_id] != outcome.master_patient_id:
        holder_records = [
            c
            for c in state.candidates.get(record, ())
            if state.master_of.get(c) == state.holder_of[own_citizen_id]
        ]
        for candidate in holder_records[:1]:
            reviews.append(
                ReviewItem(
                    record, candidate, state.verdicts[(record, candidate)],
                    "carries a citizen ID another identity holds",
                )
            )  # fmt: skip
    reviews.sort(key=lambda item: -item.verdict.weight)
    return outcome, reviews[:REVIEWS_PER_RECORD]


def link_changed_patients(
    connection: psycopg.Connection[Any], *, processes: int | None = None
) -> Counter[int]:
    """Link the source patients this load inserted or changed (table patient_result); returns the
    links made per batch (each record's link names the batch that stored it: the load may be of
    several files).

    Records are prepared and pairs scored in `processes` workers (by default one per CPU for a
    load of `load_scoring.PARALLEL_FROM` records or more); the decisions are taken here."""
    batch_of: dict[int, int] = dict(
        connection.execute(
            "SELECT r.id, p.last_batch_id FROM patient_result r JOIN source_patient p USING (id) ORDER BY r.id"
        ).fetchall()
    )
    touched_ids = list(batch_of)
    if not touched_ids:
        return Counter()
    lock_linking(connection)
    parameters = active_parameters(connection)
    rows = person_rows(connection, touched_ids)
    with paused_gc(), LoadScoring(rows, parameters, processes) as scoring:
        state = _State(connection, touched_ids, rows, scoring)
        # Identities founded in this step are known by -(founding record id) until they are written.
        founded: dict[int, str | None] = {}
        claims: dict[int, str] = {}
        changes: list[tuple[Outcome, int]] = []
        reviews: list[ReviewItem] = []
        for record in touched_ids:
            if record in state.steward_master:
                state.master_of[record] = state.steward_master[record]
                continue
            outcome, found = _decide_one(record, state)
            reviews.extend(found)
            citizen_id = state.own_citizen_id.get(record) if outcome.claims_citizen_id else None
            master = outcome.master_patient_id
            if master is None:
                master = -record
                founded[record] = citizen_id
            elif citizen_id:
                claims[master] = citizen_id
            if citizen_id:
                state.citizen_id_of[master] = citizen_id
                state.holder_of[citizen_id] = master
            state.master_of[record] = master
            if state.current.get(record) != master:
                changes.append((outcome, master))
        explained = scoring.explain(
            [*(o.linked_by for o, _ in changes if o.linked_by), *(item.pair for item in reviews)]
        )
    new_ids = {-record: master for record, master in found_identities(connection, founded).items()}
    _claim_citizen_ids(connection, claims)
    write_links(
        connection,
        _link_rows([(o, new_ids.get(m, m)) for o, m in changes], explained),
        f"engine:{parameters.model_version}",
        batch_of,
    )
    _queue_reviews(connection, reviews, explained)
    return Counter(batch_of[outcome.source_patient_id] for outcome, _ in changes)


def _claim_citizen_ids(connection: psycopg.Connection[Any], claims: dict[int, str]) -> None:
    if claims:
        connection.execute(
            "UPDATE master_patient m SET citizen_id = c.citizen_id"
            " FROM unnest(%s::bigint[], %s::text[]) AS c (id, citizen_id) WHERE m.id = c.id",
            (list(claims), list(claims.values())),
        )


def _link_rows(changes: list[tuple[Outcome, int]], explained: dict[Pair, str]) -> list[LinkRow]:
    return [
        (outcome.source_patient_id, master, outcome.method, outcome.verdict.weight if outcome.verdict else None,
         explained[outcome.linked_by] if outcome.linked_by else None)
        for outcome, master in changes
    ]  # fmt: skip


def _queue_reviews(
    connection: psycopg.Connection[Any], items: list[ReviewItem], explained: dict[Pair, str]
) -> None:
    queue_reviews(
        connection,
        [
            (item.source_patient_id, item.candidate_source_patient_id, item.verdict.weight,
             item.verdict.probability, item.reason, explained[item.pair])
            for item in items
        ],
    )  # fmt: skip
