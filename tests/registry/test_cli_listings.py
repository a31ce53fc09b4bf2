"""Every listing command as a new operator meets it: through a pipe at 80 columns, no value cut to an
ellipsis, the columns that matter kept; and `--json` that parses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loaders.records import SourceRecord
from registry.cli import app
from tests.registry.test_ingest import night, write_file

runner = CliRunner()
LONG_NAME = "27001_2025-11-03_nightly_extract_of_the_hospital_information_system.xml"


@pytest.fixture
def registry_with_rejects(registry_env: str, tmp_path: Path) -> dict[str, str]:
    records = night()
    nameless = records[2].patient.model_copy(update={"full_name": ""})
    records[2] = SourceRecord.model_construct(
        position=3, locator="HOSO 3", patient=nameless, encounter=records[2].encounter, skipped_tables=()
    )
    folder = tmp_path / "incoming"
    folder.mkdir()
    write_file(folder / LONG_NAME, records)
    (folder / "z-garbage.xml").write_bytes(b"\x89PNG not a registry file")
    loaded = runner.invoke(app, ["load", "--json", str(folder)])  # a folder: its files in name order
    assert loaded.exit_code == 1, loaded.output  # one file rejected whole
    summaries = [json.loads(line) for line in loaded.stdout.splitlines()]
    assert [Path(s["path"]).name for s in summaries] == [LONG_NAME, "z-garbage.xml"]
    made = runner.invoke(
        app,
        ["tokens", "create", "--role", "clinician", "--name", "Dr Trần Thị Minh Nguyệt, Bắc Ninh General"],
    )
    assert made.exit_code == 0, made.output
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TERM")}
    return {
        **env,
        "COLUMNS": "80",
        "records": str(summaries[0]["batch_id"]),
        "whole": str(summaries[1]["batch_id"]),
    }


def _run(env: dict[str, str], *command: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "registry", *command], capture_output=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("utf-8")


@pytest.mark.slow
def test_every_listing_reads_at_80_columns_through_a_pipe_and_has_json(
    registry_with_rejects: dict[str, str],
) -> None:
    env = registry_with_rejects
    listings = {
        ("batches",): ["27001_2025-11-03", "loaded", "rejected", "z-garbage.xml"],
        ("rejects", env["records"]): ["BN0003", "HO_TEN: missing"],
        ("rejects", env["whole"]): ["(rejected): not a known format"],
        ("tokens", "list"): ["Dr Trần Thị Minh", "clinician", "live"],
        ("quality",): ["27001"],
        ("review", "list"): ["why held back"],
        ("match", "run"): ["records"],
    }
    for command, expected in listings.items():
        out = _run(env, *command)
        assert "\x1b[" not in out, command  # plain text
        assert all(len(line) <= 80 for line in out.splitlines()), (command, out)
        assert "…" not in out, (command, out)  # nothing cut to an ellipsis
        for text in expected:
            assert text in out, (command, text, out)
        as_json = _run(env, *command, "--json")
        parsed = [json.loads(line) for line in as_json.splitlines() if line.strip()]
        assert parsed, command
    [rejects] = [json.loads(_run(env, "rejects", env["records"], "--json"))]
    assert rejects["rejects"][0]["local_id"] == "BN0003" and rejects["rejects"][0]["excerpt"] is not None
    whole = json.loads(_run(env, "rejects", env["whole"], "--json"))
    assert whole["status"] == "rejected" and whole["error"] and whole["rejects"] == []
    tokens = [json.loads(line) for line in _run(env, "tokens", "list", "--json").splitlines()]
    assert "token_hash" not in tokens[0] and tokens[0]["role"] == "clinician"


def test_a_narrow_listing_names_the_columns_it_left_out(
    registry_with_rejects: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry import cli

    monkeypatch.setattr(cli.console, "width", 200)
    wide = runner.invoke(app, ["batches"]).stdout
    assert "unchanged" in wide and "not shown at this width" not in wide
    monkeypatch.setattr(cli.console, "width", 60)
    narrow = runner.invoke(app, ["batches"]).stdout
    assert "not shown at this width: " in narrow and "(see --json)" in narrow
    assert all(len(line) <= 60 for line in narrow.splitlines()) and "…" not in narrow


def test_load_says_file_n_of_n_and_records_per_second(registry_env: str, tmp_path: Path) -> None:
    folder = tmp_path / "nights"
    (folder / "27002").mkdir(parents=True)
    write_file(folder / "b.xml", night())
    write_file(folder / "27002" / "a.xml", night("27002"), facility_code="27002")
    write_file(folder / ".hidden.xml", night("27003"), facility_code="27003")
    done = runner.invoke(app, ["load", str(folder)])
    assert done.exit_code == 0, done.output
    progress = done.stderr.splitlines()
    assert progress[0].startswith("file 1 of 2: a.xml loaded, 3 records, ") and progress[0].endswith(
        " records/s"
    )
    assert progress[1].startswith("file 2 of 2: b.xml loaded")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["load", str(empty)]).exit_code == 2
