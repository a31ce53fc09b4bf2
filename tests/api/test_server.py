"""How the server is started: from settings given to it, with nothing started by an import."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from registry.api.config import ApiConfig
from registry.api.server import ServedApplication
from registry.config import IngestConfig


def test_importing_the_server_and_the_command_line_starts_nothing(tmp_path: Path) -> None:
    """The server module used to start the embedded database when imported (uvicorn imported it in
    every server process)."""
    home = tmp_path / "home"
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    env["PROVREG_HOME"] = str(home)
    subprocess.run(
        [sys.executable, "-c", "import registry.api.server, registry.api.app, registry.cli"],
        env=env,
        check=True,
        timeout=120,
    )
    assert not home.exists()


def test_each_server_process_builds_its_application_from_the_settings_it_is_given(tmp_path: Path) -> None:
    """What uvicorn's supervisor sends to a server process it spawns, and what that process builds:
    the command's settings, whatever the process's environment says."""
    config = ApiConfig(console=True, max_query_depth=7, ingest=IngestConfig(heartbeat_seconds=2.0))
    sent = pickle.loads(pickle.dumps(ServedApplication("postgresql://db.example/registry", tmp_path, config)))
    app = sent()
    assert app.state.config == config
    assert (app.state.database_url, app.state.home) == ("postgresql://db.example/registry", tmp_path)
