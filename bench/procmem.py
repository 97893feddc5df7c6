"""Resident memory of a process tree, read from /proc (Linux): the benches' peak-RSS figures.

psutil is not a dependency of the project; this is the one place the benches read /proc.
"""

from __future__ import annotations

import os


def _processes() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Every process's children and RSS in bytes, from one pass over /proc."""
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
    return kids, rss


def tree_pids(root: int, *, children: bool = True, skip: frozenset[int] = frozenset()) -> list[int]:
    """``root`` and (``children``) all its descendants, leaving out the ``skip`` pids and theirs."""
    kids, _ = _processes()
    return _walk(kids, root, children, skip)


def _walk(kids: dict[int, list[int]], root: int, children: bool, skip: frozenset[int]) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in skip:
            continue
        out.append(pid)
        if children:
            todo += kids.get(pid, [])
    return out


def tree_rss(root: int, *, children: bool = True, skip: frozenset[int] = frozenset()) -> int:
    """RSS in bytes of ``root`` plus (``children``) all its descendants, leaving out the ``skip`` pids
    and their descendants (a shared server that is not the measured command's)."""
    kids, rss = _processes()
    return sum(rss.get(pid, 0) for pid in _walk(kids, root, children, skip))


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
