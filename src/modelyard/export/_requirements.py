"""What an image must install to serve a deployment: modelyard and, pinned to the versions
installed here, the libraries its models were saved with (a pickled scikit-learn model
loads reliably only under the version that pickled it)."""

from __future__ import annotations

from importlib import metadata

import modelyard

__all__ = ["requirements"]

# The modules each flavor needs at load time.
_FLAVOR_MODULES: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn",),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "onnx": ("onnxruntime",),
    "pyfunc": ("cloudpickle",),
}
_EXTRAS = "postgres,redis,s3"


def requirements(flavors: set[str], *, wheel: str | None = None) -> list[str]:
    """Lines of a ``requirements.txt``: modelyard (from ``wheel`` when given, a file name
    under ``wheels/``) and each flavor's library pinned to its installed version."""
    first = (
        f"modelyard[{_EXTRAS}] @ file:///tmp/wheels/{wheel}"
        if wheel
        else f"modelyard[{_EXTRAS}]=={modelyard.__version__}"
    )
    pins = {_pin(module) for flavor in flavors for module in _FLAVOR_MODULES.get(flavor, ())}
    return [first, *sorted(pin for pin in pins if pin)]


def _pin(module: str) -> str | None:
    """``dist==version`` of the installed distribution that provides ``module``."""
    dists = metadata.packages_distributions().get(module, [])
    for dist in sorted(dists):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return None
