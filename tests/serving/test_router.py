"""Weighted and sticky routing among a deployment's traffic targets."""

from __future__ import annotations

from collections import Counter

import pytest

from modelyard.errors import ValidationError
from modelyard.serving._router import Router, sticky_fraction


def test_random_choice_follows_the_weights() -> None:
    router = Router([("champion", 9.0), ("challenger", 1.0)])
    counts = Counter(router.choose() for _ in range(20_000))
    assert set(counts) == {"champion", "challenger"}
    assert counts["challenger"] / 20_000 == pytest.approx(0.1, abs=0.015)


def test_a_sticky_key_always_gets_the_same_target() -> None:
    router = Router([("champion", 1.0), ("challenger", 1.0), ("v3", 1.0)])
    for key in (f"user-{i}" for i in range(200)):
        first = router.choose(sticky=key)
        assert all(router.choose(sticky=key) == first for _ in range(5))
        assert Router([("champion", 1.0), ("challenger", 1.0), ("v3", 1.0)]).choose(key) == first


def test_sticky_keys_spread_by_weight() -> None:
    router = Router([("champion", 3.0), ("challenger", 1.0)])
    counts = Counter(router.choose(sticky=f"user-{i}") for i in range(20_000))
    assert counts["challenger"] / 20_000 == pytest.approx(0.25, abs=0.015)


def test_sticky_assignment_is_pinned_across_processes_and_releases() -> None:
    """Replicas and restarts must agree (Python's own str hash is salted per process), and
    a change of the hash would move every user: these values are fixed forever."""
    assert sticky_fraction("k-1") == 0.5955974946973378
    router = Router([("champion", 1.0), ("challenger", 1.0)])
    assigned = [router.choose(f"user-{i}") for i in range(6)]
    assert assigned == [
        "champion",
        "champion",
        "challenger",
        "champion",
        "challenger",
        "challenger",
    ]


def test_a_single_target_takes_everything() -> None:
    router = Router([("champion", 0.5)])
    assert {router.choose(), router.choose(sticky="x")} == {"champion"}
    assert router.primary == "champion"


def test_primary_is_the_heaviest_route() -> None:
    assert Router([("a", 1.0), ("b", 5.0), ("c", 5.0)]).primary == "b"


def test_choose_among_skips_targets_without_a_version() -> None:
    router = Router([("champion", 1.0), ("challenger", 1.0)])
    assert {router.choose_among({"challenger"}) for _ in range(50)} == {"challenger"}
    assert router.choose_among(set()) is None


@pytest.mark.parametrize("routes", [[], [("a", 0.0)], [("a", 1.0), ("b", -1.0)]])
def test_bad_routes_are_refused(routes: list[tuple[str, float]]) -> None:
    with pytest.raises(ValidationError):
        Router(routes)
