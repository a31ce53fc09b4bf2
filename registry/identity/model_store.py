"""The matching model in use: the newest active trained parameters, else the engine's defaults.

Linking (at load and in a batch re-link) and the search both score with it: a patient found by
a search is ranked by the same weights that would link it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from matching import ModelParameters, Scorer, default_parameters
from registry.db.driver_sql import AnyConnection, execute

_ACTIVE = "SELECT id, model_version FROM match_model WHERE active ORDER BY id DESC LIMIT 1"

# The scorer last built, and the model it was built for: (id, version), or None for the defaults.
_scorer: tuple[tuple[int, str] | None, Scorer] | None = None


def active_parameters(connection: AnyConnection) -> ModelParameters:
    rows = execute(connection, "SELECT parameters FROM match_model WHERE active ORDER BY id DESC LIMIT 1", {})
    return ModelParameters.model_validate(rows[0][0]) if rows else default_parameters()


def active_scorer(connection: AnyConnection) -> Scorer:
    """A scorer of the model in use, built once per process and model: each call only asks which
    model is active (a trained model's parameters, name frequencies and all, cost far more to read
    and compile than the search that asks)."""
    global _scorer
    rows = execute(connection, _ACTIVE, {})
    model = (int(rows[0][0]), str(rows[0][1])) if rows else None
    if _scorer is None or _scorer[0] != model:
        if model is None:
            parameters = default_parameters()
        else:
            (row,) = execute(
                connection, "SELECT parameters FROM match_model WHERE id = %(id)s", {"id": model[0]}
            )
            parameters = ModelParameters.model_validate(row[0])
        _scorer = (model, Scorer(parameters))
    return _scorer[1]


def save_parameters(connection: psycopg.Connection[Any], parameters: ModelParameters, created_by: str) -> int:
    row = connection.execute(
        "INSERT INTO match_model (model_version, parameters, created_by) VALUES (%s, %s, %s) RETURNING id",
        (parameters.model_version, Jsonb(parameters.model_dump(mode="json")), created_by),
    ).fetchone()
    assert row is not None
    return int(row[0])
