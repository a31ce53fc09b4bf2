"""The demo: a province loaded night by night, and a query that works on it."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate
from rich.console import Console

from registry.api.graphql.schema import graphql_sdl
from registry.config import Settings
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
from tests.database import Database


def test_demo_query_is_valid_against_the_published_schema() -> None:
    assert validate(build_schema(graphql_sdl()), parse(example_query(42))) == []


def test_demo_loads_a_province_and_running_it_again_reuses_it(database: Database, tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "out.txt", "w"))  # noqa: SIM115
    province = DemoProvince(persons=600, facilities=4, days=3)
    ensure_province(tmp_path / "province", province, console)
    register_facilities(database.url, province)
    first = load_nights(database.url, tmp_path / "province", console)
    assert first["files"] > 0 and first["duplicate"] == 0 and first["rejected_files"] == 0
    assert first["records_in"] == first["loaded"] + first["updated"] + first["unchanged"] + first["rejected"]
    counts = registry_counts(database.url)
    assert counts["master identities"] <= counts["source patients"]
    assert example_patient(database.url) is not None
    ensure_province(tmp_path / "province", province, console)
    again = load_nights(database.url, tmp_path / "province", console)
    assert again["duplicate"] == first["files"]
    assert "reusing" in (tmp_path / "out.txt").read_text()


def test_demo_registers_its_facilities_by_name_and_kind_and_loads_keep_them(
    database: Database, tmp_path: Path
) -> None:
    province = DemoProvince(persons=300, facilities=3, days=1, seed=7)
    ensure_province(tmp_path / "province", province, Console(file=open(tmp_path / "out.txt", "w")))  # noqa: SIM115
    register_facilities(database.url, province)
    load_nights(database.url, tmp_path / "province", Console(file=open(tmp_path / "load.txt", "w")))  # noqa: SIM115
    sites = build_facilities(province.facilities, province.seed)
    with database.connect() as connection:
        directory = dict(
            connection.execute(
                "SELECT code, name FROM facility WHERE code = ANY(%(codes)s)",
                {"codes": [s.code for s in sites]},
            ).all()
        )
        kinds = set(connection.execute("SELECT kind FROM facility WHERE code = '01929'").scalars())
    assert directory == {site.code: site.name for site in sites}
    assert kinds == {"central_hospital"}


def test_a_second_demo_while_the_first_serves_says_so_and_makes_no_token(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry import cli

    served: list[int] = []
    monkeypatch.setattr(cli, "serve", lambda **options: served.append(options["port"]))
    with socket.socket() as first:  # the first demo, still serving
        first.bind(("127.0.0.1", 0))
        first.listen()
        port = first.getsockname()[1]
        output = io.StringIO()
        monkeypatch.setattr(cli, "console", Console(file=output, width=200))
        cli._serve_demo(database.url, Settings.from_env(), port, example=1, serve_api=True)
    assert f"port {port} is already in use" in output.getvalue() and "no token made" in output.getvalue()
    assert served == []
    with database.connect() as connection:
        assert connection.execute("SELECT count(*) FROM api_token").scalar() == 0
    cli._serve_demo(database.url, Settings.from_env(), port, example=1, serve_api=True)  # the port free now
    assert served == [port] and "a clinician token for the demo" in output.getvalue()


def test_the_demo_loads_vietnamese_titles_of_its_codes_as_an_operator_would(database: Database) -> None:
    from registry.demo import load_icd10_titles

    assert load_icd10_titles(database.url) > 10
    with database.connect() as connection:
        title, english = connection.execute("SELECT icd10_title('I10'), icd10_title_en('I10')").one()
    assert (title, english) == ("Tăng huyết áp vô căn (nguyên phát)", "Essential (primary) hypertension")
