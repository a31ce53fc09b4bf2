"""The same arguments write the same bytes; the output folder is handled with care."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from synth.writer import generate_province

SMALL = {"persons": 600, "facilities": 5, "days": 6}


def _digests(out: Path) -> dict[str, str]:
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    generate_province(tmp_path / "a", seed=3, **SMALL)
    generate_province(tmp_path / "b", seed=3, **SMALL)
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert first == second and any(name.startswith("nights/") for name in first)


def test_another_seed_another_province(tmp_path: Path) -> None:
    generate_province(tmp_path / "a", seed=3, **SMALL)
    generate_province(tmp_path / "b", seed=4, **SMALL)
    assert (tmp_path / "a" / "truth_persons.csv").read_bytes() != (
        tmp_path / "b" / "truth_persons.csv"
    ).read_bytes()


def test_refuses_a_folder_that_is_not_a_province(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError):
        generate_province(tmp_path, seed=1, **SMALL)
    assert (tmp_path / "notes.txt").exists()


def test_regenerating_replaces_the_earlier_nights(tmp_path: Path) -> None:
    generate_province(tmp_path, seed=1, persons=600, facilities=5, days=8)
    generate_province(tmp_path, seed=1, **SMALL)
    assert len(list((tmp_path / "nights").iterdir())) <= SMALL["days"]
