from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from registry.cli import app


def test_synth_then_score_a_perfect_linkage(tmp_path: Path) -> None:
    out = tmp_path / "province"
    runner = CliRunner()
    made = runner.invoke(
        app, ["synth", "--persons", "500", "--facilities", "4", "--days", "5", "--out", str(out)]
    )
    assert made.exit_code == 0, made.output
    assert (out / "truth_records.csv").exists() and (out / "broken" / "expected.json").exists()

    # The truth itself, exported as links, is a perfect linkage.
    links = tmp_path / "links.csv"
    with (out / "truth_records.csv").open(encoding="utf-8") as file:
        exported = {(r["facility_code"], r["local_patient_id"], r["person_id"]) for r in csv.DictReader(file)}
    links.write_text(
        "facility_code,local_patient_id,master_patient_id\n"
        + "".join(f"{facility},{local},{person}\n" for facility, local, person in exported),
        encoding="utf-8",
    )
    scored = runner.invoke(app, ["synth-score", str(links), "--truth", str(out)])
    assert scored.exit_code == 0, scored.output
    assert "pairwise precision" in scored.output and "1.0000" in scored.output
