"""The demo: a province loaded night by night, and a query that works on it."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema, parse, validate
from rich.console import Console
from sqlalchemy import Engine, text

from registry.api.graphql.schema import graphql_sdl
from registry.demo import (
    DemoProvince,
    ensure_province,
    example_patient,
    example_query,
    load_nights,
    register_facilities,
    registry_counts,
)
from synth.facilities import build_facilities


def test_demo_query_is_valid_against_the_published_schema() -> None:
    assert validate(build_schema(graphql_sdl()), parse(example_query(42))) == []


def test_demo_loads_a_province_and_running_it_again_reuses_it(engine: Engine, tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "out.txt", "w"))  # noqa: SIM115
    province = DemoProvince(persons=600, facilities=4, days=3)
    ensure_province(tmp_path / "province", province, console)
    register_facilities(engine, province)
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


def test_demo_registers_its_facilities_by_name_and_kind_and_loads_keep_them(
    engine: Engine, tmp_path: Path
) -> None:
    province = DemoProvince(persons=300, facilities=3, days=1, seed=7)
    ensure_province(tmp_path / "province", province, Console(file=open(tmp_path / "out.txt", "w")))  # noqa: SIM115
    register_facilities(engine, province)
    load_nights(engine, tmp_path / "province", Console(file=open(tmp_path / "load.txt", "w")))  # noqa: SIM115
    sites = build_facilities(province.facilities, province.seed)
    with engine.connect() as connection:
        directory = dict(
            connection.execute(
                text("SELECT code, name FROM facility WHERE code = ANY(:codes)"),
                {"codes": [s.code for s in sites]},
            ).all()
        )
        kinds = set(connection.execute(text("SELECT kind FROM facility WHERE code = '01929'")).scalars())
    assert directory == {site.code: site.name for site in sites}
    assert kinds == {"central_hospital"}
