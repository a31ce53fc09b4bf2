"""The listening sockets of several API server processes: one of its own in each (SO_REUSEPORT).

uvicorn's supervisor binds one socket and every server process accepts from it. Whichever
process wakes first then takes every connection waiting: a client opening its keep-alive
connections at once has them all served by one process while the others idle (measured with
bench/api.py: six connections, six in one process). With a socket of its own in each process,
bound to the same address with SO_REUSEPORT, the kernel spreads new connections across the
processes. A process that stops takes its socket with it, so no connection waits on a socket
that nobody accepts from; its replacement opens a new one.
"""

from __future__ import annotations

import socket
from typing import Any


def reuse_port_supported(port: int) -> bool:
    """Whether each process can listen on a socket of its own (a fixed port, on a system that has
    SO_REUSEPORT); else they share one, as uvicorn binds it."""
    return port != 0 and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_address_free(host: str, port: int) -> None:
    """Raise OSError now if anything holds host:port, as uvicorn's own bind would. The processes
    bind later, each in itself; without this, a taken port would only make them die as they start,
    and their supervisor start them again, forever; and another server listening there with
    SO_REUSEPORT would silently share the port."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port that other processes may bind too (SO_REUSEPORT)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class OwnSocket:
    """Given to uvicorn's supervisor in place of a socket: it hands its sockets to each server
    process it starts, and this one arrives there as a socket bound in that process alone."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return listening_socket, (self.host, self.port)
