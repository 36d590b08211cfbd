"""The scikit-learn flavor: an estimator stored with :func:`joblib.dump` (compression off,
so equal models give equal bytes)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from modelyard.registry.flavors._common import (
    call_predict,
    class_path,
    dump_joblib,
    from_package,
    load_joblib,
)


class SklearnFlavor:
    """Any :class:`sklearn.base.BaseEstimator`, pipelines included, stored with joblib."""

    name: ClassVar[str] = "sklearn"

    def matches(self, model: object) -> bool:
        """Whether ``model`` is a scikit-learn estimator."""
        if not from_package(model, "sklearn"):
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        """Dump the estimator; the info names its class and the scikit-learn version."""
        import sklearn

        return {
            "library": "scikit-learn",
            "version": sklearn.__version__,
            "model_class": class_path(model),
            "files": [dump_joblib(model, folder)],
        }

    def load(self, folder: Path, info: Mapping[str, Any]) -> object:
        """The fitted estimator back."""
        return load_joblib(folder, info)

    def predict(self, model: object, data: Any) -> Any:
        """``model.predict(data)``."""
        return call_predict(model, data)
