"""A registered model version loaded into memory, ready to predict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.registry._signature import Signature, coerce_input
from modelyard.registry.flavors import Flavor

__all__ = ["LoadedModel"]


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class LoadedModel:
    """A native model, the flavor that runs it, and the registry facts that name it.

    ``predict`` first coerces the batch to the signature (when there is one), so callers
    may send any input form the signature understands: a DataFrame, a numpy array, a
    pyarrow Table, a dict of columns or a list of record dicts.

    Example:
        >>> import numpy as np
        >>> from sklearn.dummy import DummyRegressor
        >>> from modelyard.registry._signature import infer_signature
        >>> from modelyard.registry.flavors import flavor_for
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> model = DummyRegressor(strategy="constant", constant=7.0).fit(X, [0.0, 1.0])
        >>> loaded = LoadedModel(
        ...     flavor=flavor_for(model), native=model, signature=infer_signature(X),
        ...     uri="models:/demo/1", name="demo", version=1, digest="sha256:0",
        ... )
        >>> loaded.predict([[2, 3]])
        array([7.])
    """

    flavor: Flavor
    native: Any
    signature: Signature | None
    uri: str
    name: str
    version: int
    digest: str

    def predict(self, data: Any) -> np.ndarray:
        """The model's predictions for a batch, as a numpy array.

        Raises:
            ValidationError: ``data`` does not fit the signature (missing column, value
                that cannot be cast, wrong shape).
        """
        batch = data if self.signature is None else coerce_input(data, self.signature)
        return np.asarray(self.flavor.predict(self.native, batch))

    def __repr__(self) -> str:
        return (
            f"LoadedModel(uri={self.uri!r}, flavor={self.flavor.name!r}, "
            f"version={self.version}, digest={self.digest!r})"
        )
