"""The log lines of the API's processes: to standard error, from INFO up, one format for all of them."""

from __future__ import annotations

import logging


def log_to_stderr() -> None:
    """Set up this process's logging (each server process, spawned afresh, sets up its own)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
