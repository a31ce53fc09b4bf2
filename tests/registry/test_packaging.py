"""An install that is not a checkout (a wheel) still carries the migrations `provreg db upgrade` needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from registry.db import migrate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_installs_every_migration_where_provreg_looks_for_them(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("provreg-*.whl")
    shipped = {Path(name).name for name in zipfile.ZipFile(wheel).namelist() if "/share/provreg/sql/" in name}
    assert shipped == {path.name for path in (ROOT / "sql").glob("*.sql")}
    # Installed under the environment's prefix, which is where migrate looks outside a checkout.
    prefix_relative = migrate.INSTALLED_MIGRATIONS.relative_to(sys.prefix)
    assert prefix_relative == Path("share/provreg/sql")


def test_a_checkout_uses_its_own_sql_folder() -> None:
    assert migrate.migrations_dir() == ROOT / "sql"


def test_no_benchmark_script_shadows_a_package() -> None:
    """A script's folder comes first on sys.path: bench/matching.py would hide the matching package."""
    packages = {"registry", "matching", "loaders", "tests"}
    assert not {path.stem for path in (ROOT / "bench").glob("*.py")} & packages
