"""Several API server processes behind one port: the supervisor accepts each connection and deals
it to the processes in turn, passing the socket over a Unix socket pair (SCM_RIGHTS), as Node's
cluster module does.

Why not let the processes accept for themselves:
- from one shared socket (uvicorn's supervisor), whichever process wakes first takes every
  connection waiting, so a client opening its keep-alive pool at once is served by one process
  while the others idle (bench/api.py: six connections, six in one process);
- from a socket of their own each (SO_REUSEPORT), the kernel picks one by a random hash per
  connection: a client's six connections over two processes were split 4 and 2 or worse in about
  half the runs, and the busier process set the latency.
Dealt in turn, a client's connections are spread evenly whatever their number.

The supervisor starts accepting once every process it started is ready (its application started),
so the first clients do not all land on the process that started first; after that, while any
process is ready. A process that dies is replaced; one that ends before it was ever ready stops
the server, as its replacements would end the same way. SIGHUP replaces every process, each new
one taking over from an old one once it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import selectors
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from registry.logs import log_to_stderr

log = logging.getLogger("provreg.api")

# INT and TERM stop the server; HUP replaces its processes.
_HANDLED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
READY = b"r"  # a server process to the supervisor: its application started, it takes connections
HANDED = b"c"  # the supervisor to a server process: this message carries a connection


class HandedConnectionsServer(uvicorn.Server):
    """uvicorn's server, taking its connections from the supervisor instead of a listening socket."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        # Connections being set up: the loop keeps only weak references to its tasks.
        self.handing: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the application's lifespan; no socket to listen on
        loop = asyncio.get_running_loop()
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._take_connections)
        self.channel.send(READY)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self.channel.fileno())
        await super().shutdown(sockets)

    def _new_protocol(self) -> asyncio.Protocol:
        # As uvicorn's own server makes one for each connection it accepts.
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )

    def _take_connections(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                # One byte a message, each with its one socket: a read never spans two messages.
                message, descriptors, _, _ = socket.recv_fds(self.channel, 1, 1)
            except BlockingIOError:
                return
            except ConnectionError:
                message, descriptors = b"", []
            if not message:  # the supervisor is gone: nobody deals connections any more
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for descriptor in descriptors:
                task = loop.create_task(self._open_connection(socket.socket(fileno=descriptor)))
                self.handing.add(task)
                task.add_done_callback(self.handing.discard)

    async def _open_connection(self, connection: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                self._new_protocol, connection, ssl=self.config.ssl
            )
        except OSError:  # the client left while the connection was being handed over
            connection.close()


def _run_server_process(config: uvicorn.Config, channel: socket.socket) -> None:
    config.configure_logging()
    log_to_stderr()  # as the supervisor does: the access log and the API's own lines, not uvicorn's alone
    HandedConnectionsServer(config, channel).run()


@dataclass(eq=False)
class _ServerProcess:
    process: BaseProcess
    channel: socket.socket  # the supervisor's end of the socket pair
    ready: bool = False  # taking connections
    served: bool = False  # was ready once
    replaces: _ServerProcess | None = None  # the process it takes over from when ready (SIGHUP)


class ServerProcesses:
    """Runs `count` server processes of `config`'s application on `listener`, until SIGINT or
    SIGTERM; SIGHUP replaces them all (new code, new configuration), each new process taking over
    from an old one once it is ready, the old one then finishing its requests. Returns the exit
    status: 0, or uvicorn's startup failure status."""

    def __init__(self, config: uvicorn.Config, listener: socket.socket, count: int) -> None:
        self.config = config
        self.listener = listener
        self.count = count
        self.spawn = multiprocessing.get_context("spawn")
        self.selector = selectors.DefaultSelector()
        self.slots: list[_ServerProcess | None] = [None] * count
        self.retiring: list[_ServerProcess] = []  # replaced, finishing their requests
        self.turn = 0
        self.all_started = False  # every first process was ready once: accept from then on
        self.accepting = False
        self.stopping = False
        self.status = 0

    def run(self) -> int:
        self.listener.setblocking(False)
        wakeup, wakeup_write = socket.socketpair()
        wakeup.setblocking(False)
        wakeup_write.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wakeup_write.fileno())
        previous_handlers = {sig: signal.signal(sig, lambda *_: None) for sig in _HANDLED}
        self.selector.register(wakeup, selectors.EVENT_READ, lambda: self._signalled(wakeup))
        try:
            for slot in range(self.count):
                self._start(slot)
            while not self.stopping:
                events = self.selector.select(timeout=1.0)
                # A stop signal first: a server process exiting on the same signal is not replaced.
                events.sort(key=lambda event: event[0].fileobj is not wakeup)
                for key, _ in events:
                    if not self.stopping:
                        handle: Callable[[], None] = key.data
                        handle()
        finally:
            self._stop_all()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            wakeup.close()
            wakeup_write.close()
        return self.status

    def _signalled(self, wakeup: socket.socket) -> None:
        with contextlib.suppress(BlockingIOError):
            for number in wakeup.recv(64):
                if number == getattr(signal, "SIGHUP", None):
                    self._restart_all()
                else:
                    self._stop()

    def _restart_all(self) -> None:
        log.info("replacing the server processes")
        for slot, server in enumerate(self.slots):
            if server is not None and server.replaces is None:  # else one is on its way already
                self._start(slot, replaces=server)

    def _start(self, slot: int, replaces: _ServerProcess | None = None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = self.spawn.Process(
            target=_run_server_process, args=(self.config, theirs), name=f"provreg-api-{slot}"
        )
        process.start()
        theirs.close()  # pickled for the process (a duplicate): its end is now the process's alone
        ours.setblocking(False)
        server = _ServerProcess(process, ours, replaces=replaces)
        self.slots[slot] = server
        self.selector.register(ours, selectors.EVENT_READ, lambda: self._heard_from(server))
        self.selector.register(process.sentinel, selectors.EVENT_READ, lambda: self._ended(slot, server))
        log.info("server process [%s] started", process.pid)

    def _heard_from(self, server: _ServerProcess) -> None:
        if server.channel.fileno() == -1:  # ended earlier in this round of events
            return
        try:
            message = server.channel.recv(64)
        except BlockingIOError:
            return
        except ConnectionError:
            message = b""
        if not message:  # closed: the process is ending; its sentinel says when it has
            self.selector.unregister(server.channel)
            server.ready = False
            self._update_accepting()
            return
        if READY in message:
            server.ready = server.served = True
            if server.replaces is not None:
                log.info(
                    "server process [%s] takes over from [%s]",
                    server.process.pid,
                    server.replaces.process.pid,
                )
                self._retire(server.replaces)
                server.replaces = None
            self.all_started = self.all_started or all(s is not None and s.ready for s in self.slots)
            self._update_accepting()

    def _retire(self, server: _ServerProcess) -> None:
        """Take no more connections to it, and let it finish its requests and stop."""
        server.ready = False
        self.retiring.append(server)
        if server.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.process.pid, signal.SIGTERM)

    def _ended(self, slot: int, server: _ServerProcess) -> None:
        with contextlib.suppress(KeyError):
            self.selector.unregister(server.channel)
        self.selector.unregister(server.process.sentinel)
        server.channel.close()
        server.process.join()
        server.ready = False
        pid, status = server.process.pid, server.process.exitcode
        current = self.slots[slot]
        if server in self.retiring:
            self.retiring.remove(server)
            return
        if current is not server:  # an old process, ended before its replacement was ready
            if current is not None and current.replaces is server:
                current.replaces = None
            self._update_accepting()
            return
        if server.replaces is not None and not server.served:
            # A replacement that failed to start: the process it was to replace goes on serving.
            log.error(
                "new server process [%s] failed to start (exit code %s): keeping the old one", pid, status
            )
            self.slots[slot] = server.replaces
            return
        self.slots[slot] = None
        self._update_accepting()
        if not server.served:  # it would fail the same way again: no endless restarts
            log.error("server process [%s] failed to start (exit code %s): stopping", pid, status)
            self.status = STARTUP_FAILURE
            self._stop()
            return
        log.warning("server process [%s] ended (exit code %s): starting another", pid, status)
        self._start(slot)

    def _taker(self, slot: int) -> _ServerProcess | None:
        """The process of this slot that takes connections now: its own, or the one it replaces
        until it is ready itself."""
        server = self.slots[slot]
        if server is None:
            return None
        if server.ready:
            return server
        return server.replaces if server.replaces is not None and server.replaces.ready else None

    def _update_accepting(self) -> None:
        should = self.all_started and any(self._taker(slot) for slot in range(self.count))
        if should and not self.accepting:
            self.selector.register(self.listener, selectors.EVENT_READ, self._deal)
        elif self.accepting and not should:  # connections wait in the kernel's queue meanwhile
            self.selector.unregister(self.listener)
        self.accepting = should

    def _deal(self) -> None:
        for _ in range(64):  # then let the processes be heard from
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, ConnectionAbortedError):
                return
            with connection:
                self._hand(connection)

    def _hand(self, connection: socket.socket) -> None:
        for _ in range(self.count):
            slot, self.turn = self.turn, (self.turn + 1) % self.count
            server = self._taker(slot)
            if server is None:
                continue
            try:
                socket.send_fds(server.channel, [HANDED], [connection.fileno()])
                return
            except OSError:  # gone, or not reading: the next one takes it
                continue
        log.warning("no server process could take a connection: it is closed")

    def _stop(self) -> None:
        self.stopping = True

    def _stop_all(self) -> None:
        if self.accepting:
            self.selector.unregister(self.listener)
            self.accepting = False
        running = [s for s in self.slots if s is not None]
        running += [s.replaces for s in running if s.replaces is not None] + self.retiring
        for server in running:
            if server.process.is_alive() and server.process.pid is not None:
                os.kill(server.process.pid, signal.SIGTERM)
        for server in running:
            server.process.join(timeout=self.config.timeout_graceful_shutdown or 30)
            if server.process.is_alive():
                server.process.kill()
                server.process.join()
            server.channel.close()
        self.selector.close()


def listen(host: str, port: int) -> socket.socket:
    """The server's listening socket; OSError if host:port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)
