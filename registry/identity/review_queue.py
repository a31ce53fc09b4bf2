"""The stewards' review queue, written set-based: possible matches with their explanations.

One item per unordered pair of records (`match_review_one_per_pair`, on the pair stored smaller id
first), whichever side found it and however often matching runs. An item keeps the direction it
was first found in (its record, the one the engine was linking, and its candidate): a pair found
again the other way round updates the open item's score and explanation, turned to the item's
direction, and keeps its reason (written about the item's record). A pair a steward has decided
is never queued again: its item is left as decided, and a pair with a standing decision
(`match_constraint`) gets no item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from registry.db.bulk import temp_table_of

# (source patient, candidate source patient, weight, probability, reason, explanation as JSON text)
ReviewRow = tuple[int, int, float, float, str, str]

# The reason of a newborn's link refused by `matching.refused_newborn_links`.
TWIN_IN_SIGHT = (
    "a newborn recorded under its mother's name fits this record, but a twin is in sight"
    " (another child of the household born the same day): a steward decides"
)

# An explanation (registry.identity.explanations) seen from the other record: its two records and
# each step's two values change places.
_TURNED = """
q.explanation || jsonb_build_object(
    'left_source_patient_id', q.explanation->'right_source_patient_id',
    'right_source_patient_id', q.explanation->'left_source_patient_id',
    'steps', (SELECT coalesce(jsonb_agg(s.step || jsonb_build_object('left', s.step->'right', 'right', s.step->'left')
                                        ORDER BY s.n), '[]'::jsonb)
              FROM jsonb_array_elements(q.explanation->'steps') WITH ORDINALITY AS s (step, n)))
"""

_QUEUE = f"""
INSERT INTO match_review AS r (source_patient_id, candidate_source_patient_id, weight, probability, reason, explanation)
SELECT DISTINCT ON (least(q.source_patient_id, q.candidate_source_patient_id),
                    greatest(q.source_patient_id, q.candidate_source_patient_id))
       CASE WHEN turned THEN q.candidate_source_patient_id ELSE q.source_patient_id END,
       CASE WHEN turned THEN q.source_patient_id ELSE q.candidate_source_patient_id END,
       q.weight, q.probability,
       CASE WHEN turned THEN queued.reason ELSE q.reason END,
       CASE WHEN turned AND jsonb_typeof(q.explanation->'steps') = 'array' THEN {_TURNED} ELSE q.explanation END
FROM queued_review q
LEFT JOIN match_review queued
    ON queued.left_source_patient_id = least(q.source_patient_id, q.candidate_source_patient_id)
   AND queued.right_source_patient_id = greatest(q.source_patient_id, q.candidate_source_patient_id)
CROSS JOIN LATERAL (SELECT coalesce(queued.source_patient_id <> q.source_patient_id, false) AS turned) t
WHERE q.source_patient_id <> q.candidate_source_patient_id
  AND NOT EXISTS (
      SELECT 1 FROM match_constraint c
      WHERE c.left_source_patient_id = least(q.source_patient_id, q.candidate_source_patient_id)
        AND c.right_source_patient_id = greatest(q.source_patient_id, q.candidate_source_patient_id))
ORDER BY least(q.source_patient_id, q.candidate_source_patient_id),
         greatest(q.source_patient_id, q.candidate_source_patient_id), q.weight DESC
ON CONFLICT (left_source_patient_id, right_source_patient_id) DO UPDATE SET
    weight = EXCLUDED.weight, probability = EXCLUDED.probability, reason = EXCLUDED.reason,
    explanation = EXCLUDED.explanation
WHERE r.status = 'open'
"""


def queue_reviews(connection: psycopg.Connection[Any], reviews: Sequence[ReviewRow]) -> None:
    """Add these pairs to the queue: one item per pair; an open one gets the newer score; a decided
    pair is left alone."""
    if not reviews:
        return
    temp_table_of(
        connection,
        "queued_review",
        "source_patient_id bigint, candidate_source_patient_id bigint, weight double precision,"
        " probability double precision, reason text, explanation jsonb",
        reviews,
    )
    connection.execute(_QUEUE)
    connection.execute("DROP TABLE queued_review")
