"""The provreg command line, as an operator uses it."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loaders.records import SourceRecord
from registry import cli
from registry.cli import app
from tests.registry.test_ingest import night, write_file

runner = CliRunner()


def test_load_prints_a_json_summary_per_file_and_exits_1_on_a_rejected_file(
    registry_env: str, tmp_path: Path
) -> None:
    good = write_file(tmp_path / "good.xml", night())
    garbage = tmp_path / "garbage.xml"
    garbage.write_bytes(b"\x89PNG not a registry file")
    done = runner.invoke(app, ["load", "--json", str(good), str(garbage)])
    assert done.exit_code == 1, done.output
    summaries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [s["status"] for s in summaries] == ["loaded", "rejected"]
    first = summaries[0]
    assert {k: first[k] for k in ("records_in", "loaded", "updated", "unchanged", "rejected")} == {
        "records_in": 3, "loaded": 3, "updated": 0, "unchanged": 0, "rejected": 0,
    }  # fmt: skip
    assert summaries[1]["error"]


def test_load_table_batches_rejects_and_links_export(
    registry_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.console, "width", 200)  # rich folds tables to the terminal's width
    good = write_file(tmp_path / "good.xml", night())
    done = runner.invoke(app, ["load", str(good)])
    assert done.exit_code == 0, done.output
    assert "loaded" in done.stdout
    again = runner.invoke(app, ["load", str(good)])
    assert again.exit_code == 0 and "duplicate" in again.stdout
    listed = runner.invoke(app, ["batches"])
    assert listed.exit_code == 0 and "good.xml" in listed.stdout
    rejects = runner.invoke(app, ["rejects", "1"])
    assert rejects.exit_code == 0
    out = tmp_path / "links.csv"
    exported = runner.invoke(app, ["links", "export", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 3 and rows[0]["facility_code"] == "27001"


def test_a_backfill_stores_every_file_then_links_everything_once(registry_env: str, tmp_path: Path) -> None:
    first = write_file(tmp_path / "a.xml", night("27001", 3, "A"))
    second = write_file(tmp_path / "b.xml", night("27002", 3, "B"), "27002")  # the same people elsewhere
    done = runner.invoke(app, ["load", "--backfill", "--json", str(first), str(second)])
    assert done.exit_code == 0, done.output
    summaries = [json.loads(line) for line in done.stdout.splitlines()]  # stdout stays one line per file
    assert [(s["status"], s["loaded"]) for s in summaries] == [("loaded", 3), ("loaded", 3)]
    assert "6 records" in done.stderr  # the batch re-link's summary
    out = tmp_path / "links.csv"
    assert runner.invoke(app, ["links", "export", "--out", str(out)]).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    masters = {(row["facility_code"], row["local_patient_id"]): row["master_patient_id"] for row in rows}
    assert len(masters) == 6 and all(masters.values())
    assert all(masters["27001", f"BN{i:04d}"] == masters["27002", f"BN{i:04d}"] for i in (1, 2, 3))
    assert len(set(masters.values())) == 3


def test_load_refuses_an_unknown_format_option(registry_env: str, tmp_path: Path) -> None:
    good = write_file(tmp_path / "good.xml", night())
    done = runner.invoke(app, ["load", "--format", "pdf", str(good)])
    assert done.exit_code == 2


def test_rejects_lists_a_batchs_rejected_records_and_why_a_file_was_refused(
    registry_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.console, "width", 200)
    records = night()
    nameless = records[2].patient.model_copy(update={"full_name": ""})
    records[2] = SourceRecord.model_construct(
        position=3, locator="HOSO 3", patient=nameless, encounter=records[2].encounter, skipped_tables=()
    )
    garbage = tmp_path / "garbage.xml"
    garbage.write_bytes(b"\x89PNG not a registry file")
    loaded = runner.invoke(
        app, ["load", "--json", str(write_file(tmp_path / "n1.xml", records)), str(garbage)]
    )
    some, whole = (json.loads(line)["batch_id"] for line in loaded.stdout.splitlines())
    listed = runner.invoke(app, ["rejects", str(some)])
    assert listed.exit_code == 0, listed.output
    assert "HOSO 3" in listed.stdout and "HO_TEN: missing" in listed.stdout
    refused = runner.invoke(app, ["rejects", str(whole)])
    assert refused.exit_code == 0 and f"batch {whole} (rejected):" in refused.stdout
    assert runner.invoke(app, ["rejects", str(whole + 1000)]).exit_code == 1


def test_tokens_are_created_listed_and_revoked_from_the_command_line(
    registry_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.console, "width", 200)
    made = runner.invoke(
        app, ["tokens", "create", "--role", "facility", "--name", "HIS", "--facility", "27001"]
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("prv_")
    listed = runner.invoke(app, ["tokens", "list"])
    assert listed.exit_code == 0 and "27001" in listed.stdout and "live" in listed.stdout
    assert secret not in listed.stdout
    token_id = re.search(r"token (\d+) \(facility\) for HIS", made.stderr).group(1)
    assert runner.invoke(app, ["tokens", "revoke", token_id]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["tokens", "list"]).stdout
    assert runner.invoke(app, ["tokens", "revoke", token_id]).exit_code == 1
