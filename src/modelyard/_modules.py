"""Importing the Python modules a workspace defines things in (pipelines, features)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from modelyard.errors import ValidationError

__all__ = ["load_folder", "load_module"]


def load_module(path: Path, namespace: str, error: type[ValidationError]) -> ModuleType:
    """Import the file at ``path`` as a fresh module; a failure raises ``error`` naming the
    file and line."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"{namespace}.{path.stem}_{digest}"
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
        raise error(f"cannot load {where}: {type(exc).__name__}: {exc}") from exc
    return module


def load_folder(
    folder: Path, namespace: str, error: type[ValidationError]
) -> list[tuple[Path, ModuleType]]:
    """Every ``*.py`` of ``folder`` not starting with ``_``, imported in name order."""
    if not folder.is_dir():
        return []
    paths = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    return [(path, load_module(path, namespace, error)) for path in paths]
