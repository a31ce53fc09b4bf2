"""A decision's explanation as stored with links and review items (JSON)."""

from __future__ import annotations

import orjson

from matching import PairScore, waterfall


def explanation(score: PairScore, model_version: str) -> str:
    """What a steward and an auditor see: the pair, the weight and every field's contribution, as
    JSON text for a jsonb column (written where the pair was scored, in a worker process: the
    coordinator then only passes the text on)."""
    return orjson.dumps(
        {
            "model_version": model_version,
            "left_source_patient_id": score.left.record_id,
            "right_source_patient_id": score.right.record_id,
            "weight": round(score.weight, 3),
            "probability": score.probability,
            "steps": waterfall(score),
        }
    ).decode()
