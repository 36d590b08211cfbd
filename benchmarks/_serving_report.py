"""The serving benchmark's verdict and tables.

Throughput counts 2xx answers only. A system whose requests mostly failed (non-2xx, socket
errors or timeouts above ``mostly_errors`` of all) is flagged and never the best peer; its
latencies are shown but mean little, since error answers are usually fast.
"""

from __future__ import annotations

from typing import Any

from _serving_peers import LABELS, SYSTEMS
from rich.table import Table


def usable(result: dict[str, Any] | None, mostly_errors: float) -> bool:
    """Measured, answered correctly, and not mostly errors."""
    if not result or "load" not in result or not result.get("verified"):
        return False
    return bool(result["load"]["error_share"] <= mostly_errors)


def best_peer(systems: dict[str, Any], peers: tuple[str, ...], mostly_errors: float) -> str | None:
    """The peer with the most 2xx answers per second."""
    candidates = [name for name in peers if usable(systems.get(name), mostly_errors)]
    return max(candidates, key=lambda n: systems[n]["load"]["ok_per_s"], default=None)


def goal(systems: dict[str, Any], rate: float, p99: float, mostly_errors: float) -> dict[str, Any]:
    """Whether modelyard did ``rate`` times the best peer's req/s with a p99 below ``p99``
    times the peer's; ``line`` says it in words."""
    from _serving_peers import PEERS

    wanted = f"modelyard ≥{rate:g}x the best peer's req/s with p99 < 1/{1 / p99:g} of its p99"
    best = best_peer(systems, PEERS, mostly_errors)
    ours = systems.get("modelyard")
    if best is None or not usable(ours, mostly_errors):
        missing = "no usable peer" if best is None else "no usable modelyard result"
        return {
            "passed": None,
            "best_peer": best,
            "line": f"Goal ({wanted}): not judged, {missing}.",
        }
    theirs, mine = systems[best]["load"], ours["load"]  # type: ignore[index]
    rate_ratio = mine["ok_per_s"] / theirs["ok_per_s"]
    p99_ratio = mine["p99_ms"] / theirs["p99_ms"]
    passed = rate_ratio >= rate and p99_ratio < p99
    line = (
        f"Goal ({wanted}): best peer {LABELS[best]} {theirs['ok_per_s']:,.0f} req/s, "
        f"p99 {theirs['p99_ms']:,.1f} ms; modelyard {mine['ok_per_s']:,.0f} req/s = "
        f"{rate_ratio:,.3f}x {_mark(rate_ratio >= rate)}, p99 {mine['p99_ms']:,.1f} ms = "
        f"{p99_ratio:,.3f}x {_mark(p99_ratio < p99)} -> {_mark(passed)}"
    )
    return {
        "passed": passed,
        "best_peer": best,
        "req_per_s_ratio": rate_ratio,
        "p99_ratio": p99_ratio,
        "line": line,
    }


def _mark(ok: bool) -> str:
    return "[green]pass[/]" if ok else "[red]FAIL[/]"


def report_table(report: dict[str, Any], peers: tuple[str, ...], mostly_errors: float) -> Table:
    systems = report["systems"]
    best = best_peer(systems, peers, mostly_errors)
    out = Table(title="Prediction serving, one row per request, wrk -t2 -c32 (127.0.0.1)")
    headers = ("system", "req/s", "p50 ms", "p99 ms", "non-2xx", "req/s vs best", "p99 vs best")
    for header in headers:
        out.add_column(header, justify="left" if header == "system" else "right")
    reference = systems[best]["load"] if best else None
    for name in SYSTEMS:
        if name in systems:
            out.add_row(*_server_row(systems[name], reference, best == name, mostly_errors))
    out.add_section()
    limits = report["model"]["in_process"]
    size = limits["batch"]["batch_size"]
    out.add_row(*_limit_row("model in-process, 1 row per call", limits["single_row"]))
    out.add_row(*_limit_row(f"model in-process, {size} rows per call", limits["batch"]))
    return out


def _server_row(
    result: dict[str, Any], reference: dict[str, Any] | None, is_best: bool, mostly_errors: float
) -> list[str]:
    label = LABELS[result["system"]] + (" [bold](best peer)[/]" if is_best else "")
    if "load" not in result:
        return [label, "[red]failed[/]", "-", "-", "-", "-", "-"]
    load = result["load"]
    rate = f"{load['ok_per_s']:,.0f}"
    if load["error_share"] > mostly_errors:
        rate = f"[red]{rate} (mostly errors)[/]"
    errors = f"{load['non_2xx']:,}"
    if load["socket_errors"]:
        errors += f" (+{load['socket_errors']:,} socket)"
    if load["error_share"] > 0.01:
        errors = f"[yellow]{errors} ({load['error_share']:.0%})[/]"
    ratios = ["-", "-"]
    if reference is not None and load["error_share"] <= mostly_errors:
        ratios = [
            f"{load['ok_per_s'] / reference['ok_per_s']:,.2f}x",
            f"{load['p99_ms'] / reference['p99_ms']:,.2f}x",
        ]
    return [label, rate, f"{load['p50_ms']:,.1f}", f"{load['p99_ms']:,.1f}", errors, *ratios]


def _limit_row(label: str, limit: dict[str, Any]) -> list[str]:
    return [
        f"{label} (rows/s)",
        f"{limit['rows_per_s']:,.0f}",
        f"{limit['p50_ms']:,.2f}",
        f"{limit['p99_ms']:,.2f}",
        "-",
        "-",
        "-",
    ]


def settings_table(report: dict[str, Any]) -> Table:
    """What each system ran: its version, settings, and what went wrong if anything did."""
    out = Table(title="Systems", show_lines=False)
    for header in ("system", "version", "settings", "ready s", "CPU: server/wrk/other", "problem"):
        out.add_column(header)
    for name in SYSTEMS:
        result = report["systems"].get(name)
        if result is None:
            continue
        ready = f"{result['ready_s']:.1f}" if "ready_s" in result else "-"
        cpu = result.get("cpu")
        cores = "-"
        if cpu:
            cores = f"{cpu['server_cores']:.2f} / {cpu['wrk_cores']:.2f} / {cpu['other_cores']:.2f}"
        out.add_row(
            LABELS[name],
            str(result.get("version", "?")),
            str(result.get("settings", "")),
            ready,
            cores,
            f"[red]{result['error']}[/]" if "error" in result else "",
        )
    return out


def busy_warnings(systems: dict[str, Any], limit: float) -> list[str]:
    """A line for each system whose load shared the machine with other work (or a hypervisor
    that stole its cores): its numbers are lower than the machine can do."""
    lines = []
    for name, result in systems.items():
        cpu = result.get("cpu")
        if cpu and (cpu["other_cores"] > limit or cpu["steal_cores"] > limit):
            lines.append(
                f"{LABELS[name]}: other processes used {cpu['other_cores']:.2f} cores and the "
                f"hypervisor stole {cpu['steal_cores']:.2f} during its load; rerun when quiet."
            )
    return lines
