"""The model registry: versions, aliases, history, rollback and verified loading,
on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier

import workers
from modelyard import Workspace
from modelyard.errors import (
    AliasNotFoundError,
    ConflictError,
    IntegrityError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
    ReservedAliasError,
    RunNotFoundError,
    ValidationError,
)
from modelyard.registry import AliasAction


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), y


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, np.ndarray]) -> HistGradientBoostingClassifier:
    X, y = data
    return HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)


def test_loaded_champion_predicts_exactly_what_the_estimator_predicts(
    workspace: Workspace,
    model: HistGradientBoostingClassifier,
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, _ = data
    with workspace.start_run("fraud") as run:
        mv = workspace.registry.register("fraud", model, run_id=run.id, input_example=X[:5])
    workspace.registry.set_alias("fraud", "champion", mv.version)
    loaded = workspace.registry.load("models:/fraud@champion")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.version == 1 and loaded.digest == mv.digest


def test_registration_records_signature_flavor_and_run(
    workspace: Workspace,
    model: HistGradientBoostingClassifier,
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, _ = data
    with workspace.start_run("fraud") as run:
        mv = workspace.registry.register("fraud", model, run_id=run.id, input_example=X[:5])
    assert mv.flavor == "sklearn"
    assert mv.signature is not None
    assert [c.name for c in mv.signature.inputs] == list(X.columns)  # type: ignore[union-attr]
    assert mv.run_id == run.id
    artifacts = workspace.tracking.get_run(run.id).artifacts
    assert [a.path for a in artifacts] == ["models/fraud/v1"]
    assert artifacts[0].digest == mv.digest


def test_versions_count_up_from_one_per_model(
    workspace: Workspace, model: HistGradientBoostingClassifier
) -> None:
    versions = [workspace.registry.register("a", model).version for _ in range(3)]
    assert versions == [1, 2, 3]
    assert workspace.registry.register("b", model).version == 1
    assert [v.version for v in workspace.registry.versions("a")] == [3, 2, 1]


def test_uris_resolve_by_alias_number_and_latest(
    workspace: Workspace, model: HistGradientBoostingClassifier
) -> None:
    for _ in range(3):
        workspace.registry.register("m", model)
    workspace.registry.set_alias("m", "champion", 2)
    resolve = workspace.registry.resolve
    assert resolve("models:/m@champion").version == 2
    assert resolve("models:/m/1").version == 1
    assert resolve("models:/m/latest").version == 3
    assert resolve("models:/m@latest").version == 3
    assert resolve("models:/m@v1").version == 1
    assert resolve("m@champion").aliases == ("champion",)


def test_alias_moves_are_kept_and_rollback_walks_back(
    workspace: Workspace, model: HistGradientBoostingClassifier
) -> None:
    for _ in range(3):
        workspace.registry.register("m", model)
    for version in (1, 2, 3):
        workspace.registry.set_alias("m", "champion", version, reason=f"promote v{version}")
    event = workspace.registry.rollback("m")
    assert (event.previous_version, event.version, event.action) == (3, 2, AliasAction.ROLLBACK)
    assert workspace.registry.rollback("m").version == 1
    with pytest.raises(ConflictError, match="no earlier version"):
        workspace.registry.rollback("m")
    history = workspace.registry.alias_history("m", "champion")
    assert [e.version for e in history] == [1, 2, 3, 2, 1]
    assert history[-1].reason == "promote v1"


def test_deleting_an_alias_is_recorded(
    workspace: Workspace, model: HistGradientBoostingClassifier
) -> None:
    workspace.registry.register("m", model)
    workspace.registry.set_alias("m", "challenger", 1)
    workspace.registry.delete_alias("m", "challenger")
    assert workspace.registry.get_model("m").aliases == {}
    assert workspace.registry.alias_history("m")[0].action == AliasAction.DELETE


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v3", "V12", "has space", "dot.ted", ""])
def test_reserved_or_malformed_aliases_are_refused_and_change_nothing(
    workspace: Workspace, model: HistGradientBoostingClassifier, alias: str
) -> None:
    workspace.registry.register("m", model)
    with pytest.raises(ReservedAliasError):
        workspace.registry.set_alias("m", alias, 1)
    assert workspace.registry.get_model("m").aliases == {}
    assert workspace.registry.alias_history("m") == []


def test_unknown_model_version_and_alias_are_clear(
    workspace: Workspace, model: HistGradientBoostingClassifier
) -> None:
    workspace.registry.register("known", model)
    workspace.registry.set_alias("known", "champion", 1)
    with pytest.raises(ModelNotFoundError, match="known"):
        workspace.registry.load("models:/unknown@champion")
    with pytest.raises(ModelVersionNotFoundError, match=r"1\.\.1"):
        workspace.registry.load("models:/known/7")
    with pytest.raises(AliasNotFoundError, match="champion"):
        workspace.registry.load("models:/known@staging")
    with pytest.raises(ModelVersionNotFoundError):
        workspace.registry.set_alias("known", "challenger", 9)
    assert workspace.registry.get_model("known").aliases == {"champion": 1}


@pytest.mark.parametrize(
    "uri", ["models:/", "s3://x/y", "models:/m/zero", "models:/m/0", "models:/-x"]
)
def test_malformed_uris_are_validation_errors(workspace: Workspace, uri: str) -> None:
    with pytest.raises(ValidationError):
        workspace.registry.resolve(uri)


def test_registering_against_an_unknown_run_changes_nothing(
    workspace: Workspace, model: HistGradientBoostingClassifier
) -> None:
    with pytest.raises(RunNotFoundError):
        workspace.registry.register("m", model, run_id="f" * 32)
    assert workspace.registry.list_models() == []


def test_tampered_artifact_is_refused_with_the_digest(
    workspace: Workspace, model: HistGradientBoostingClassifier
) -> None:
    mv = workspace.registry.register("m", model)
    manifest = workspace.artifacts.tree_manifest(mv.digest)
    blob = next(iter(manifest.values()))
    path = Path(workspace.artifacts.location(blob.digest))
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(IntegrityError) as info:
        workspace.registry.load("models:/m/1")
    assert blob.digest in str(info.value)


def test_concurrent_registrations_get_consecutive_versions(
    workspace: Workspace, db_url: str, tmp_path: Path
) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=workers.register_many, args=(str(tmp_path), db_url, 15))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    versions = sorted(v.version for v in workspace.registry.versions("race"))
    assert versions == list(range(1, 46))
