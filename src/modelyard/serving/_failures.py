"""Failed requests counted per deployment, target, error code and minute.

The runtime counts here (on the event loop, no I/O); the server's refresh loop drains the
counts into the metadata database (:meth:`Monitoring.record_errors`), where monitoring
reads error rates and alert rules on ``error_rate`` find them.
"""

from __future__ import annotations

from modelyard._ids import now_ms

__all__ = ["FailureCounts"]

Key = tuple[str, str, str, int]  # deployment, target, code, minute (ms of its start)


class FailureCounts:
    """Counts of failed requests since the last :meth:`drain`."""

    def __init__(self) -> None:
        self._counts: dict[Key, int] = {}

    def add(self, deployment: str, target: str, code: str) -> None:
        minute = now_ms() // 60_000 * 60_000
        key = (deployment, target, code, minute)
        self._counts[key] = self._counts.get(key, 0) + 1

    def drain(self) -> dict[Key, int]:
        """The counts so far; counting starts again from zero."""
        counts, self._counts = self._counts, {}
        return counts

    def restore(self, counts: dict[Key, int]) -> None:
        """Put back counts that could not be written (the database was down)."""
        for key, count in counts.items():
            self._counts[key] = self._counts.get(key, 0) + count
