"""Model flavors: how each kind of model is saved, loaded and asked for predictions.

A flavor is one tiny class per library implementing :class:`Flavor`. :func:`flavor_for`
picks one for a model object (the first that matches, in :data:`FLAVOR_NAMES` order);
:func:`get_flavor` finds one by the name stored next to a saved model.

ML libraries are imported only when a flavor actually needs them, so a missing xgboost
never breaks ``import modelyard``, and detection never imports a library the caller has
not already imported.

Example:
    >>> from sklearn.linear_model import LinearRegression
    >>> flavor_for(LinearRegression()).name
    'sklearn'
    >>> get_flavor("pyfunc").name
    'pyfunc'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from modelyard.errors import FlavorError
from modelyard.registry.flavors._lightgbm import LightGBMFlavor
from modelyard.registry.flavors._onnx import OnnxFlavor
from modelyard.registry.flavors._pyfunc import PyfuncFlavor
from modelyard.registry.flavors._sklearn import SklearnFlavor
from modelyard.registry.flavors._xgboost import XGBoostFlavor

__all__ = ["FLAVOR_NAMES", "Flavor", "flavor_for", "get_flavor"]


class Flavor(Protocol):
    """Saves, loads and predicts with one family of models."""

    name: ClassVar[str]
    """``"sklearn"``, ``"xgboost"``, ``"lightgbm"``, ``"onnx"`` or ``"pyfunc"``."""

    def matches(self, model: object) -> bool:
        """Whether this flavor handles ``model``; cheap, and imports nothing new."""
        ...

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        """Write ``model`` into the existing, empty ``folder``.

        Returns:
            JSON-able flavor info: library and version, model class, the file names
            written, and anything else :meth:`load` needs.
        """
        ...

    def load(self, folder: Path, info: Mapping[str, Any]) -> object:
        """The native model back from ``folder``, given the info :meth:`save` returned."""
        ...

    def predict(self, model: object, data: Any) -> Any:
        """The model's predictions for a batch already coerced to its input form."""
        ...


# Detection order: the gradient-boosting wrappers are sklearn estimators too, and nearly
# everything has a ``predict`` or is callable, so the specific flavors come first.
_FLAVORS: tuple[Flavor, ...] = (
    XGBoostFlavor(),
    LightGBMFlavor(),
    OnnxFlavor(),
    SklearnFlavor(),
    PyfuncFlavor(),
)
_SUPPORTED = (
    "xgboost (XGBModel wrappers, Booster), lightgbm (LGBMModel wrappers, Booster), "
    "onnx (onnx.ModelProto), sklearn (any BaseEstimator, pipelines included), "
    "pyfunc (a callable, or an object with a predict method)"
)

FLAVOR_NAMES: tuple[str, ...] = tuple(flavor.name for flavor in _FLAVORS)
"""Every flavor name, in detection order."""


def flavor_for(model: object) -> Flavor:
    """The flavor that handles ``model``.

    Raises:
        FlavorError: no flavor handles an object of this type.
    """
    for flavor in _FLAVORS:
        if flavor.matches(model):
            return flavor
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    raise FlavorError(
        f"no flavor can save a model of type {kind}; supported flavors: {_SUPPORTED}",
        details={"model_class": kind, "flavors": list(FLAVOR_NAMES)},
    )


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name`` (as stored in a model version's metadata).

    Raises:
        FlavorError: ``name`` is not a known flavor.
    """
    for flavor in _FLAVORS:
        if flavor.name == name:
            return flavor
    raise FlavorError(
        f"unknown flavor {name!r}; known flavors: {', '.join(FLAVOR_NAMES)}",
        details={"flavor": name, "flavors": list(FLAVOR_NAMES)},
    )
