"""A server's processes, read from Linux ``/proc``: the whole tree under its first process.

A process group is not enough: BentoML's worker runs in a session of its own, so it is
found by parent links instead. A process is named by its pid and start time, so a pid that
the kernel reuses later is never taken for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    """The fields of ``/proc/<pid>/stat`` the benchmark uses."""

    pid: int
    ppid: int
    state: str
    cpu_s: float  # user + system time so far
    started: int  # clock ticks after boot

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def read(pid: int) -> Stat | None:
    """The process's stat, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    return Stat(pid, int(fields[1]), fields[0], cpu, int(fields[19]))


def everything() -> list[Stat]:
    stats = (read(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [stat for stat in stats if stat is not None]


def tree(root: int) -> dict[int, int]:
    """The live processes under ``root`` (itself included), as pid -> start time."""
    stats = everything()
    children: dict[int, list[Stat]] = {}
    for stat in stats:
        children.setdefault(stat.ppid, []).append(stat)
    found: dict[int, int] = {}
    todo = [stat for stat in stats if stat.pid == root]
    while todo:
        stat = todo.pop()
        if stat.alive and stat.pid not in found:
            found[stat.pid] = stat.started
            todo.extend(children.get(stat.pid, []))
    return found


def still_running(known: dict[int, int]) -> dict[int, int]:
    """Those of ``known`` that still run (same pid, same start time, not a zombie)."""
    running = {}
    for pid, started in known.items():
        stat = read(pid)
        if stat is not None and stat.alive and stat.started == started:
            running[pid] = started
    return running


def cpu_seconds(known: dict[int, int]) -> float:
    """CPU seconds used so far by those of ``known`` that still exist."""
    total = 0.0
    for pid, started in known.items():
        stat = read(pid)
        if stat is not None and stat.started == started:
            total += stat.cpu_s
    return total
