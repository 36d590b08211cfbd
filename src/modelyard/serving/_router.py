"""Weighted choice among a deployment's traffic targets, random or sticky.

Without a sticky value each request draws a uniform number; with one, the number is a
stable hash of the value (blake2b), so the same key lands on the same target for as long as
the weights are unchanged, in every process and after restarts. Either way the number is
placed against the cumulative weights, so a target gets its share of requests.

Example:
    >>> router = Router([("champion", 90.0), ("challenger", 10.0)])
    >>> router.choose(sticky="user-42") == router.choose(sticky="user-42")
    True
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Collection, Sequence
from itertools import accumulate

from modelyard.errors import ValidationError

__all__ = ["Router", "sticky_fraction"]

_SCALE = float(2**64)


def sticky_fraction(key: str) -> float:
    """A number in [0, 1) that depends only on ``key``."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=b"modelyard-rt").digest()
    return int.from_bytes(digest, "big") / _SCALE


class Router:
    """Chooses one target per request, in proportion to ``routes``' weights."""

    def __init__(self, routes: Sequence[tuple[str, float]]) -> None:
        if not routes:
            raise ValidationError("a deployment needs at least one traffic target")
        if any(weight <= 0 for _, weight in routes):
            raise ValidationError("traffic weights must be greater than 0")
        self.targets: tuple[str, ...] = tuple(target for target, _ in routes)
        self.weights: tuple[float, ...] = tuple(float(weight) for _, weight in routes)
        total = sum(self.weights)
        self._bounds = [bound / total for bound in accumulate(self.weights)]
        self._bounds[-1] = 1.0
        self._primary = self.targets[self.weights.index(max(self.weights))]

    @property
    def primary(self) -> str:
        """The target with the largest weight (the first of equals)."""
        return self._primary

    def choose(self, sticky: str | None = None) -> str:
        """One target: a stable function of ``sticky`` when given, else random."""
        if len(self.targets) == 1:
            return self.targets[0]
        point = random.random() if sticky is None else sticky_fraction(sticky)
        return self.targets[min(bisect.bisect_right(self._bounds, point), len(self.targets) - 1)]

    def choose_among(self, available: Collection[str], sticky: str | None = None) -> str | None:
        """Like :meth:`choose`, but only among ``available`` targets (re-weighted); None if
        none of the targets is available. Used while a target has no version serving."""
        chosen = self.choose(sticky)
        if chosen in available:
            return chosen
        routes = [(t, w) for t, w in zip(self.targets, self.weights, strict=True) if t in available]
        return Router(routes).choose(sticky) if routes else None
