"""`provreg review list` and `review show`: the queue for operators without a browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry import cli
from registry.cli import app
from registry.db.sql import run
from registry.identity.review_view import list_reviews
from registry.identity.stewardship import decide_review
from tests.database import Database
from tests.registry.identity_helpers import borderline_pair, rows, source_id

runner = CliRunner()


@pytest.fixture
def queue(registry_env: str, database: Database, tmp_path: Path) -> list[int]:
    """Two possible matches, the older one decided by a steward; returns their ids, oldest first."""
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    borderline_pair(database, tmp_path, "Nguyễn Thị Lan", (1972, 8, 21), "000302")
    ids = [r for (r,) in rows(database, "SELECT id FROM match_review ORDER BY id")]
    with database.begin() as connection:
        decide_review(connection, ids[0], False, "steward:Ms Hoa")
    return ids


def within_80_columns(output: str) -> bool:
    return all(len(line) <= 80 for line in output.splitlines())


def test_review_list_shows_each_open_item_with_both_records_within_80_columns(
    queue: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.console, "width", 80)
    done = runner.invoke(app, ["review", "list"])
    assert done.exit_code == 0, done.output
    assert within_80_columns(done.stdout)
    assert "Nguyễn Thị Lan" in done.stdout and "27002:B-000302 1972-08-21" in done.stdout
    assert "27001:A-000302" in done.stdout and "Nguyễn Văn An" not in done.stdout  # decided: not listed
    every = runner.invoke(app, ["review", "list", "--all", "--sort", "oldest"])
    assert every.stdout.index("Nguyễn Văn An") < every.stdout.index("Nguyễn Thị Lan")
    assert (
        "different by" in every.stdout
        and "steward:Ms Hoa" in every.stdout
        and within_80_columns(every.stdout)
    )
    assert "Nguyễn Thị Lan" in runner.invoke(app, ["review", "list", "--facility", "27002"]).stdout
    assert "Nguyễn Thị Lan" not in runner.invoke(app, ["review", "list", "--facility", "27003"]).stdout
    assert "Nguyễn Thị Lan" not in runner.invoke(app, ["review", "list", "--min-weight", "6"]).stdout
    wrong = runner.invoke(app, ["review", "list", "--sort", "sideways"])
    assert wrong.exit_code == 2


def test_review_list_json_is_one_object_per_item(queue: list[int], database: Database) -> None:
    done = runner.invoke(app, ["review", "list", "--json", "--all", "--sort", "weight"])
    assert done.exit_code == 0, done.output
    items = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(i["id"] for i in items) == queue
    first = next(i for i in items if i["id"] == queue[1])
    assert first["status"] == "open" and first["reason"] and 2 <= first["weight"] < 6
    assert first["record"]["full_name"] == "Nguyễn Thị Lan" and first["record"]["local_id"] == "B-000302"
    assert first["candidate"]["source_patient_id"] == source_id(database, "A-000302")
    assert first["candidate"]["birth_date"] == "1972-08-21" and first["same_identity"] is False
    assert first["explanation"][0]["field"] == "prior"
    decided = next(i for i in items if i["id"] == queue[0])
    assert (decided["status"], decided["decided_by"]) == ("different", "steward:Ms Hoa")


def test_review_show_puts_the_records_side_by_side_with_the_evidence(
    queue: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.console, "width", 80)
    done = runner.invoke(app, ["review", "show", str(queue[1])])
    assert done.exit_code == 0, done.output
    out = done.stdout
    assert within_80_columns(out)
    assert out.startswith(f"review {queue[1]}: open, weight +")
    assert "the two records are in two identities now" in out
    (name,) = [line for line in out.splitlines() if line.startswith("name ")]
    assert name.split() == ["name", "Nguyễn", "Thị", "Lan", "Nguyễn", "Thị", "Lan"]
    (birth,) = [line for line in out.splitlines() if line.startswith("birth date")]
    assert birth.split()[2:] == ["1972-08-21", "1972-08-21"]
    assert "birth_date" in out and "two records at random" in out  # the waterfall
    decided = runner.invoke(app, ["review", "show", str(queue[0])])
    assert "decided by steward:Ms Hoa at " in decided.stdout
    as_json = json.loads(runner.invoke(app, ["review", "show", "--json", str(queue[1])]).stdout)
    assert as_json["id"] == queue[1] and as_json["record"]["facility_code"] == "27002"
    missing = runner.invoke(app, ["review", "show", "999999"])
    assert missing.exit_code == 1 and "no review item 999999" in missing.output


def test_the_queue_piped_to_another_program_is_plain_text_of_80_columns(queue: list[int]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TERM")}
    for command in (["review", "list"], ["review", "show", str(queue[1])]):
        done = subprocess.run(
            [sys.executable, "-m", "registry", *command], capture_output=True, env=env, check=False
        )
        out = done.stdout.decode("utf-8")
        assert done.returncode == 0, done.stderr
        assert "\x1b[" not in out and within_80_columns(out)
        assert "Nguyễn Thị Lan" in out


def test_the_queue_in_priority_order_puts_links_held_back_first_then_recent_visits(
    registry_env: str, database: Database, tmp_path: Path
) -> None:
    for serial, name, born in (
        ("000401", "Nguyễn Văn An", (1985, 3, 14)),
        ("000402", "Nguyễn Thị Lan", (1972, 8, 21)),
        ("000403", "Nguyễn Văn Bình", (1990, 1, 2)),
    ):
        borderline_pair(database, tmp_path, name, born, serial)
    an, lan, binh = [r for (r,) in rows(database, "SELECT id FROM match_review ORDER BY id")]
    with database.plain() as connection:
        connection.execute(  # Lan was seen last week, An last year; Bình held back by a rule
            "UPDATE encounter e SET admitted_at = CASE WHEN p.local_id LIKE '%000402' THEN now() - interval"
            " '7 days' ELSE now() - interval '1 year' END FROM source_patient p WHERE p.id = e.source_patient_id"
        )
        connection.execute("UPDATE match_review SET weight = 9 WHERE id = %s", (binh,))
        assert [item.id for item in run(connection, list_reviews())] == [binh, lan, an]
        assert [item.id for item in run(connection, list_reviews(order="oldest"))] == [an, lan, binh]
    done = runner.invoke(app, ["review", "list", "--json"])
    items = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["id"] for item in items] == [binh, lan, an]
    assert items[1]["in_words"] == "same name, birth date, sex"
