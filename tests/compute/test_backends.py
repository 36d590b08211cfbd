"""The compute backends and the ``compute`` setting; Ray stays out of every other module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import modelyard
from modelyard.compute import LocalCompute, RayCompute, open_compute
from modelyard.config import load_settings
from modelyard.errors import ConfigError


def test_the_setting_names_a_backend(tmp_path: Path) -> None:
    assert load_settings(tmp_path).compute == "local"
    assert load_settings(tmp_path, compute="ray://head:10001").compute == "ray://head:10001"
    with pytest.raises(ConfigError, match="ray-local or ray://HOST:PORT"):
        load_settings(tmp_path, compute="spark")
    assert isinstance(open_compute("local", workers=2), LocalCompute)
    ray = open_compute("ray://head:10001")
    assert isinstance(ray, RayCompute) and ray.address == "ray://head:10001"
    assert open_compute("ray-local", workers=2).address is None  # type: ignore[attr-defined]
    with pytest.raises(ConfigError):
        open_compute("spark")


def test_local_compute_maps_in_order_over_processes() -> None:
    assert LocalCompute(2).map(abs, [-3, 1, -2]) == [3, 1, 2]
    assert LocalCompute(1).map(abs, [-1]) == [1]


def test_only_the_compute_package_imports_ray() -> None:
    root = Path(modelyard.__file__).parent
    importing = re.compile(r"^\s*(import ray|from ray)\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if importing.search(path.read_text()) and path.parent.name != "compute"
    ]
    assert offenders == []
