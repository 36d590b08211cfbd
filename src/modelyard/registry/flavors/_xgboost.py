"""The XGBoost flavor: the library's own UBJSON format, for sklearn wrappers and Boosters.

The native format (not a pickle) survives XGBoost upgrades. The sklearn wrappers
(``XGBClassifier``, ``XGBRegressor``, ``XGBRanker``, ...) keep their fitted attributes
inside that file, so loading re-creates the recorded class and calls ``load_model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from modelyard.registry.flavors._common import (
    class_path,
    from_package,
    import_class,
    unsupported,
)

MODEL_FILE = "model.ubj"


class XGBoostFlavor:
    """``xgboost.XGBModel`` subclasses and raw ``xgboost.Booster`` objects."""

    name: ClassVar[str] = "xgboost"

    def matches(self, model: object) -> bool:
        """Whether ``model`` is an XGBoost sklearn wrapper or Booster."""
        if not from_package(model, "xgboost"):
            return False
        import xgboost

        return isinstance(model, (xgboost.XGBModel, xgboost.Booster))

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        """``model.save_model`` into ``model.ubj``; the info records the class to re-create."""
        import xgboost

        if not isinstance(model, (xgboost.XGBModel, xgboost.Booster)):
            raise unsupported(self.name, model)
        model.save_model(folder / MODEL_FILE)
        return {
            "library": "xgboost",
            "version": xgboost.__version__,
            "model_class": class_path(model),
            "booster": isinstance(model, xgboost.Booster),
            "files": [MODEL_FILE],
        }

    def load(self, folder: Path, info: Mapping[str, Any]) -> object:
        """A fresh instance of the recorded class with the saved model loaded into it."""
        import xgboost

        path = folder / info["files"][0]
        if info.get("booster"):
            return xgboost.Booster(model_file=path)
        model = import_class(info["model_class"])()
        model.load_model(path)
        return model

    def predict(self, model: object, data: Any) -> Any:
        """``model.predict``; a raw Booster gets the batch wrapped in a ``DMatrix``."""
        import xgboost

        if isinstance(model, xgboost.Booster):
            return model.predict(xgboost.DMatrix(data))
        if isinstance(model, xgboost.XGBModel):
            return model.predict(data)
        raise unsupported(self.name, model)
