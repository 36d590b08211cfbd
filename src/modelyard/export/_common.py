"""What both exports share: the deployment they are for, its flavors, names, file writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from modelyard._workspace import Workspace
from modelyard.errors import ConfigError, ValidationError

__all__ = ["ExportTarget", "resolve_target", "write_files"]

_SLUG = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True, slots=True)
class ExportTarget:
    """The deployment an export is for: its name, model, and the flavors of that model's
    versions (whose libraries the image needs)."""

    deployment: str
    model: str
    revision: int
    flavors: frozenset[str]

    @property
    def slug(self) -> str:
        """The deployment's name as a Kubernetes resource name (RFC 1123 label)."""
        slug = _SLUG.sub("-", self.deployment.lower()).strip("-")
        return f"modelyard-{slug}"[:63].rstrip("-")


def resolve_target(workspace: Workspace, deployment: str) -> ExportTarget:
    """The deployment named ``deployment`` (DeploymentNotFoundError if there is none)."""
    found = workspace.deployments.get(deployment)
    spec = found.spec
    flavors = frozenset(v.flavor for v in workspace.registry.versions(spec.model))
    return ExportTarget(spec.name, spec.model, found.revision, flavors)


def write_files(out: Path, files: dict[str, str]) -> list[Path]:
    """Write ``files`` (relative path -> text) under ``out``; a non-empty ``out`` that was
    not written by an export is refused, so nothing of the user's is overwritten."""
    out = out.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {out} is a file, not a folder")
    known = {name.split("/")[0] for name in files}
    stray = sorted(p.name for p in out.iterdir() if p.name not in known) if out.exists() else []
    if stray:
        raise ValidationError(
            f"--out {out} holds files an export did not write ({', '.join(stray[:5])}); "
            "give an empty or new folder"
        )
    written = []
    try:
        for name, text in files.items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"cannot write the export to {out}: {exc}") from None
    return written
