"""``modelyard export docker``: a build context that serves a workspace's deployments.

The context holds a ``Dockerfile`` (a slim Python image pinned by exact version or digest,
a non-root user, a health check on ``/health/live``, ``modelyard serve`` as the command),
a ``requirements.txt`` pinning the model libraries, and ``workspace/`` with the
workspace's settings (store URLs left out: they come from ``MODELYARD_*`` variables) and
its feature definitions.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from modelyard._workspace import Workspace
from modelyard.errors import ValidationError
from modelyard.export._common import resolve_target, write_files
from modelyard.export._requirements import requirements
from modelyard.export._settings import (
    CONTAINER_PORT,
    CONTAINER_WORKSPACE,
    container_settings,
    to_toml,
)

__all__ = ["DockerOptions", "default_base_image", "export_docker"]

UID = 10001
# A pinned image: a digest, or a tag with a full X.Y.Z version (never `latest` or `3.11`).
_PINNED = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64}|:[\w.-]*\d+\.\d+\.\d+[\w.-]*)$")


def default_base_image() -> str:
    """The slim official image of the Python running here, by its exact version."""
    v = sys.version_info
    return f"python:{v.major}.{v.minor}.{v.micro}-slim-bookworm"


@dataclass(frozen=True, slots=True)
class DockerOptions:
    """How the image is built.

    Attributes:
        base_image: a pinned image (``python:3.11.7-slim-bookworm`` or ``name@sha256:...``).
        wheel: a modelyard wheel to install instead of the released version.
    """

    base_image: str = ""
    wheel: Path | None = None

    def checked(self) -> DockerOptions:
        image = self.base_image or default_base_image()
        if not _PINNED.match(image):
            raise ValidationError(
                f"base image {image!r} is not pinned: give an exact version tag "
                "(python:3.11.7-slim-bookworm) or a digest (python@sha256:...)"
            )
        if self.wheel is not None and not (
            self.wheel.is_file() and self.wheel.name.endswith(".whl")
        ):
            raise ValidationError(f"--wheel {self.wheel} is not a wheel file")
        return DockerOptions(image, self.wheel)


def export_docker(
    workspace: Workspace, deployment: str, out: Path, options: DockerOptions | None = None
) -> list[Path]:
    """Write the build context for ``deployment`` into ``out``; returns the files written.

    Example:
        >>> export_docker(ws, "fraud", Path("build/fraud"))
        >>> # docker build -t fraud:1 build/fraud
    """
    options = (options or DockerOptions()).checked()
    target = resolve_target(workspace, deployment)
    wheel = options.wheel.name if options.wheel else None
    settings = workspace.settings
    files = {
        "Dockerfile": dockerfile(options.base_image, target.deployment),
        ".dockerignore": "**/.modelyard\n**/__pycache__\n",
        "requirements.txt": "\n".join(requirements(set(target.flavors), wheel=wheel)) + "\n",
        "workspace/modelyard.toml": to_toml(container_settings(settings)),
        "wheels/.keep": "",  # COPY needs the folder even without a wheel
    }
    definitions = settings.workspace / settings.features.definitions_dir
    if definitions.is_dir():
        for path in sorted(definitions.rglob("*.py")):
            relative = path.relative_to(settings.workspace).as_posix()
            files[f"workspace/{relative}"] = path.read_text()
    written = write_files(out, files)
    if options.wheel is not None:
        folder = out.expanduser().resolve() / "wheels"
        written.append(Path(shutil.copy2(options.wheel, folder / options.wheel.name)))
    return written


def dockerfile(base_image: str, deployment: str) -> str:
    """The Dockerfile text (see the module docstring)."""
    probe = (
        "import sys, urllib.request; "
        f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}/health/live', "
        "timeout=2).status != 200)"
    )
    return f"""\
# syntax=docker/dockerfile:1
# modelyard prediction server for deployment {deployment!r} (modelyard export docker).
# Store URLs are not in the image: pass MODELYARD_METADATA_URL, MODELYARD_ARTIFACTS_URL
# (and MODELYARD_SERVING__CACHE_URL, MODELYARD_FEATURES__ONLINE_URL) at run time.
FROM {base_image}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    OMP_NUM_THREADS=1 \\
    MODELYARD_WORKSPACE={CONTAINER_WORKSPACE}

RUN groupadd --system --gid {UID} modelyard \\
 && useradd --system --uid {UID} --gid {UID} --home-dir {CONTAINER_WORKSPACE} \\
    --no-create-home --shell /usr/sbin/nologin modelyard

COPY requirements.txt /tmp/requirements.txt
COPY wheels/ /tmp/wheels/
RUN pip install --no-cache-dir -r /tmp/requirements.txt \\
 && rm -rf /tmp/requirements.txt /tmp/wheels

WORKDIR {CONTAINER_WORKSPACE}
COPY --chown={UID}:{UID} workspace/ {CONTAINER_WORKSPACE}/
RUN mkdir -p {CONTAINER_WORKSPACE}/.modelyard && chown {UID}:{UID} {CONTAINER_WORKSPACE}/.modelyard

USER {UID}:{UID}
EXPOSE {CONTAINER_PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
    CMD ["python", "-c", "{probe}"]
CMD ["modelyard", "serve", "--host", "0.0.0.0", "--port", "{CONTAINER_PORT}"]
"""
