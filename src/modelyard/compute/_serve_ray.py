"""The prediction server as Ray Serve replicas: ``modelyard serve --backend ray``.

Each replica builds the same ASGI app as ``modelyard serve`` (:func:`create_app`: every
protocol, the batcher, the cache, traffic policies and the prediction log) for the same
workspace, behind Ray Serve's HTTP proxy. Ray Serve adds replicas while the requests in
flight per replica stay above ``target_ongoing_requests`` (its queue-length autoscaling)
and removes them when they fall. The replicas share what ``modelyard serve`` workers
share: the metadata database, the artifact store and (when set) Redis.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.compute._ray import RayCompute
from modelyard.errors import ConfigError

__all__ = ["RayServeOptions", "start_ray_serve", "stop_ray_serve"]

APP_NAME = "modelyard"


@dataclass(frozen=True, slots=True)
class RayServeOptions:
    """Where the proxy listens and how the replicas scale."""

    host: str = "127.0.0.1"
    port: int = 8000
    min_replicas: int = 1
    max_replicas: int = 4
    target_ongoing_requests: float = 32.0
    max_ongoing_requests: int = 256
    replica_cpus: float = 1.0

    def checked(self) -> RayServeOptions:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ConfigError(
                f"replicas: need 1 <= min ({self.min_replicas}) <= max ({self.max_replicas})"
            )
        if self.target_ongoing_requests <= 0 or self.max_ongoing_requests < 1:
            raise ConfigError("target and max ongoing requests must be positive")
        return self


class ServeReplica:
    """One replica: the server app for ``workspace``, built when Ray Serve starts it."""

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace

    def __serve_build_asgi_app__(self) -> Any:
        from modelyard._workspace import Workspace
        from modelyard.serving import create_app

        return create_app(Workspace.open(self.workspace))


def start_ray_serve(
    compute: RayCompute, workspace: str | Path, options: RayServeOptions | None = None
) -> str:
    """Deploy the server on ``compute``'s Ray and return its URL (it keeps running until
    :func:`stop_ray_serve` or the Ray cluster ends)."""
    options = (options or RayServeOptions()).checked()
    ray = compute.ray
    import importlib

    serve = importlib.import_module("ray.serve")
    env = {k: v for k, v in os.environ.items() if k.startswith("MODELYARD_")}
    env.setdefault("OMP_NUM_THREADS", "1")
    actor_options: dict[str, Any] = {
        "num_cpus": options.replica_cpus,
        "runtime_env": {"env_vars": env},
    }
    deployment = serve.deployment(
        name="server",
        ray_actor_options=actor_options,
        max_ongoing_requests=options.max_ongoing_requests,
        autoscaling_config={
            "min_replicas": options.min_replicas,
            "initial_replicas": options.min_replicas,
            "max_replicas": options.max_replicas,
            "target_ongoing_requests": options.target_ongoing_requests,
            "upscale_delay_s": 5.0,
            "downscale_delay_s": 60.0,
        },
        health_check_period_s=5,
    )(serve.ingress()(ServeReplica))
    serve.start(http_options={"host": options.host, "port": options.port})
    serve.run(
        deployment.bind(str(Path(workspace).resolve())),
        name=APP_NAME,
        route_prefix="/",
        blocking=False,
    )
    del ray
    return f"http://{options.host}:{options.port}"


def stop_ray_serve(compute: RayCompute) -> None:
    """Remove the server's application and stop Ray Serve."""
    import importlib

    compute.start()
    serve = importlib.import_module("ray.serve")
    serve.shutdown()


def serve_forever(compute_spec: str, workspace: str | Path, options: RayServeOptions) -> None:
    """``modelyard serve --backend ray``: deploy, print where, and keep the replicas up
    until interrupted (SIGINT or SIGTERM), then remove them and release Ray."""
    import signal
    import threading

    from modelyard.compute._base import open_compute

    spec = "ray-local" if compute_spec == "local" else compute_spec
    compute = open_compute(spec)
    assert isinstance(compute, RayCompute)
    compute.start()
    try:
        url = start_ray_serve(compute, workspace, options)
        # Ray and Ray Serve set their own SIGTERM handlers as they start: ours goes after.
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print(f"modelyard: Ray Serve replicas on {spec}, listening at {url}", flush=True)
        try:
            while not stop.wait(1.0):
                pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt:
        pass
    finally:
        stop_ray_serve(compute)
        compute.close()
