"""The LightGBM flavor: sklearn wrappers through joblib, raw Boosters as model text.

The LightGBM docs say the sklearn wrappers (``LGBMClassifier``, ``LGBMRegressor``, ...)
pickle, so they share the scikit-learn flavor's joblib file. A raw ``lightgbm.Booster``
is stored in LightGBM's own text format (``model_to_string``), which needs no pickle.
"""

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
    unsupported,
)

TEXT_FILE = "model.txt"


class LightGBMFlavor:
    """``lightgbm.LGBMModel`` subclasses and raw ``lightgbm.Booster`` objects."""

    name: ClassVar[str] = "lightgbm"

    def matches(self, model: object) -> bool:
        """Whether ``model`` is a LightGBM sklearn wrapper or Booster."""
        if not from_package(model, "lightgbm"):
            return False
        import lightgbm

        return isinstance(model, (lightgbm.LGBMModel, lightgbm.Booster))

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        """Write ``model.txt`` for a Booster, ``model.joblib`` for a wrapper."""
        import lightgbm

        booster = isinstance(model, lightgbm.Booster)
        if isinstance(model, lightgbm.Booster):
            (folder / TEXT_FILE).write_bytes(model.model_to_string().encode("utf-8"))
            files = [TEXT_FILE]
        elif isinstance(model, lightgbm.LGBMModel):
            files = [dump_joblib(model, folder)]
        else:
            raise unsupported(self.name, model)
        return {
            "library": "lightgbm",
            "version": lightgbm.__version__,
            "model_class": class_path(model),
            "booster": booster,
            "files": files,
        }

    def load(self, folder: Path, info: Mapping[str, Any]) -> object:
        """The Booster rebuilt from its text, or the unpickled wrapper."""
        if not info.get("booster"):
            return load_joblib(folder, info)
        import lightgbm

        text = (folder / info["files"][0]).read_bytes().decode("utf-8")
        return lightgbm.Booster(model_str=text)

    def predict(self, model: object, data: Any) -> Any:
        """``model.predict(data)`` (a Booster takes the raw batch too)."""
        return call_predict(model, data)
