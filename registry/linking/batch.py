"""Batch re-linking (`provreg match run`): every source patient re-matched from scratch.

Used after training or a threshold change. Keys are rebuilt, candidate pairs come from the
blocks, every pair is scored and decided, and `matching.cluster` forms identities under the
stewards' decisions (which always win) and the rule that different valid citizen IDs are never
merged by the model. Identities keep their master ids where their records agree (the id most of
their records had); only records whose identity changes get a new link (the old one superseded).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from matching import Constraints, Decision, Link, Scorer, candidate_pairs, cluster, decide, prepare
from registry.linking.incremental import LINKING_LOCK, explanation
from registry.linking.keys import write_keys
from registry.linking.model_store import active_parameters
from registry.linking.people import all_people


@dataclass(frozen=True)
class RelinkSummary:
    records: int
    pairs_scored: int
    identities: int
    links_changed: int
    reviews: int
    refused_links: int
    seconds: float


def _constraints(connection: psycopg.Connection[Any]) -> Constraints:
    rows = connection.execute(
        "SELECT left_source_patient_id, right_source_patient_id, same_person FROM match_constraint"
    ).fetchall()
    must = {(left, right) for left, right, same in rows if same}
    # Records a steward linked to one identity stay together.
    by_master: dict[int, list[int]] = defaultdict(list)
    for record, master in connection.execute(
        "SELECT source_patient_id, master_patient_id FROM patient_link"
        " WHERE superseded_at IS NULL AND method = 'steward' ORDER BY source_patient_id"
    ).fetchall():
        by_master[master].append(record)
    for records in by_master.values():
        must.update(pairwise(records))
    cannot = {(left, right) for left, right, same in rows if not same}
    return Constraints(must_link=frozenset(must), cannot_link=frozenset(cannot))


def relink_all(connection: psycopg.Connection[Any], decided_by: str) -> RelinkSummary:
    """Re-link every source patient; the caller owns the transaction."""
    started = time.perf_counter()
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (LINKING_LOCK,))
    parameters = active_parameters(connection)
    scorer = Scorer(parameters)
    current: dict[int, int | None] = {}
    people = []
    for person, master in all_people(connection):
        people.append(prepare(person))
        current[person.record_id] = master
    by_id = {person.record_id: person for person in people}
    connection.execute("TRUNCATE blocking_key")
    write_keys(connection, people)
    links: list[Link] = []
    reviews = []
    pairs = candidate_pairs(people)
    for left, right in pairs:
        score = scorer.score(by_id[left], by_id[right])
        verdict = decide(score, parameters.thresholds)
        if verdict.decision is Decision.LINK:
            links.append(Link(left, right, score.weight))
        elif verdict.decision is Decision.REVIEW:
            reason = "; ".join(rule.reason for rule in verdict.held_back_by) or "possible match"
            reviews.append((left, right, score, reason))
    citizen_ids = {p.record_id: (p.citizen_id.value if p.citizen_id else None) for p in people}
    clustering = cluster(citizen_ids, links, _constraints(connection))
    for refused in clustering.refused:
        if refused.weight is not None:
            score = scorer.score(by_id[refused.left], by_id[refused.right])
            reviews.append((refused.left, refused.right, score, f"link refused: {refused.reason.value}"))
    changed = _write_identities(connection, clustering.identities, current, citizen_ids, decided_by)
    _write_reviews(connection, reviews, parameters.model_version)
    return RelinkSummary(
        records=len(people),
        pairs_scored=len(pairs),
        identities=len(clustering.identities),
        links_changed=changed,
        reviews=len(reviews),
        refused_links=len(clustering.refused),
        seconds=time.perf_counter() - started,
    )


def _write_identities(
    connection: psycopg.Connection[Any],
    identities: tuple[tuple[int, ...], ...],
    current: dict[int, int | None],
    citizen_ids: dict[int, str | None],
    decided_by: str,
) -> int:
    # Each identity keeps the master id most of its records had, unless a larger identity took it.
    used: set[int] = set()
    master_of_identity: dict[int, int | None] = {}
    for index in sorted(range(len(identities)), key=lambda i: -len(identities[i])):
        votes = Counter(current[r] for r in identities[index] if current.get(r) is not None)
        choice = next((m for m, _ in votes.most_common() if m not in used), None)
        if choice is not None:
            used.add(choice)
        master_of_identity[index] = choice
    for index, members in enumerate(identities):
        if master_of_identity[index] is None:
            row = connection.execute(
                "INSERT INTO master_patient (founded_by_source_patient_id) VALUES (%s) RETURNING id",
                (members[0],),
            ).fetchone()
            assert row is not None
            master_of_identity[index] = int(row[0])
    # The citizen ID an identity holds: one of its records' (the model never mixes two); when two
    # identities carry the same one (a child recorded on a parent's card), the larger holds it.
    holders: dict[str, tuple[int, int]] = {}
    for index, members in enumerate(identities):
        counts = Counter(citizen_ids[r] for r in members if citizen_ids[r])
        if len(counts) == 1:
            ((citizen_id, n),) = counts.items()
            if citizen_id not in holders or n > holders[citizen_id][1]:
                holders[citizen_id] = (index, n)
    connection.execute("UPDATE master_patient SET citizen_id = NULL WHERE citizen_id IS NOT NULL")
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE master_patient SET citizen_id = %s WHERE id = %s",
            [(citizen_id, master_of_identity[index]) for citizen_id, (index, _) in holders.items()],
        )
    connection.execute(
        "CREATE TEMP TABLE desired_link (source_patient_id bigint PRIMARY KEY, master_patient_id bigint) ON COMMIT DROP"
    )
    with connection.cursor() as cursor, cursor.copy("COPY desired_link FROM STDIN") as copy:
        for index, members in enumerate(identities):
            for record in members:
                if current.get(record) != master_of_identity[index]:
                    copy.write_row((record, master_of_identity[index]))
    connection.execute(
        "UPDATE patient_link l SET superseded_at = now() FROM desired_link d"
        " WHERE l.source_patient_id = d.source_patient_id AND l.superseded_at IS NULL"
    )
    connection.execute(
        "WITH made AS (INSERT INTO patient_link (source_patient_id, master_patient_id, method, decided_by)"
        " SELECT source_patient_id, master_patient_id, 'batch', %s FROM desired_link RETURNING id, source_patient_id)"
        " UPDATE patient_link old SET superseded_by = made.id FROM made"
        " WHERE old.source_patient_id = made.source_patient_id AND old.superseded_by IS NULL"
        " AND old.superseded_at IS NOT NULL AND old.id <> made.id",
        (decided_by,),
    )
    changed = connection.execute("SELECT count(*) FROM desired_link").fetchone()
    return int(changed[0]) if changed else 0


def _write_reviews(connection: psycopg.Connection[Any], reviews: list[Any], model_version: str) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO match_review (source_patient_id, candidate_source_patient_id, weight, probability, reason, explanation)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (source_patient_id, candidate_source_patient_id) DO UPDATE SET"
            " weight = EXCLUDED.weight, probability = EXCLUDED.probability, reason = EXCLUDED.reason,"
            " explanation = EXCLUDED.explanation",
            [
                (
                    left,
                    right,
                    score.weight,
                    score.probability,
                    reason,
                    Jsonb(explanation(score, model_version)),
                )
                for left, right, score, reason in reviews
            ],
        )
