"""An install that is not a checkout (a wheel) still carries the migrations `provreg db upgrade` needs;
the synthetic province is a package of its own that the registry can run without."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
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
    assert shipped == {path.name for pattern in ("*.sql", "*.py") for path in (ROOT / "sql").glob(pattern)}
    # The workbench's templates and static files (its font included) are package data.
    web = ROOT / "registry" / "web"
    wanted = {
        f"registry/web/{path.relative_to(web).as_posix()}"
        for folder in ("templates", "static")
        for path in (web / folder).rglob("*")
        if path.is_file()
    }
    assert wanted and wanted <= set(zipfile.ZipFile(wheel).namelist())
    # Installed under the environment's prefix, which is where migrate looks outside a checkout.
    prefix_relative = migrate.INSTALLED_MIGRATIONS.relative_to(sys.prefix)
    assert prefix_relative == Path("share/provreg/sql")


def test_a_checkout_uses_its_own_sql_folder() -> None:
    assert migrate.migrations_dir() == ROOT / "sql"


def test_no_benchmark_script_shadows_a_package() -> None:
    """A script's folder comes first on sys.path: bench/matching.py would hide the matching package."""
    packages = {"registry", "matching", "loaders", "synth", "tests"}
    assert not {path.stem for path in (ROOT / "bench").glob("*.py")} & packages


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_synthetic_province_imports_nothing_from_the_registry() -> None:
    importing = [
        path.name for path in (ROOT / "synth").glob("*.py") if "registry" in _imported_packages(path)
    ]
    assert importing == []


def test_only_the_demo_and_the_synth_commands_reach_the_synthetic_province() -> None:
    importing = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "registry").rglob("*.py")
        if "synth" in _imported_packages(path)
    }
    # registry/cli.py imports it inside `provreg synth` / `synth-score` only; the demo needs it.
    assert importing <= {"registry/cli.py", "registry/demo.py"}


_WITHOUT_SYNTH = """
import sys
from importlib.abc import MetaPathFinder


class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "synth" or name.startswith("synth."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
from typer.testing import CliRunner

from registry.cli import app

runner = CliRunner()
assert runner.invoke(app, ["--help"]).exit_code == 0
assert runner.invoke(app, ["db", "--help"]).exit_code == 0
refused = runner.invoke(app, ["synth", "--out", sys.argv[1]])
assert refused.exit_code == 2, refused.output
assert "not installed" in refused.output, refused.output
"""


def test_the_command_line_runs_without_the_synthetic_province(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", _WITHOUT_SYNTH, str(tmp_path / "province")], check=True, timeout=120
    )


# Used without being imported by name: starlette parses multipart/form-data with it.
_USED_THROUGH_ANOTHER = {"python-multipart"}


def test_every_declared_dependency_is_imported_by_the_code() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    imported = set().union(
        *(
            _imported_packages(path)
            for package in ("registry", "loaders", "matching", "synth")
            for path in (ROOT / package).rglob("*.py")
        )
    )
    modules_of = importlib.metadata.packages_distributions()
    unused = []
    for requirement in declared:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        distribution = importlib.metadata.distribution(name).metadata["Name"]
        modules = {module for module, dists in modules_of.items() if distribution in dists}
        if name not in _USED_THROUGH_ANOTHER and not modules & imported:
            unused.append(name)
    assert unused == []
