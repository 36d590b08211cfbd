"""Saves the joblib model of ``benchmarks/serving.py`` in MLflow's format.

Run with ``.bench/mlflow``'s python: ``python _serving_mlflow_model.py MODEL EXAMPLE OUT``.
``mlflow.sklearn.save_model`` writes the MLmodel folder that ``mlflow models serve`` reads,
with the signature inferred from the five example rows. Prints the MLflow version as JSON.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import joblib
import mlflow
import numpy as np

# MLflow 3 saves with skops, which asks that this type be trusted by name.
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def main(model_path: str, example_path: str, out: str) -> None:
    warnings.filterwarnings("ignore")
    model = joblib.load(model_path)
    example = np.asarray(json.loads(Path(example_path).read_text()))
    mlflow.sklearn.save_model(model, out, input_example=example, skops_trusted_types=TRUSTED)
    sys.stdout.write(json.dumps({"mlflow": mlflow.__version__}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
