"""``modelyard export k8s``: manifests that run the prediction server on Kubernetes.

One file per object: a ConfigMap of settings (as ``MODELYARD_*`` variables), a Deployment
whose pods read the store URLs from a Secret the operator creates (only references here,
never values), with readiness (``/health/ready``) and liveness (``/health/live``) probes and
resource requests and limits, a Service, and a HorizontalPodAutoscaler
(``autoscaling/v2``) on CPU utilization.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelyard._workspace import Workspace
from modelyard.errors import ValidationError
from modelyard.export._common import ExportTarget, resolve_target, write_files
from modelyard.export._docker import UID
from modelyard.export._settings import (
    CONTAINER_PORT,
    CONTAINER_WORKSPACE,
    STORE_SECRETS,
    container_settings,
    settings_env,
)

__all__ = ["K8sOptions", "export_k8s", "manifests"]

_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


@dataclass(frozen=True, slots=True)
class K8sOptions:
    """Image, sizes and scaling of the Deployment (checked by :meth:`checked`)."""

    image: str = ""
    namespace: str | None = None
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory_request: str = "512Mi"
    memory_limit: str = "2Gi"
    min_replicas: int = 2
    max_replicas: int = 10
    target_cpu_percent: int = 70
    secret: str = ""

    def checked(self) -> K8sOptions:
        for name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
            value = getattr(self, name)
            if not _QUANTITY.match(value):
                raise ValidationError(f"{name.replace('_', ' ')} {value!r} is not a quantity")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValidationError(
                f"replicas: need 1 <= min ({self.min_replicas}) <= max ({self.max_replicas})"
            )
        if not 1 <= self.target_cpu_percent <= 100:
            raise ValidationError("target CPU utilization must be between 1 and 100 percent")
        return self


def export_k8s(
    workspace: Workspace, deployment: str, out: Path, options: K8sOptions | None = None
) -> list[Path]:
    """Write the manifests for ``deployment`` into ``out``; returns the files written."""
    options = (options or K8sOptions()).checked()
    target = resolve_target(workspace, deployment)
    objects = manifests(target, container_settings(workspace.settings), options)
    files = {f"{kind.lower()}.yaml": _yaml(obj) for kind, obj in objects.items()}
    files["README.md"] = _readme(target, options)
    return write_files(out, files)


def manifests(
    target: ExportTarget, settings: dict[str, Any], options: K8sOptions
) -> dict[str, dict[str, Any]]:
    """The Kubernetes objects by kind: ConfigMap, Deployment, Service, HPA."""
    name = target.slug
    labels = {
        "app.kubernetes.io/name": "modelyard",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "prediction-server",
        "modelyard.dev/deployment": _label(target.deployment),
    }
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if options.namespace:
        meta["namespace"] = options.namespace
    config = {
        **settings_env(settings),
        "MODELYARD_WORKSPACE": CONTAINER_WORKSPACE,
        "OMP_NUM_THREADS": "1",
    }
    return {
        "ConfigMap": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": f"{name}-settings"},
            "data": config,
        },
        "Deployment": _deployment(meta, target, options),
        "Service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": _selector(labels),
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        "HorizontalPodAutoscaler": _hpa(meta, options),
    }


def _selector(labels: dict[str, str]) -> dict[str, str]:
    return {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}


def _deployment(meta: dict[str, Any], target: ExportTarget, options: K8sOptions) -> dict[str, Any]:
    name = meta["name"]
    secret = options.secret or f"{name}-stores"
    env = [
        {
            "name": store.env,
            "valueFrom": {
                "secretKeyRef": {"name": secret, "key": store.key, "optional": not store.required}
            },
        }
        for store in STORE_SECRETS
    ]
    container = {
        "name": "server",
        "image": options.image or f"{name}:{target.revision}",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": f"{name}-settings"}}],
        "env": env,
        "resources": {
            "requests": {"cpu": options.cpu_request, "memory": options.memory_request},
            "limits": {"cpu": options.cpu_limit, "memory": options.memory_limit},
        },
        "startupProbe": _probe("/health/live", period=2, failures=60),
        "readinessProbe": _probe("/health/ready", period=5, failures=2),
        "livenessProbe": _probe("/health/live", period=10, failures=3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "state", "mountPath": f"{CONTAINER_WORKSPACE}/.modelyard"},
            {"name": "tmp", "mountPath": "/tmp"},  # models unpack here
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": options.min_replicas,
            "selector": {"matchLabels": _selector(meta["labels"])},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": meta["labels"],
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(CONTAINER_PORT),
                        "prometheus.io/path": "/metrics",
                        "modelyard.dev/model": target.model,
                    },
                },
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 40,  # serve drains for 30 s
                    "containers": [container],
                    "volumes": [
                        {"name": "state", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _hpa(meta: dict[str, Any], options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"]},
            "minReplicas": options.min_replicas,
            "maxReplicas": options.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": options.target_cpu_percent,
                        },
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def _label(value: str) -> str:
    """A label value: at most 63 of ``[A-Za-z0-9_.-]``, alphanumeric at both ends."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:63].strip("_.-") or "deployment"


def _yaml(obj: dict[str, Any]) -> str:
    text: str = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
    return text


def _readme(target: ExportTarget, options: K8sOptions) -> str:
    secret = options.secret or f"{target.slug}-stores"
    keys = " \\\n  ".join(
        f"--from-literal={store.key}=..." for store in STORE_SECRETS if store.required
    )
    optional = ", ".join(store.key for store in STORE_SECRETS if not store.required)
    return f"""\
# {target.slug}

Manifests for the modelyard deployment `{target.deployment}` (model `{target.model}`).
The store URLs are read from the Secret `{secret}`, which these files only reference.
Create it first, then apply the folder:

```
kubectl create secret generic {secret} \\
  {keys}
kubectl apply -f .
```

Optional keys of the Secret: {optional}. Every pod shares the metadata database, the
artifact store and (when set) Redis; nothing is kept in a pod but its prediction log.
"""
