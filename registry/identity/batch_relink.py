"""Batch re-linking (`provreg match run`): every source patient re-matched from scratch.

Used after training or a threshold change. Keys are rebuilt, candidate pairs come from the
blocks, every pair is scored and decided, and `matching.cluster` forms identities under the
stewards' decisions (which always win) and the rule that different valid citizen IDs are never
merged by the model. Identities keep their master ids where their records agree (the id most of
their records had); only records whose identity changes get a new link (the old one superseded).

Preparing, blocking and scoring run in parallel shards (`registry.identity.relink_shards`); every write
is set-based (COPY into a temporary table, then one statement).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import psycopg

from matching import (
    STANDARD_BLOCKING,
    BlockingRule,
    Constraints,
    Link,
    PersonRecord,
    cluster,
    refused_newborn_links,
)
from registry.db.bulk import temp_table_of
from registry.identity.key_index import replace_key_table
from registry.identity.links import LinkRow, found_identities, lock_linking, write_links
from registry.identity.model_store import active_parameters
from registry.identity.person_records import all_people
from registry.identity.relink_shards import Shards, default_processes, paused_gc, shared_pairs, timed
from registry.identity.review_queue import TWIN_IN_SIGHT, ReviewRow, queue_reviews


@dataclass(frozen=True)
class RelinkSummary:
    records: int
    pairs_scored: int
    identities: int
    links_changed: int
    reviews: int
    refused_links: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase, in order


def rebuild_keys(connection: psycopg.Connection[Any], *, processes: int | None = None) -> int:
    """Index every source patient under its current keys (the key table rebuilt whole); returns the keys."""
    records = [person for person, _ in all_people(connection)]
    with Shards(
        records, active_parameters(connection), processes or default_processes(len(records))
    ) as shards:
        prepared = shards.call("prepare")
    replace_key_table(connection, (chunk for part in prepared for chunk in part.copy_text))
    return sum(part.keys for part in prepared)


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


def relink_all(
    connection: psycopg.Connection[Any],
    decided_by: str,
    *,
    processes: int | None = None,
    rules: Sequence[BlockingRule] = STANDARD_BLOCKING,
) -> RelinkSummary:
    """Re-link every source patient; the caller owns the transaction.

    The records are prepared, indexed and scored in `processes` shards (by default one per CPU
    for a registry of 50,000 records or more, see `registry.identity.relink_shards`); the key table is
    written while the shards score. Clustering and writing happen here.
    """
    with paused_gc():
        return _relink_all(connection, decided_by, processes, rules)


def _relink_all(
    connection: psycopg.Connection[Any],
    decided_by: str,
    processes: int | None,
    rules: Sequence[BlockingRule],
) -> RelinkSummary:
    started = time.perf_counter()
    phases: dict[str, float] = {}
    lock_linking(connection)
    parameters = active_parameters(connection)
    stop = timed(phases, "read records")
    records: list[PersonRecord] = []
    current: dict[int, int | None] = {}
    for person, master in all_people(connection):
        records.append(person)
        current[person.record_id] = master
    stop()
    count = processes or default_processes(len(records))
    with Shards(records, parameters, count, rules) as shards:
        stop = timed(phases, "prepare + keys")
        prepared = shards.call("prepare")
        stop()
        stop = timed(phases, "candidates (shared keys)")
        handed: list[list[tuple[int, int, int]]] = [[] for _ in range(shards.count)]
        for shard, a, b, keys in shared_pairs(prepared, records, shards.count, rules):
            handed[shard].append((a, b, keys))
        stop()
        shards.start("score", [(pairs,) for pairs in handed])
        del handed
        stop = timed(phases, "writing keys (while scoring)")
        replace_key_table(connection, (chunk for part in prepared for chunk in part.copy_text))
        stop()
        citizen_ids: dict[int, str | None] = dict.fromkeys(current)
        for part in prepared:
            citizen_ids.update((records[position].record_id, value) for position, value in part.citizen_ids)
        del prepared
        stop = timed(phases, "scoring (waiting for shards)")
        scored = shards.results()
        stop()
        for part in scored:
            for phase, seconds in part.seconds.items():
                phases[f"  shard {phase} (slowest)"] = max(
                    phases.get(f"  shard {phase} (slowest)", 0.0), seconds
                )
        stop = timed(phases, "clustering")
        links: list[Link] = []
        owner: dict[tuple[int, int], int] = {}
        reviews: list[ReviewRow] = []
        newborn_links: list[tuple[int, int]] = []
        twins: list[tuple[int, int]] = []
        for number, part in enumerate(scored):
            for a, b, weight in part.links:
                left, right = records[a].record_id, records[b].record_id
                links.append(Link(left, right, weight))
                owner[(left, right)] = number
            reviews.extend(
                (records[a].record_id, records[b].record_id, *rest) for a, b, *rest in part.reviews
            )
            newborn_links.extend((records[a].record_id, records[b].record_id) for a, b in part.newborn_links)
            twins.extend((records[a].record_id, records[b].record_id) for a, b in part.twins)
        pairs_scored = sum(part.pairs for part in scored)
        del scored
        near_twins = _newborn_links_near_twins(links, newborn_links, twins)
        links = [link for link in links if (link.left, link.right) not in near_twins]
        clustering = cluster(citizen_ids, links, _constraints(connection))
        stop()
        stop = timed(phases, "explaining refused links")
        position = {record.record_id: index for index, record in enumerate(records)}
        asked: list[list[tuple[int, int]]] = [[] for _ in range(shards.count)]
        reasons: list[list[str]] = [[] for _ in range(shards.count)]
        for left, right in sorted(near_twins):
            asked[owner[(left, right)]].append((position[left], position[right]))
            reasons[owner[(left, right)]].append(TWIN_IN_SIGHT)
        for refused in clustering.refused:
            if refused.weight is not None:
                number = owner[(refused.left, refused.right)]
                asked[number].append((position[refused.left], position[refused.right]))
                reasons[number].append(f"link refused: {refused.reason.value}")
        answers = shards.call("explain", [(pairs,) for pairs in asked])
        for pairs, why, explained in zip(asked, reasons, answers, strict=True):
            for (a, b), reason, (weight, probability, detail) in zip(pairs, why, explained, strict=True):
                reviews.append(
                    (records[a].record_id, records[b].record_id, weight, probability, reason, detail)
                )
        stop()
    stop = timed(phases, "writing identities and links")
    changed = _write_identities(connection, clustering.identities, current, citizen_ids, decided_by)
    stop()
    stop = timed(phases, "writing reviews")
    queue_reviews(connection, reviews)
    stop()
    return RelinkSummary(
        records=len(records),
        pairs_scored=pairs_scored,
        identities=len(clustering.identities),
        links_changed=changed,
        reviews=len(reviews),
        refused_links=len(clustering.refused),
        seconds=time.perf_counter() - started,
        phases=phases,
    )


def _newborn_links_near_twins(
    links: Sequence[Link], newborn_links: Sequence[tuple[int, int]], twins: Sequence[tuple[int, int]]
) -> set[tuple[int, int]]:
    """The newborn links to refuse (`matching.refused_newborn_links`); two records are known to be one
    person when a link without that caveat joins them directly."""
    if not newborn_links:
        return set()
    partners = {record for pair in newborn_links for record in pair}
    caveated = set(newborn_links)
    direct = {
        frozenset((link.left, link.right))
        for link in links
        if link.left in partners and link.right in partners and (link.left, link.right) not in caveated
    }
    return refused_newborn_links(newborn_links, twins, lambda a, b: frozenset((a, b)) in direct)


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
    founders = {identities[index][0]: index for index, master in master_of_identity.items() if master is None}
    for founder, master in found_identities(connection, dict.fromkeys(founders)).items():
        master_of_identity[founders[founder]] = master
    # The citizen ID an identity holds: one of its records' (the model never mixes two); when two
    # identities carry the same one (a child recorded on a parent's card), the larger holds it.
    holders: dict[str, tuple[int, int]] = {}
    for index, members in enumerate(identities):
        counts = Counter(citizen_ids[r] for r in members if citizen_ids[r])
        if len(counts) == 1:
            ((citizen_id, n),) = counts.items()
            if citizen_id not in holders or n > holders[citizen_id][1]:
                holders[citizen_id] = (index, n)
    temp_table_of(
        connection,
        "desired_holder",
        "id bigint PRIMARY KEY, citizen_id text NOT NULL",
        ((master_of_identity[index], citizen_id) for citizen_id, (index, _) in holders.items()),
    )
    # Release the citizen IDs held elsewhere than desired first, so no two masters ever hold one.
    connection.execute(
        "UPDATE master_patient m SET citizen_id = NULL WHERE m.citizen_id IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM desired_holder d WHERE d.id = m.id AND d.citizen_id = m.citizen_id)"
    )
    connection.execute(
        "UPDATE master_patient m SET citizen_id = d.citizen_id FROM desired_holder d"
        " WHERE m.id = d.id AND m.citizen_id IS DISTINCT FROM d.citizen_id"
    )
    links: list[LinkRow] = [
        (record, master, "batch", None, None)
        for index, members in enumerate(identities)
        if (master := master_of_identity[index]) is not None
        for record in members
        if current.get(record) != master
    ]
    write_links(connection, links, decided_by)
    return len(links)
