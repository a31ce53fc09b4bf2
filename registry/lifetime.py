"""A child process that does not outlive its parent: `provreg serve`'s ingest worker and server
processes end when the command that started them ends, however it ends, kill -9 included."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """This process is killed when its parent ends: on Linux the kernel sends SIGKILL
    (prctl PR_SET_PDEATHSIG, which follows the parent's thread that started this process);
    elsewhere a thread watches the parent's pid."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # it ended before the request above: no signal will come
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:  # an orphan gets a new parent (init, or a subreaper)
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGKILL)
