"""``modelyard export docker|k8s``: the build context and the manifests, validated offline
against the Kubernetes JSON schemas bundled by ``kubernetes-validate``."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from sklearn.dummy import DummyClassifier

from clikit import modelyard
from modelyard import Workspace
from modelyard.deployments import DeploymentSpec
from modelyard.errors import NotFoundError, ValidationError
from modelyard.export import DockerOptions, K8sOptions, export_docker, export_k8s

K8S_VERSION = "1.30.0"
SECRET_URL = "postgresql+psycopg://app:s3cret@db.internal:5432/modelyard"


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Workspace:
    """A workspace with secrets in its settings, a feature definition and deployment
    ``Fraud_API`` over the sklearn model ``fraud``."""
    ws = sqlite_workspace
    (ws.path / "modelyard.toml").write_text(
        f'artifacts_url = "secret-artifacts"\n\n[serving]\nworkers = 2\ncache_url = "redis://:pw@r:6379/0"\n'
        f'cors_origins = ["https://a.example"]\n\n[features]\nonline_url = "redis://:pw@r"\n'
        f"\n# {SECRET_URL}\n"
    )
    (ws.path / "features").mkdir()
    (ws.path / "features" / "views.py").write_text("VIEWS = []\n")
    ws.registry.register("fraud", DummyClassifier().fit([[0], [1]], [0, 1]))
    ws.registry.set_alias("fraud", "champion", 1)
    ws.deployments.create(DeploymentSpec(name="Fraud_API", model="fraud"))
    return ws


def test_docker_context_pins_the_image_runs_as_non_root_and_checks_health(
    ws: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "ctx"

    export_docker(ws, "Fraud_API", out)

    dockerfile = (out / "Dockerfile").read_text()
    base = next(line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM "))
    assert base.startswith("python:3.") and base.endswith("-slim-bookworm")
    assert base.count(".") == 2  # an exact X.Y.Z version
    assert "USER 10001:10001" in dockerfile and "useradd --system --uid 10001" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/health/live" in dockerfile
    assert 'CMD ["modelyard", "serve", "--host", "0.0.0.0", "--port", "8000"]' in dockerfile
    assert "OMP_NUM_THREADS=1" in dockerfile
    requirements = (out / "requirements.txt").read_text().splitlines()
    assert requirements[0].startswith("modelyard[postgres,redis,s3]==")
    assert any(line.startswith("scikit-learn==") for line in requirements)
    settings = tomllib.loads((out / "workspace" / "modelyard.toml").read_text())
    assert settings == {
        "serving": {
            "workers": 2,
            "cors_origins": ["https://a.example"],
            "host": "0.0.0.0",
            "port": 8000,
        },
        "features": {},
    }
    assert (out / "workspace" / "features" / "views.py").read_text() == "VIEWS = []\n"
    everything = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert (
        "s3cret" not in everything
        and "pw@" not in everything
        and "secret-artifacts" not in everything
    )


def test_docker_refuses_a_floating_base_image_and_a_folder_of_other_files(
    ws: Workspace, tmp_path: Path
) -> None:
    for image in ("python:latest", "python:3.11-slim", "python"):
        with pytest.raises(ValidationError, match="not pinned"):
            export_docker(ws, "Fraud_API", tmp_path / "a", DockerOptions(base_image=image))
    digest = "python@sha256:" + "a" * 64
    export_docker(ws, "Fraud_API", tmp_path / "b", DockerOptions(base_image=digest))
    assert f"FROM {digest}" in (tmp_path / "b" / "Dockerfile").read_text()
    export_docker(ws, "Fraud_API", tmp_path / "b")  # a former export is rewritten
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(ValidationError, match="did not write"):
        export_docker(ws, "Fraud_API", tmp_path / "c")
    with pytest.raises(NotFoundError):
        export_docker(ws, "nope", tmp_path / "d")


def _load(out: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    objects = [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]
    return {obj["kind"]: obj for obj in objects}


def test_k8s_manifests_validate_against_the_kubernetes_schemas(
    ws: Workspace, tmp_path: Path
) -> None:
    import kubernetes_validate

    export_k8s(
        ws, "Fraud_API", tmp_path / "k", K8sOptions(image="reg.example/fraud:7", namespace="ml")
    )

    objects = _load(tmp_path / "k")
    assert sorted(objects) == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"]
    for obj in objects.values():
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    assert objects["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    assert objects["Deployment"]["metadata"]["name"] == "modelyard-fraud-api"


def test_k8s_deployment_probes_resources_and_secret_references(
    ws: Workspace, tmp_path: Path
) -> None:
    export_k8s(ws, "Fraud_API", tmp_path / "k", K8sOptions(image="reg.example/fraud:7"))

    objects = _load(tmp_path / "k")
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "reg.example/fraud:7"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert set(refs) >= {
        "MODELYARD_METADATA_URL",
        "MODELYARD_ARTIFACTS_URL",
        "MODELYARD_SERVING__CACHE_URL",
        "MODELYARD_FEATURES__ONLINE_URL",
    }
    assert refs["MODELYARD_METADATA_URL"] == {
        "name": "modelyard-fraud-api-stores",
        "key": "metadata_url",
        "optional": False,
    }
    assert all("value" not in e for e in container["env"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    config = objects["ConfigMap"]["data"]
    assert config["MODELYARD_SERVING__WORKERS"] == "2"
    assert config["MODELYARD_SERVING__CORS_ORIGINS"] == '["https://a.example"]'
    assert config["OMP_NUM_THREADS"] == "1"
    assert container["envFrom"] == [{"configMapRef": {"name": "modelyard-fraud-api-settings"}}]
    everything = "".join(p.read_text() for p in (tmp_path / "k").iterdir())
    assert "pw@" not in everything and "secret-artifacts" not in everything
    service = objects["Service"]["spec"]
    assert service["selector"] == objects["Deployment"]["spec"]["selector"]["matchLabels"]


def test_k8s_options_are_checked(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not a quantity"):
        export_k8s(ws, "Fraud_API", tmp_path, K8sOptions(cpu_limit="two"))
    with pytest.raises(ValidationError, match="replicas"):
        export_k8s(ws, "Fraud_API", tmp_path, K8sOptions(min_replicas=3, max_replicas=2))


def test_cli_exports_both_and_reports_bad_input_in_one_line(ws: Workspace, tmp_path: Path) -> None:
    root = str(ws.path)
    done = modelyard("-w", root, "export", "docker", "Fraud_API", "--out", str(tmp_path / "d"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d" / "Dockerfile").is_file()
    done = modelyard(
        *("-w", root, "export", "k8s", "Fraud_API", "-o", str(tmp_path / "k")),
        *("--image", "x/y:1", "--max-replicas", "4"),
    )
    assert done.returncode == 0, done.stderr
    assert _load(tmp_path / "k")["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 4
    bad = modelyard("-w", root, "export", "docker", "nope", "--out", str(tmp_path / "x"))
    assert bad.returncode == 1 and bad.stderr.startswith("Error:")
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_image_builds_where_docker_runs(ws: Workspace, tmp_path: Path) -> None:
    """Optional: needs a running Docker daemon and the base image or network; skipped
    elsewhere (CI does not depend on Docker)."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True).returncode:
        pytest.skip("no usable Docker daemon")
    export_docker(ws, "Fraud_API", tmp_path)
    built = subprocess.run(
        [docker, "build", "-q", "-t", "modelyard-export-test", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr


def test_the_schema_check_is_not_a_formality(ws: Workspace, tmp_path: Path) -> None:
    import kubernetes_validate

    export_k8s(ws, "Fraud_API", tmp_path / "k")
    deployment = _load(tmp_path / "k")["Deployment"]
    del deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
