"""Registers the model of ``benchmarks/serving.py`` in a fresh modelyard workspace.

Run with the dev virtualenv's python: ``python _serving_modelyard_setup.py MODEL EXAMPLE DIR``.
Creates the workspace in ``DIR``, registers the joblib model as ``bench`` with the five
example rows as its input example (so its signature is a 20-column float tensor), and points
the alias ``champion`` at it. The deployment itself is created with the CLI, as a user would.
Prints the version and modelyard's version as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import numpy as np

import modelyard
from modelyard._workspace import init_workspace


def main(model_path: str, example_path: str, folder: str) -> None:
    model = joblib.load(model_path)
    example = np.asarray(json.loads(Path(example_path).read_text()))
    workspace, _ = init_workspace(folder)
    with workspace:
        version = workspace.registry.register("bench", model, input_example=example)
        workspace.registry.set_alias("bench", "champion", version.version)
    result = {"modelyard": modelyard.__version__, "version": version.version}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
