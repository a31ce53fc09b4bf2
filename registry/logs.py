"""The log lines of provreg's processes, one format for all of them, from INFO up: text to standard
error for a person at a terminal, or, with PROVREG_LOG_FORMAT=json (a service), one JSON object a
line to standard output: time, level, logger, message and the id of the request being served.

What is logged never holds personal data: the access line has the route template, not the path's
values nor a query string; errors are logged by type (docs/api.md, *Audit*).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]

# The id of the request this task serves (registry/api/app.py sets it), for every line it logs.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def log_format_from_env() -> LogFormat:
    """PROVREG_LOG_FORMAT: text (the default) or json."""
    chosen = os.environ.get("PROVREG_LOG_FORMAT", "text")
    if chosen not in ("text", "json"):
        raise ValueError(f"PROVREG_LOG_FORMAT must be text or json, not {chosen!r}")
    return chosen  # type: ignore[return-value]


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if (request_id := REQUEST_ID.get()) is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def set_up_logging(log_format: LogFormat = "text") -> None:
    """Set up this process's logging (each server and worker process, spawned afresh, sets up its own)."""
    if log_format == "json":
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonLines())
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
        # uvicorn's own loggers write through their handlers: through this one instead.
        for name in ("uvicorn", "uvicorn.error"):
            logging.getLogger(name).handlers = []
            logging.getLogger(name).propagate = True
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
