"""``modelyard export docker|k8s DEPLOYMENT --out DIR``: a container build context and
Kubernetes manifests for the prediction server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console

export_app = typer.Typer(
    help="Write a Docker build context or Kubernetes manifests for a deployment.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

DeploymentArg = Annotated[str, typer.Argument(metavar="DEPLOYMENT", help="Deployment name.")]
OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Folder to write (new, empty, or a former export).")
]


@export_app.command("docker")
def docker(
    ctx: typer.Context,
    deployment: DeploymentArg,
    out: OutOpt,
    base_image: Annotated[
        str,
        typer.Option(
            "--base-image",
            help="Pinned base image: exact version tag or @sha256 digest "
            "(default: this Python's python:X.Y.Z-slim-bookworm).",
        ),
    ] = "",
    wheel: Annotated[
        Path | None,
        typer.Option("--wheel", help="Install modelyard from this wheel (default: the index)."),
    ] = None,
) -> None:
    """A build context: Dockerfile (pinned slim Python, non-root, health check,
    `modelyard serve`), requirements and the workspace's settings without store URLs."""
    from modelyard.export import DockerOptions, export_docker

    workspace = open_workspace(ctx)
    written = export_docker(workspace, deployment, out, DockerOptions(base_image, wheel))
    _report(written, out, f"docker build -t {deployment.lower()} {out}")


@export_app.command("k8s")
def k8s(
    ctx: typer.Context,
    deployment: DeploymentArg,
    out: OutOpt,
    image: Annotated[
        str, typer.Option("--image", help="Image to run (default: modelyard-NAME:REVISION).")
    ] = "",
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    cpu_request: Annotated[str, typer.Option("--cpu-request")] = "500m",
    cpu_limit: Annotated[str, typer.Option("--cpu-limit")] = "2",
    memory_request: Annotated[str, typer.Option("--memory-request")] = "512Mi",
    memory_limit: Annotated[str, typer.Option("--memory-limit")] = "2Gi",
    min_replicas: Annotated[int, typer.Option("--min-replicas")] = 2,
    max_replicas: Annotated[int, typer.Option("--max-replicas")] = 10,
    target_cpu: Annotated[
        int, typer.Option("--target-cpu", help="HPA target CPU utilization, percent.")
    ] = 70,
    secret: Annotated[
        str,
        typer.Option("--secret", help="Secret holding the store URLs (default: NAME-stores)."),
    ] = "",
) -> None:
    """Manifests: ConfigMap, Deployment (probes on /health/ready and /health/live,
    requests and limits, store URLs from a Secret), Service and HorizontalPodAutoscaler."""
    from modelyard.export import K8sOptions, export_k8s

    workspace = open_workspace(ctx)
    options = K8sOptions(
        image=image,
        namespace=namespace,
        cpu_request=cpu_request,
        cpu_limit=cpu_limit,
        memory_request=memory_request,
        memory_limit=memory_limit,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_percent=target_cpu,
        secret=secret,
    )
    written = export_k8s(workspace, deployment, out, options)
    _report(written, out, f"see {out / 'README.md'}, then kubectl apply -f {out}")


def _report(written: list[Path], out: Path, then: str) -> None:
    for path in written:
        console.print(str(path))
    console.print(f"[dim]{len(written)} files in {out}; next: {then}[/]")
