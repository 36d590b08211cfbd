"""The pyfunc flavor: any Python callable, or any object with a ``predict`` method.

The object is stored with cloudpickle. Functions and classes that live in an importable
module are pickled *by reference*, so loading needs that module on the path; those
defined in ``__main__`` (a notebook, a script) are pickled by value.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from modelyard.registry.flavors._common import class_path, unsupported

MODEL_FILE = "model.pkl"


def _has_predict(model: object) -> bool:
    return callable(getattr(model, "predict", None))


class PyfuncFlavor:
    """The fallback flavor: ``obj.predict(data)`` if it has one, else ``fn(data)``."""

    name: ClassVar[str] = "pyfunc"

    def matches(self, model: object) -> bool:
        """Whether ``model`` has a ``predict`` method or is callable."""
        return _has_predict(model) or callable(model)

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        """Cloudpickle the object; the info records how it is called and the Python version."""
        import cloudpickle

        if not self.matches(model):
            raise unsupported(self.name, model)
        with (folder / MODEL_FILE).open("wb") as handle:
            cloudpickle.dump(model, handle)
        return {
            "library": "cloudpickle",
            "version": cloudpickle.__version__,
            "python": platform.python_version(),
            "model_class": class_path(model),
            "call": "predict" if _has_predict(model) else "call",
            "files": [MODEL_FILE],
        }

    def load(self, folder: Path, info: Mapping[str, Any]) -> object:
        """The unpickled function or object."""
        import cloudpickle

        with (folder / info["files"][0]).open("rb") as handle:
            return cloudpickle.load(handle)

    def predict(self, model: object, data: Any) -> Any:
        """``model.predict(data)`` when there is one, else ``model(data)``."""
        predict = getattr(model, "predict", None)
        if callable(predict):
            return predict(data)
        if callable(model):
            return model(data)
        raise unsupported(self.name, model)
