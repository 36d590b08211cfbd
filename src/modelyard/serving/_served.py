"""One loaded model version of one deployment, with its batcher and its users counted.

A request takes a :class:`ServedVersion` when it is routed (:meth:`acquire`) and gives it
back when its outputs are computed (:meth:`release`). When a hot reload replaces the
version, :meth:`retire` waits until the last request that took it is done, then closes the
batcher: requests finish on the version they were routed to and report that version.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd

from modelyard.registry import LoadedModel, Signature
from modelyard.serving._batcher import Batcher, BatchLimits, PredictFn
from modelyard.serving._executor import PredictExecutor
from modelyard.serving._observer import ServingObserver
from modelyard.serving._types import InputBatch

__all__ = ["ServedVersion", "model_predict_fn"]


def model_predict_fn(model: LoadedModel) -> PredictFn:
    """A batcher's predict function for ``model``: one DataFrame (or array) per batch,
    coerced once to the signature by :meth:`LoadedModel.predict`."""

    def predict(batch: InputBatch) -> np.ndarray:
        if batch.tensor is not None:
            return model.predict(batch.tensor)
        return model.predict(pd.DataFrame(dict(batch.columns or {}), copy=False))

    return predict


class ServedVersion:
    """A :class:`LoadedModel` ready to serve: its batcher and a count of its users."""

    def __init__(
        self,
        model: LoadedModel,
        executor: PredictExecutor,
        limits: BatchLimits,
        *,
        deployment: str,
        observer: ServingObserver | None = None,
    ) -> None:
        self.model = model
        self.batcher = Batcher(
            model_predict_fn(model),
            executor,
            limits,
            deployment=deployment,
            version=model.version,
            observer=observer,
        )
        self.users = 0
        self.retired = False
        self._drained = asyncio.Event()

    @property
    def version(self) -> int:
        return self.model.version

    @property
    def digest(self) -> str:
        return self.model.digest

    @property
    def signature(self) -> Signature | None:
        return self.model.signature

    def acquire(self) -> ServedVersion:
        self.users += 1
        return self

    def release(self) -> None:
        self.users -= 1
        if self.users == 0 and self.retired:
            self._drained.set()

    async def retire(self) -> None:
        """Stop taking new users' work once the current users are done; close the batcher."""
        self.retired = True
        if self.users > 0:
            await self._drained.wait()
        await self.batcher.close()

    def __repr__(self) -> str:
        return f"ServedVersion({self.model.uri!r}, users={self.users}, retired={self.retired})"
