"""Helpers the flavors share: package detection, class paths, joblib files, errors."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.errors import FlavorError

JOBLIB_FILE = "model.joblib"


def from_package(model: object, package: str) -> bool:
    """Whether any class in ``model``'s MRO comes from ``package``, without importing it.

    A library that is not in :data:`sys.modules` cannot have made ``model``, so this
    never triggers an import and costs a few attribute reads.
    """
    if package not in sys.modules:
        return False
    return any(cls.__module__.partition(".")[0] == package for cls in type(model).__mro__)


def class_path(obj: object) -> str:
    """The importable dotted path of ``obj``'s class, e.g. ``sklearn.pipeline.Pipeline``."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def import_class(path: str) -> type[Any]:
    """The class named by a dotted path written by :func:`class_path`.

    Raises:
        FlavorError: the module or class cannot be found in this environment.
    """
    module_name, _, qualname = path.rpartition(".")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise FlavorError(
            f"cannot import model class {path!r}: {exc}", details={"model_class": path}
        ) from exc
    if not isinstance(found, type):
        raise FlavorError(f"{path!r} is not a class", details={"model_class": path})
    return found


def dump_joblib(model: object, folder: Path) -> str:
    """Write ``model`` uncompressed into ``folder``; return the file name."""
    import joblib

    joblib.dump(model, folder / JOBLIB_FILE, compress=0)
    return JOBLIB_FILE


def load_joblib(folder: Path, info: Mapping[str, Any]) -> object:
    """Read back the object :func:`dump_joblib` wrote."""
    import joblib

    return joblib.load(folder / info["files"][0])


def unsupported(flavor: str, model: object) -> FlavorError:
    """The error for a model handed to a flavor that does not handle its type."""
    return FlavorError(
        f"the {flavor} flavor cannot handle a {class_path(model)}",
        details={"flavor": flavor, "model_class": class_path(model)},
    )


def call_predict(model: object, data: Any) -> Any:
    """``model.predict(data)``, or a FlavorError when the model has no ``predict``."""
    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise FlavorError(
            f"{class_path(model)} has no predict method",
            details={"model_class": class_path(model)},
        )
    return predict(data)
