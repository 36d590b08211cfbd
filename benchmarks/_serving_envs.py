"""The virtualenvs of the serving benchmark's peers, and the wrk load generator.

Each peer gets its own virtualenv under ``.bench/`` (made with uv when missing), with its
major version pinned and scikit-learn and NumPy pinned to the dev virtualenv's versions, so
that the joblib file the benchmark writes loads everywhere. Install logs go to
``.bench/<name>-install.log``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
DEV_PYTHON = ROOT / ".venv" / "bin" / "python"
QUIET_ENV = {
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_LOGGING_LEVEL": "ERROR",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "true",
    "PYTHONWARNINGS": "ignore",
}


class SetupError(RuntimeError):
    """A peer's virtualenv or the load generator could not be made ready."""


@dataclass(frozen=True)
class Venv:
    """A peer's virtualenv: ``.bench/<name>``, with ``requirement`` (a pinned major version)
    and ``module``, the import that proves it is there."""

    name: str
    requirement: str
    module: str

    @property
    def path(self) -> Path:
        return BENCH / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.path / "bin"


MLFLOW = Venv("mlflow", "mlflow>=3,<4", "mlflow")  # shared with benchmarks/tracking.py
BENTOML = Venv("bentoml", "bentoml>=1.4,<1.5", "bentoml")
LITSERVE = Venv("litserve", "litserve>=0.2,<0.3", "litserve")


def version_of(python: Path | str, module: str) -> str | None:
    """``module.__version__`` as ``python`` imports it, or None when it does not import."""
    code = f"import {module}; print({module}.__version__)"
    done = subprocess.run(
        [str(python), "-c", code], env={**os.environ, **QUIET_ENV}, capture_output=True, text=True
    )
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 else None


def ensure(venv: Venv, pins: dict[str, str]) -> dict[str, str]:
    """Make ``venv`` ready (create it, install into it) and return the versions it has.

    ``pins`` maps a distribution to the exact version every peer must have (scikit-learn and
    NumPy, so the pickled model loads).
    """
    if not _satisfied(venv, pins):
        _install(venv, pins)
    versions = {venv.module: version_of(venv.python, venv.module) or "?"}
    versions.update({dist: version_of(venv.python, _module(dist)) or "?" for dist in pins})
    if version_of(venv.python, "torch") is not None:
        versions["torch"] = version_of(venv.python, "torch") or "?"
    return versions


def _module(dist: str) -> str:
    return {"scikit-learn": "sklearn"}.get(dist, dist)


def _satisfied(venv: Venv, pins: dict[str, str]) -> bool:
    if not venv.python.exists() or version_of(venv.python, venv.module) is None:
        return False
    return all(version_of(venv.python, _module(d)) == v for d, v in pins.items())


def _install(venv: Venv, pins: dict[str, str]) -> None:
    BENCH.mkdir(exist_ok=True)
    uv = DEV_PYTHON.parent / "uv"
    uv_path = str(uv) if uv.exists() else shutil.which("uv")
    if uv_path is None:
        raise SetupError("uv is needed to make the peers' virtualenvs (pip install uv)")
    wanted = [venv.requirement, *(f"{dist}=={version}" for dist, version in pins.items())]
    python = str(DEV_PYTHON) if DEV_PYTHON.exists() else sys.executable
    steps = [
        [uv_path, "venv", "--allow-existing", "--python", python, str(venv.path)],
        [uv_path, "pip", "install", "--python", str(venv.python), *wanted],
    ]
    log_path = BENCH / f"{venv.name}-install.log"
    with log_path.open("w") as log:
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                raise SetupError(f"installing {venv.name} failed; see {log_path}")


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian's packages when missing and allowed (root)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise SetupError("wrk is not installed: run `sudo apt-get install -y wrk` (Debian/Ubuntu)")
    log_path = BENCH / "wrk-install.log"
    BENCH.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        for step in ([apt, "update"], [apt, "install", "-y", "wrk"]):
            subprocess.run(step, stdout=log, stderr=subprocess.STDOUT, check=False)
    found = shutil.which("wrk")
    if found is None:
        raise SetupError(f"apt-get could not install wrk; see {log_path}")
    return found
