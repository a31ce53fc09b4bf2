"""The matching model in use: the newest active trained parameters, else the engine's defaults."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from matching import ModelParameters, default_parameters


def active_parameters(connection: psycopg.Connection[Any]) -> ModelParameters:
    row = connection.execute(
        "SELECT parameters FROM match_model WHERE active ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return ModelParameters.model_validate(row[0]) if row else default_parameters()


def save_parameters(connection: psycopg.Connection[Any], parameters: ModelParameters, created_by: str) -> int:
    row = connection.execute(
        "INSERT INTO match_model (model_version, parameters, created_by) VALUES (%s, %s, %s) RETURNING id",
        (parameters.model_version, Jsonb(parameters.model_dump(mode="json")), created_by),
    ).fetchone()
    assert row is not None
    return int(row[0])
