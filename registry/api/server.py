"""Serving the API with uvicorn: one server process, or several under uvicorn's own supervisor
(its `workers=N`: the processes accept from one listening socket; a dead one is replaced, SIGHUP
replaces them all one by one, SIGTERM stops them gracefully). A deployment on several hosts puts a
load balancer in front of them.

Each server process builds its application from the settings the command read once and passed
on (`ServedApplication`, which uvicorn's supervisor pickles to the processes it spawns), not from
the environment. uvicorn.run takes only an import string for several processes; this module runs
the same two steps it would (bind the socket, start the supervisor) with the application factory
itself. Importing this module starts nothing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.api.config import ApiConfig
from registry.lifetime import die_with_parent
from registry.logs import LogFormat, set_up_logging

# How long uvicorn's supervisor waits for a server process to answer it, and for a new one (after
# SIGHUP) to be ready before the old one is stopped; a process that starts takes a few seconds.
HEALTHCHECK_SECONDS = 30


@dataclass(frozen=True)
class ServedApplication:
    """The application factory uvicorn calls in each server process."""

    database_url: str
    home: Path
    config: ApiConfig
    log_format: LogFormat = "text"
    # The process serving: server processes it starts end with it, kill -9 included.
    supervisor_pid: int = field(default_factory=os.getpid)

    def __call__(self) -> Any:
        from registry.api.app import create_app

        if os.getpid() != self.supervisor_pid:
            die_with_parent(self.supervisor_pid)
        set_up_logging(self.log_format)  # a spawned process starts with uvicorn's logging only
        return create_app(self.database_url, self.home, self.config)


def _exit(*_: object) -> None:
    raise SystemExit(0)


def serve(application: Callable[[], Any], host: str, port: int, processes: int) -> int:
    """Serve `application` (a factory of the ASGI application, called in each server process)
    until SIGTERM or SIGINT. Returns the exit status: 0, or uvicorn's startup failure (3) when a
    server process could not start (its replacements would fail alike). A port already in use is
    a startup failure too (uvicorn exits with 3)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        application,
        factory=True,
        host=host,
        port=port,
        workers=processes,
        access_log=False,  # uvicorn's line has the query string; ours (provreg.access) does not
        log_level="info",
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
    )
    if processes == 1:
        # uvicorn ends its graceful shutdown by raising SIGTERM again, with the handler it found in
        # place: by default that kills this process at once, and what the caller started beside
        # the server (the ingest worker) would go on alone. This handler ends it as an exit instead.
        signal.signal(signal.SIGTERM, _exit)
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    # The supervisor stops when a process fails to start, and keeps it in its list.
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return STARTUP_FAILURE if failed else 0
