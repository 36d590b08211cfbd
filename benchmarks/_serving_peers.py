"""The systems of the serving benchmark: how each is prepared and started.

Every server gets the same request, ``{"inputs": [[...20 floats...]]}`` (MLflow's tensor
form, which the modelyard deployment also takes on its MLflow route, and which the BentoML
and LitServe services here read), runs with ``OMP_NUM_THREADS=1`` and listens on 127.0.0.1.
A ``prepare_*`` function does the one-off work (save the model in MLflow's format, register
it in a modelyard workspace) and returns the :class:`ServerSpec` to start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _serving_envs import BENCH, BENTOML, DEV_PYTHON, LITSERVE, MLFLOW, QUIET_ENV, ensure
from _serving_servers import HOST, ServerSpec

HERE = Path(__file__).resolve().parent
PEERS = ("mlflow", "bentoml", "litserve")
SYSTEMS = ("echo", *PEERS, "modelyard")
LABELS = {
    "echo": "echo (ceiling)",
    "mlflow": "MLflow",
    "bentoml": "BentoML",
    "litserve": "LitServe",
    "modelyard": "modelyard",
}


@dataclass(frozen=True)
class Options:
    """Per-peer settings the command line can change."""

    bentoml_max_latency_ms: int | None = None  # None: BentoML's default (60,000)
    litserve_batch_timeout: float = 0.005
    litserve_fast_queue: bool = False
    modelyard_max_wait_ms: float = 0.0
    modelyard_workers: int = 1


@dataclass(frozen=True)
class Context:
    """What every ``prepare_*`` needs: the model files, a scratch folder, the pins."""

    model: Path
    example: Path
    work: Path
    pins: dict[str, str]
    options: Options

    def env(self, venv_bin: Path | None = None, **extra: str) -> dict[str, str]:
        base = {**QUIET_ENV, "OMP_NUM_THREADS": "1", "BENCH_MODEL": str(self.model), **extra}
        if venv_bin is not None:  # MLflow starts `uvicorn` by name: its own must come first
            base["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
            base["VIRTUAL_ENV"] = str(venv_bin.parent)
        return base


Prepared = tuple[ServerSpec, dict[str, Any]]


def _json_of(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(argv[1]).name} failed: {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _dev_python() -> str:
    return str(DEV_PYTHON) if DEV_PYTHON.exists() else sys.executable


def prepare_echo(ctx: Context, port: int) -> Prepared:
    import uvicorn

    argv = [_dev_python(), "-m", "uvicorn", "_serving_echo:app", "--app-dir", str(HERE)]
    argv += ["--host", HOST, "--port", str(port), "--http", "httptools", "--loop", "uvloop"]
    argv += ["--lifespan", "off", "--no-access-log", "--log-level", "warning"]
    spec = ServerSpec("echo", argv, "/", port, ctx.env(), ready_timeout_s=30)
    return spec, {"version": f"uvicorn {uvicorn.__version__}", "settings": "1 process"}


def prepare_mlflow(ctx: Context, port: int) -> Prepared:
    versions = ensure(MLFLOW, ctx.pins)
    folder = ctx.work / "mlflow-model"
    script = str(HERE / "_serving_mlflow_model.py")
    _json_of([str(MLFLOW.python), script, str(ctx.model), str(ctx.example), str(folder)], QUIET_ENV)
    argv = [str(MLFLOW.bin / "mlflow"), "models", "serve", "-m", str(folder)]
    argv += ["--env-manager", "local", "-h", HOST, "-p", str(port)]
    spec = ServerSpec("mlflow", argv, "/invocations", port, ctx.env(MLFLOW.bin))
    settings = "1 uvicorn worker (default), skops model, --env-manager local"
    return spec, {"version": versions["mlflow"], "versions": versions, "settings": settings}


def prepare_bentoml(ctx: Context, port: int) -> Prepared:
    versions = ensure(BENTOML, ctx.pins)
    extra = {"BENTOML_HOME": str(BENCH / "bentoml-home")}
    latency = ctx.options.bentoml_max_latency_ms
    if latency is not None:
        extra["BENCH_MAX_LATENCY_MS"] = str(latency)
    argv = [str(BENTOML.bin / "bentoml"), "serve", "_serving_bentoml_service:Bench"]
    argv += ["--working-dir", str(HERE), "--host", HOST, "-p", str(port)]
    spec = ServerSpec("bentoml", argv, "/predict", port, ctx.env(BENTOML.bin, **extra), HERE)
    shown = f"{latency} ms" if latency is not None else "default (60,000 ms)"
    settings = f"workers=1, batchable, max_batch_size=64, max_latency_ms {shown}"
    return spec, {"version": versions["bentoml"], "versions": versions, "settings": settings}


def prepare_litserve(ctx: Context, port: int) -> Prepared:
    versions = ensure(LITSERVE, ctx.pins)
    options = ctx.options
    extra = {"BENCH_BATCH_TIMEOUT": str(options.litserve_batch_timeout)}
    if options.litserve_fast_queue:
        extra["BENCH_FAST_QUEUE"] = "1"
    argv = [str(LITSERVE.python), str(HERE / "_serving_litserve_app.py"), str(port)]
    spec = ServerSpec("litserve", argv, "/predict", port, ctx.env(LITSERVE.bin, **extra), HERE)
    queue = "ZeroMQ fast_queue" if options.litserve_fast_queue else "default queue"
    settings = (
        f"1 CPU worker, 1 API server, max_batch_size=64, "
        f"batch_timeout={options.litserve_batch_timeout:g}s, {queue}"
    )
    return spec, {"version": versions["litserve"], "versions": versions, "settings": settings}


def prepare_modelyard(ctx: Context, port: int) -> Prepared:
    """A fresh workspace with ``bench`` registered (alias champion), a deployment made with
    ``modelyard deployments create``, served by ``modelyard serve`` with one worker."""
    workspace = ctx.work / "modelyard"
    env = ctx.env()
    script = str(HERE / "_serving_modelyard_setup.py")
    setup = _json_of([_dev_python(), script, str(ctx.model), str(ctx.example), str(workspace)], env)
    wait = f"{ctx.options.modelyard_max_wait_ms:g}"
    create = [*_cli(workspace), "deployments", "create", "bench", "--model", "bench"]
    create += ["--max-batch-size", "64", "--max-wait-ms", wait, "--no-cache"]
    done = subprocess.run(create, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"modelyard deployments create failed: {done.stderr.strip()[-2000:]}")
    argv, how = _serve_argv(workspace, port, env, ctx.options.modelyard_workers)
    path = "/deployments/bench/invocations"
    spec = ServerSpec("modelyard", argv, path, port, env, ready_timeout_s=120, notes=how)
    workers = ctx.options.modelyard_workers
    settings = f"{workers} worker(s), max_batch_size=64, max_wait_ms={wait}, cache off; {how}"
    return spec, {"version": setup["modelyard"], "settings": settings, "launched_by": how}


def _cli(workspace: Path) -> list[str]:
    cli = Path(_dev_python()).parent / "modelyard"
    return [str(cli), "-w", str(workspace)]


def _serve_argv(
    workspace: Path, port: int, env: dict[str, str], workers: int = 1
) -> tuple[list[str], str]:
    """``modelyard serve`` when the CLI has it, else the same server through
    ``modelyard.serving.serve`` (the command was still being written)."""
    cli = _cli(workspace)
    done = subprocess.run(
        [*cli, "serve", "--help"], env={**os.environ, **env}, capture_output=True, text=True
    )
    if done.returncode == 0:
        argv = [*cli, "serve", "--port", str(port)]
        argv += ["--host", HOST] if "--host" in done.stdout else []
        argv += ["--workers", str(workers)] if "--workers" in done.stdout else []
        return argv, "modelyard serve"
    code = (
        "from modelyard.serving import serve; "
        f"serve({str(workspace)!r}, host={HOST!r}, port={port}, workers={workers})"
    )
    return [_dev_python(), "-c", code], "modelyard.serving.serve() (no `modelyard serve` yet)"


PREPARE: dict[str, Callable[[Context, int], Prepared]] = {
    "echo": prepare_echo,
    "mlflow": prepare_mlflow,
    "bentoml": prepare_bentoml,
    "litserve": prepare_litserve,
    "modelyard": prepare_modelyard,
}
