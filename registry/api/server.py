"""The ASGI application that `provreg serve` runs (uvicorn imports it in every server process)."""

from __future__ import annotations

from registry.api.app import create_app
from registry.config import Settings
from registry.db.engine import database_url

_settings = Settings.from_env()
app = create_app(database_url(_settings), _settings.home)
