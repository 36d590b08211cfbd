"""Every package's public surface is an ``__all__`` whose names all resolve."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "modelyard",
    "modelyard.errors",
    "modelyard.config",
    "modelyard.store",
    "modelyard.tracking",
    "modelyard.registry",
    "modelyard.registry.flavors",
    "modelyard.deployments",
    "modelyard.access",
    "modelyard.data",
    "modelyard.data.checks",
    "modelyard.features",
    "modelyard.jobs",
    "modelyard.monitoring",
    "modelyard.dashboard",
    "modelyard.serving",
    "modelyard.quickstart",
    "modelyard.cli",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_resolve_once(name: str) -> None:
    """Order is checked by ruff (RUF022); here every exported name must exist."""
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr}"


def test_top_level_api() -> None:
    import modelyard

    assert callable(modelyard.start_run)
    assert callable(modelyard.load_model)
    assert modelyard.errors.ModelyardError.__name__ == "ModelyardError"
    with pytest.raises(AttributeError):
        _ = modelyard.nothing_here  # type: ignore[attr-defined]


def test_every_error_derives_from_the_root_and_has_a_code() -> None:
    from modelyard import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ModelyardError)
        assert cls.code
