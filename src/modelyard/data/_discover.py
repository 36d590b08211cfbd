"""Finding the pipelines a workspace defines: every ``Pipeline`` object at module level in
the Python files of its pipelines folder (``[data] pipelines_dir``, default ``pipelines/``)."""

from __future__ import annotations

from pathlib import Path

from modelyard._modules import load_folder
from modelyard.data._pipeline import Pipeline
from modelyard.errors import PipelineDefinitionError, PipelineNotFoundError

__all__ = ["discover", "find_pipeline"]


def discover(folder: Path) -> dict[str, Pipeline]:
    """Import every ``*.py`` in ``folder`` and collect its pipelines by name."""
    found: dict[str, Pipeline] = {}
    for path, module in load_folder(folder, "modelyard_pipelines", PipelineDefinitionError):
        for pipeline in (v for v in vars(module).values() if isinstance(v, Pipeline)):
            pipeline.module = str(path.resolve())
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
