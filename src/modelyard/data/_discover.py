"""Finding the pipelines a workspace defines: every ``Pipeline`` object at module level in
the Python files of its pipelines folder (``[data] pipelines_dir``, default ``pipelines/``)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path

from modelyard.data._pipeline import Pipeline
from modelyard.errors import PipelineDefinitionError, PipelineNotFoundError

__all__ = ["discover", "find_pipeline"]


def discover(folder: Path) -> dict[str, Pipeline]:
    """Import every ``*.py`` in ``folder`` and collect its pipelines by name."""
    found: dict[str, Pipeline] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for pipeline in _load(path):
            if pipeline.name in found:
                raise PipelineDefinitionError(
                    f"pipeline {pipeline.name!r} is defined twice: in {found[pipeline.name].module}"
                    f" and in {path}"
                )
            found[pipeline.name] = pipeline
    return found


def find_pipeline(folder: Path, name: str) -> Pipeline:
    pipelines = discover(folder)
    if name not in pipelines:
        raise PipelineNotFoundError(name, sorted(pipelines))
    return pipelines[name]


def _load(path: Path) -> list[Pipeline]:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"modelyard_pipelines.{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f"{path}:{frames[-1].lineno}" if frames else str(path)
        if isinstance(exc, SyntaxError) and exc.lineno:
            where = f"{path}:{exc.lineno}"
        raise PipelineDefinitionError(
            f"cannot load pipelines from {where}: {type(exc).__name__}: {exc}"
        ) from exc
    pipelines = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    for pipeline in pipelines:
        pipeline.module = str(path.resolve())
    return pipelines
