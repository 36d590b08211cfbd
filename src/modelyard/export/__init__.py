"""Containers and Kubernetes: a Docker build context and manifests that run the prediction
server for a deployment, with the store URLs left to the environment.

Example:
    >>> export_docker(ws, "fraud", Path("build/fraud"))  # docker build -t fraud:1 build/fraud
    >>> export_k8s(ws, "fraud", Path("k8s/fraud"), K8sOptions(image="registry/fraud:1"))
"""

from __future__ import annotations

from modelyard.export._docker import DockerOptions, default_base_image, export_docker
from modelyard.export._k8s import K8sOptions, export_k8s, manifests

__all__ = [
    "DockerOptions",
    "K8sOptions",
    "default_base_image",
    "export_docker",
    "export_k8s",
    "manifests",
]
