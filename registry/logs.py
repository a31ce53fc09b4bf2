"""The log lines of the API's processes: to standard error, from INFO up, one format for all of them."""

from __future__ import annotations

import logging


def log_to_stderr() -> None:
    """Set up this process's logging (each server process, spawned afresh, sets up its own)."""
    # What no line shows is not worked out for every record, as the logging HOWTO's "Optimization"
    # section describes: the access log writes a line per request.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # the caller's file and line, found by walking the stack
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
