"""The load generator of the serving benchmark: wrk with a Lua script that POSTs one row.

The script's ``done`` hook prints the summary as one JSON line (marked ``WRK_JSON``), so the
numbers are read exactly rather than scraped from wrk's rounded text. Latencies are in
microseconds; ``non_2xx`` is what wrk prints as "Non-2xx or 3xx responses" (status >= 400).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "WRK_JSON "
SCRIPT = """\
wrk.method = "POST"
wrk.body = [=[{body}]=]
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx": %d, '
    .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
    .. '"mean_us": %.1f, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Load:
    """How wrk is run: ``threads`` threads, ``connections`` open connections, for ``seconds``;
    a request without an answer after ``timeout_s`` is counted as a timeout."""

    seconds: float
    threads: int = 2
    connections: int = 32
    timeout_s: int = 10

    def argv(self, wrk: str, script: Path, url: str) -> list[str]:
        return [
            wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{self.seconds:g}s",
            f"--timeout={self.timeout_s}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]


def write_script(path: Path, body: str) -> Path:
    """The Lua script that POSTs ``body`` (JSON text) on every request."""
    if "]=]" in body:
        raise ValueError("the body cannot hold ']=]' (it ends the Lua long string)")
    path.write_text(SCRIPT.format(body=body, marker=MARKER))
    return path


def run(wrk: str, load: Load, script: Path, url: str) -> dict[str, Any]:
    """Run wrk once against ``url`` (always a 127.0.0.1 address) and return its summary."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only loads servers on 127.0.0.1, not {url}")
    done = subprocess.run(
        load.argv(wrk, script, url),
        capture_output=True,
        text=True,
        timeout=load.seconds + load.timeout_s + 30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return {**summarize(parse(done.stdout)), "text": done.stdout}


def parse(stdout: str) -> dict[str, Any]:
    """The JSON line the script's ``done`` hook printed."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            return dict(json.loads(line[len(MARKER) :]))
    raise ValueError(f"no {MARKER.strip()} line in wrk's output:\n{stdout}")


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Rates and milliseconds from wrk's raw counts; ``ok_per_s`` counts 2xx answers only."""
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    ok = max(raw["requests"] - raw["non_2xx"], 0)
    attempts = raw["requests"] + raw["timeouts"]
    return {
        "raw": raw,
        "seconds": seconds,
        "requests": raw["requests"],
        "ok": ok,
        "non_2xx": raw["non_2xx"],
        "socket_errors": errors,
        "error_share": (attempts - ok) / attempts if attempts else 1.0,
        "per_s": raw["requests"] / seconds,
        "ok_per_s": ok / seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
    }
