"""The matching model in use: the newest active trained parameters, else the engine's defaults.

Linking (at load and in a batch re-link) and the search both score with it: a patient found by
a search is ranked by the same weights that would link it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from matching import ModelParameters, Scorer, default_parameters
from registry.db.sql import Query, Steps, first, value

_ACTIVE = "SELECT id, model_version FROM match_model WHERE active ORDER BY id DESC LIMIT 1"

# The scorer last built, and the model it was built for: (id, version), or None for the defaults.
_scorer: tuple[tuple[int, str] | None, Scorer] | None = None


def active_parameters(connection: psycopg.Connection[Any]) -> ModelParameters:
    row = connection.execute(
        "SELECT parameters FROM match_model WHERE active ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return ModelParameters.model_validate(row[0]) if row else default_parameters()


def active_scorer() -> Steps[Scorer]:
    """A scorer of the model in use, built once per process and model: each call only asks which
    model is active (a trained model's parameters, name frequencies and all, cost far more to read
    and compile than the search that asks)."""
    global _scorer
    active = yield Query(_ACTIVE, {}, first)
    model = (int(active.id), str(active.model_version)) if active else None
    if _scorer is None or _scorer[0] != model:
        if model is None:
            parameters = default_parameters()
        else:
            stored = yield Query(
                "SELECT parameters FROM match_model WHERE id = %(id)s", {"id": model[0]}, value
            )
            parameters = ModelParameters.model_validate(stored)
        _scorer = (model, Scorer(parameters))
    return _scorer[1]


def save_parameters(connection: psycopg.Connection[Any], parameters: ModelParameters, created_by: str) -> int:
    row = connection.execute(
        "INSERT INTO match_model (model_version, parameters, created_by) VALUES (%s, %s, %s) RETURNING id",
        (parameters.model_version, Jsonb(parameters.model_dump(mode="json")), created_by),
    ).fetchone()
    assert row is not None
    return int(row[0])
