"""A workspace with a training recipe (imported as ``automation.recipekit``): labelled
``events`` (``x1``, a user, a time, ``y``) and per-user ``user_stats`` (``risk``) joined
point-in-time by the feature store; ``y`` depends on ``x1 + risk``."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from modelyard import Workspace
from modelyard.features import Entity, FeatureView, Field

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STAMP = pa.timestamp("us", "UTC")
USERS = 50

RECIPE = '''
from sklearn.linear_model import LogisticRegression

from modelyard.automation import TrainingData, recipe


def has_two_inputs(ctx):
    return len(ctx.candidate.signature.inputs) == 2, "two inputs"


@recipe("demo", model="m", dataset="events", features=["user_stats:risk"], label="y",
        inputs=["x1", "risk"], checks=[has_two_inputs])
def demo(data: TrainingData):
    """Logistic regression over x1 and the user's risk."""
    data.run.log_param("C", 1.0)
    return LogisticRegression(C=1.0).fit(data.X, data.y)
'''


def events(rows: int, seed: int, *, signal: bool = True) -> pa.Table:
    """Labelled events over two days; without ``signal`` the labels are coin flips."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, USERS, rows)
    x1 = rng.normal(size=rows)
    risk = _risk()[users]
    y = (x1 + risk + 0.3 * rng.normal(size=rows) > 0) if signal else rng.random(rows) > 0.5
    hours = np.sort(rng.uniform(1, 48, rows))
    stamps = [BASE + dt.timedelta(hours=float(h)) for h in hours]
    return pa.table(
        {
            "user_id": pa.array(users, pa.int64()),
            "event_timestamp": pa.array(stamps, STAMP),
            "x1": x1,
            "y": pa.array(y.astype(np.int64)),
        }
    )


def _risk() -> np.ndarray:
    return np.random.default_rng(42).normal(size=USERS)


def prepare(ws: Workspace, *, rows: int = 600, signal: bool = True) -> None:
    """``user_stats`` with its feature view, ``events``, and ``recipes/demo.py``."""
    ws.datasets.write(
        "user_stats",
        pa.table(
            {
                "user_id": pa.array(np.arange(USERS), pa.int64()),
                "event_timestamp": pa.array([BASE] * USERS, STAMP),
                "risk": _risk(),
            }
        ),
    )
    user = Entity.of("user", {"user_id": "BIGINT"})
    view = FeatureView("user_stats", (user,), "user_stats", (Field("risk", "DOUBLE"),))
    ws.features.apply([user, view])
    ws.datasets.write("events", events(rows, 1, signal=signal))
    (ws.path / "recipes").mkdir(exist_ok=True)
    (ws.path / "recipes" / "demo.py").write_text(RECIPE)
