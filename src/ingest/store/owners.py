"""Owner ids of leases and slots, and whether their process is gone: ``label:host:pid@start:random``.

The id names the host (and PID namespace), the pid and the pid's start time, so a recycled pid is not
mistaken for the holder, nor a process of another container. Kept apart from the tables, so that
``ingest runs`` can tell a killed run without importing them.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import uuid

# label:host:pid@start:random[:suffix]; the label may itself contain ':'
_OWNER = re.compile(r":(?P<host>[^:]+):(?P<pid>\d+)@(?P<start>\d+):[0-9a-f]{12}(?::|$)")


@functools.cache
def _hostname() -> str:
    """This machine as owner ids name it: the host name plus the PID namespace (containers that share
    a host name, e.g. with host networking, still have PID namespaces of their own, and a pid is only
    meaningful inside its namespace)."""
    name = socket.gethostname()[:32].replace(":", "_")
    try:
        return f"{name}+{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:  # not Linux: the host name alone
        return name


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), None when there is no such
    process; 0 when it exists but /proc cannot tell (other systems)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        stat = b""
    if stat:
        # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return 0


@functools.cache
def _own_start_time(pid: int) -> int:
    """This process's start time, read once per pid (a forked child has a pid of its own)."""
    return _start_time(pid) or 0


def new_owner(label: str = "run") -> str:
    """A lease owner id that says who holds it: host, pid (with its start time) and a random part."""
    pid = os.getpid()
    return f"{label}:{_hostname()}:{pid}@{_own_start_time(pid)}:{uuid.uuid4().hex[:12]}"


def holder_is_dead(owner: str | None) -> bool:
    """True only when ``owner`` names a process on this machine that no longer runs. Owners from
    other machines, or in another format, are never judged dead: only their expiry frees them."""
    match = _OWNER.search(owner or "")
    if match is None or match["host"] != _hostname():
        return False
    pid, start = int(match["pid"]), int(match["start"])
    if pid == os.getpid():
        return False
    now = _start_time(pid)
    return now is None or (start != 0 and now != 0 and now != start)


