"""Whether the process that holds a lease is still alive: the reaper's rule, with the standard
library only, so `status` can apply the same rule without importing the database layer."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (a dead child nobody reaped yet
    still answers ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # /proc/PID/stat: "pid (comm) STATE ..."; comm may hold spaces and parentheses.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(pid, 0)
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def owner_is_dead_here(owner: str | None) -> bool:
    """True when the lease owner ("host:pid") ran on this host and its process is gone."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))
