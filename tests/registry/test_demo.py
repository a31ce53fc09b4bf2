"""The demo: a province loaded night by night, and a query that works on it."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema, parse, validate
from rich.console import Console
from sqlalchemy import Engine

from registry.api.graphql.schema import graphql_sdl
from registry.demo import (
    DemoProvince,
    ensure_province,
    example_patient,
    example_query,
    load_nights,
    registry_counts,
)


def test_demo_query_is_valid_against_the_published_schema() -> None:
    assert validate(build_schema(graphql_sdl()), parse(example_query(42))) == []


def test_demo_loads_a_province_and_running_it_again_reuses_it(engine: Engine, tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "out.txt", "w"))  # noqa: SIM115
    province = DemoProvince(persons=600, facilities=4, days=3)
    ensure_province(tmp_path / "province", province, console)
    first = load_nights(engine, tmp_path / "province", console)
    assert first["files"] > 0 and first["duplicate"] == 0 and first["rejected_files"] == 0
    assert first["records_in"] == first["loaded"] + first["updated"] + first["unchanged"] + first["rejected"]
    counts = registry_counts(engine)
    assert counts["master identities"] <= counts["source patients"]
    assert example_patient(engine) is not None
    ensure_province(tmp_path / "province", province, console)
    again = load_nights(engine, tmp_path / "province", console)
    assert again["duplicate"] == first["files"]
    assert "reusing" in (tmp_path / "out.txt").read_text()
