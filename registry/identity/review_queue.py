"""The stewards' review queue, written set-based: possible matches with their explanations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from registry.db.bulk import temp_table_of

# (source patient, candidate source patient, weight, probability, reason, explanation as JSON text)
ReviewRow = tuple[int, int, float, float, str, str]


def queue_reviews(connection: psycopg.Connection[Any], reviews: Sequence[ReviewRow]) -> None:
    """Add these pairs to the queue; a pair already queued gets the newer score and reason."""
    if not reviews:
        return
    temp_table_of(
        connection,
        "queued_review",
        "source_patient_id bigint, candidate_source_patient_id bigint, weight double precision,"
        " probability double precision, reason text, explanation jsonb",
        reviews,
    )
    connection.execute(
        "INSERT INTO match_review (source_patient_id, candidate_source_patient_id, weight, probability, reason, explanation)"
        " SELECT DISTINCT ON (source_patient_id, candidate_source_patient_id) * FROM queued_review"
        " ORDER BY source_patient_id, candidate_source_patient_id"
        " ON CONFLICT (source_patient_id, candidate_source_patient_id) DO UPDATE SET"
        " weight = EXCLUDED.weight, probability = EXCLUDED.probability, reason = EXCLUDED.reason,"
        " explanation = EXCLUDED.explanation"
    )
    connection.execute("DROP TABLE queued_review")
