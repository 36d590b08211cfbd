"""Where the machine's CPU went while one server was under load (Linux ``/proc``).

On a 2-core machine, anything else running (a test suite, another benchmark) takes cores
from the server and from wrk alike and can halve a result. :func:`watch` splits the busy CPU
time of the load into the server's process group, wrk (a waited-for child of this process),
this process, and the rest ("other"); hypervisor steal is counted apart. The server is its
first process and every process under it (see ``_serving_procs``).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _serving_procs as procs

TICKS = os.sysconf("SC_CLK_TCK")


def machine_seconds() -> tuple[float, float]:
    """Busy and stolen CPU seconds of the whole machine since boot, all cores together."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq) / TICKS, steal / TICKS


def _own_and_children() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _server_cpu(root: int) -> dict[int, float]:
    return {pid: stat.cpu_s for pid in procs.tree(root) if (stat := procs.read(pid))}


@contextlib.contextmanager
def watch(root: int) -> Iterator[dict[str, Any]]:
    """Fills the yielded dict, when the block ends, with the cores each part used on average;
    the server is ``root`` and every process under it."""
    start = time.monotonic()
    busy0, steal0 = machine_seconds()
    server0 = _server_cpu(root)
    own0, children0 = _own_and_children()
    usage: dict[str, Any] = {}
    yield usage
    wall = time.monotonic() - start
    busy1, steal1 = machine_seconds()
    server = sum(cpu - server0.get(pid, 0.0) for pid, cpu in _server_cpu(root).items())
    own1, children1 = _own_and_children()
    load = children1 - children0  # wrk, the only child waited for in the block
    other = busy1 - busy0 - server - load - (own1 - own0)
    usage.update(
        seconds=wall,
        server_cores=server / wall,
        wrk_cores=load / wall,
        other_cores=max(other, 0.0) / wall,
        steal_cores=(steal1 - steal0) / wall,
    )


def idle_check(seconds: float = 1.0) -> float:
    """Cores the rest of the machine keeps busy now (sampled over ``seconds``)."""
    busy0, _ = machine_seconds()
    own0, children0 = _own_and_children()
    time.sleep(seconds)
    busy1, _ = machine_seconds()
    own1, children1 = _own_and_children()
    return max(busy1 - busy0 - (own1 - own0) - (children1 - children0), 0.0) / seconds
