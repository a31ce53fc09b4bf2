"""The systemd units in deploy/systemd: valid for systemd (systemd-analyze verify, with the install
path pointed at this environment's provreg), and running provreg commands and options that exist."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry.cli import app

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED = "/opt/provreg/.venv/bin/provreg"


def test_the_units_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    here = str(Path(sys.executable).with_name("provreg"))
    units = [*UNITS.glob("*.service"), *UNITS.glob("*.timer")]
    assert len(units) == 5
    for unit in units:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, here))
    checked = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / unit.name) for unit in units)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    # A value systemd cannot read is only a warning: none is allowed.
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr


@pytest.mark.parametrize("unit", sorted(path.name for path in UNITS.glob("*.service")))
def test_each_unit_runs_provreg_commands_that_exist(unit: str) -> None:
    text = (UNITS / unit).read_text()
    commands = [shlex.split(found) for found in re.findall(rf"{re.escape(INSTALLED)} ([^\"'&\n]+)", text)]
    assert commands
    for words in commands:
        options = [word.split("=")[0] for word in words if word.startswith("--")]
        positional = [word for word in words if not word.startswith("-")]
        command = positional[:2] if positional[0] == "db" else positional[:1]
        shown = CliRunner().invoke(app, [*command, "--help"])
        assert shown.exit_code == 0, shown.output
        for option in options:
            assert option in shown.output, f"{unit}: provreg {' '.join(command)} has no {option}"
