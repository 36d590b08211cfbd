"""Deployments declared in a TOML file, one ``[deployments.NAME]`` table each.

```toml
[deployments.fraud]
model = "fraud"
traffic = "champion=0.9,challenger=0.1"   # or [{target = "champion", weight = 0.9}, ...]
shadow = ["v3"]
sticky = "header:x-user-id"
feature_service = "fraud_v1"              # requests give entity keys; features are read

[deployments.fraud.batching]
max_batch_size = 128
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from modelyard.deployments._spec import DeploymentSpec
from modelyard.errors import ValidationError

__all__ = ["read_deployments_file"]


def read_deployments_file(path: Path) -> list[DeploymentSpec]:
    """Every spec in ``path``, all validated: one error lists every problem in the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(
            f"cannot read deployments file {path}: {exc.strerror or exc}",
            details={"file": str(path)},
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(
            f"deployments file {path} is not valid TOML: {exc}", details={"file": str(path)}
        ) from None
    tables = data.get("deployments")
    other = sorted(set(data) - {"deployments"})
    if not isinstance(tables, dict) or other:
        raise ValidationError(
            f"deployments file {path} must hold only [deployments.NAME] tables"
            + (f" (found {', '.join(other)})" if other else ""),
            details={"file": str(path)},
        )
    specs: list[DeploymentSpec] = []
    problems: list[dict[str, Any]] = []
    for name, table in tables.items():
        try:
            specs.append(_spec(name, table))
        except ValidationError as exc:
            for problem in exc.details.get("errors", [{"field": "", "message": exc.message}]):
                field = ".".join(p for p in ("deployments", name, problem["field"]) if p)
                problems.append({"field": field, "message": problem["message"]})
    if problems:
        text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise ValidationError(
            f"invalid deployments file {path}: {text}",
            details={"file": str(path), "errors": problems},
        )
    return specs


def _spec(name: str, table: Any) -> DeploymentSpec:
    if not isinstance(table, dict):
        raise _problem("", "must be a table")
    if "name" in table:
        raise _problem("name", "leave it out: the name is the table's key")
    return DeploymentSpec(name=name, **table)


def _problem(field: str, message: str) -> ValidationError:
    return ValidationError(message, details={"errors": [{"field": field, "message": message}]})
