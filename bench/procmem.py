"""Resident memory of a process tree, read from /proc (Linux): the benches' peak-RSS figures.

psutil is not a dependency of the project; this is the one place the benches read /proc.
"""

from __future__ import annotations

import os


def tree_rss(root: int, *, children: bool = True, skip: frozenset[int] = frozenset()) -> int:
    """RSS in bytes of ``root`` plus (``children``) all its descendants, leaving out the ``skip`` pids
    and their descendants (a shared server that is not the measured command's)."""
    kids: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            kids.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * page
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in skip:
            continue
        total += rss.get(pid, 0)
        if children:
            todo += kids.get(pid, [])
    return total


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            kids.setdefault(int(stat[stat.rindex(b")") + 2:].split()[1]), []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def tree_pss(root: int) -> int:
    """Proportional set size in bytes of ``root`` and its descendants: each shared page counted once,
    split between the processes that map it. Summed RSS counts a page shared by the forkserver and its
    two extractor processes (the modules preloaded before the fork) three times; the PSS sum is what
    the tree takes from the machine."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return total
