"""The dashboard's JSON API in process: what each route answers, bad input as 4xx JSON
errors, and API keys with scopes, on its own and mounted in the prediction server."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from modelyard import Workspace
from modelyard.access import Scope
from modelyard.config import ServingSettings
from modelyard.dashboard import create_dashboard
from modelyard.serving import create_app


@pytest.fixture(scope="module")
def workspace(quickstart_path: Path) -> Iterator[Workspace]:
    with Workspace.open(quickstart_path) as ws:
        yield ws


@pytest.fixture(scope="module")
def client(workspace: Workspace) -> TestClient:
    return TestClient(create_dashboard(workspace))


def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The JSON error body of ``response``, after checking its status (and code)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"code", "message", "details"}
    if code is not None:
        assert body["code"] == code
    return body


def test_the_package_exports_resolve() -> None:
    module = importlib.import_module("modelyard.dashboard")
    assert len(set(module.__all__)) == len(module.__all__)  # the order: ruff's RUF022
    for name in module.__all__:
        assert hasattr(module, name), name


def test_the_page_and_its_static_files_are_served(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    assert client.get("/ui", follow_redirects=False).status_code == 307
    page = client.get("/ui/")
    assert page.status_code == 200
    assert 'src="static/app.js"' in page.text
    for name in ("app.js", "lib.js", "app.css", "pages/runs.js", "vendor/echarts.min.js"):
        response = client.get(f"/ui/static/{name}")
        assert response.status_code == 200, name
    assert "javascript" in client.get("/ui/static/vendor/echarts.min.js").headers["content-type"]
    error(client.get("/ui/static/nothing.js"), 404)


def test_info_lists_the_pages(client: TestClient) -> None:
    info = client.get("/ui/api/info").json()
    assert [p["name"] for p in info["pages"]] == [
        "runs",
        "models",
        "deployments",
        "monitoring",
        "data",
        "jobs",
    ]
    assert info["live"] is False


def test_runs_search_with_the_filter_language_and_paging(client: TestClient) -> None:
    everything = client.get("/ui/api/runs").json()["runs"]
    assert {r["name"] for r in everything} >= {"logistic_regression", "hist_gradient_boosting"}
    found = client.get(
        "/ui/api/runs", params={"filter": "params.model = 'logistic_regression'"}
    ).json()
    assert {r["name"] for r in found["runs"]} == {"logistic_regression"}
    assert len(found["runs"]) < len(everything)
    first = client.get(
        "/ui/api/runs", params={"max_results": 1, "order_by": "metrics.roc_auc DESC"}
    ).json()
    second = client.get(
        "/ui/api/runs",
        params={
            "max_results": 1,
            "order_by": "metrics.roc_auc DESC",
            "page_token": first["next_page_token"],
        },
    ).json()
    assert first["runs"][0]["metrics"]["roc_auc"] > second["runs"][0]["metrics"]["roc_auc"]
    trained = next(r for r in everything if r["models"])
    assert trained["models"][0]["name"] == "fraud"
    assert any(i["kind"] == "dataset_version" for i in trained["inputs"])


def test_a_bad_filter_is_a_422_that_says_where(client: TestClient) -> None:
    body = error(
        client.get("/ui/api/runs", params={"filter": "metrics.auc >"}), 422, "filter_syntax_error"
    )
    assert "invalid filter at position 13" in str(body["message"])
    assert body["details"]["position"] == 13


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"max_results": "many"}, 422),
        ({"max_results": "0"}, 422),
        ({"max_results": "100000"}, 422),
        ({"page_token": "not-a-token"}, 422),
        ({"order_by": "metrics."}, 422),
        ({"experiment": "no-such-experiment"}, 404),
    ],
)
def test_bad_search_parameters_are_4xx(
    client: TestClient, params: dict[str, str], status: int
) -> None:
    error(client.get("/ui/api/runs", params=params), status)


def test_metric_series_only_for_the_runs_and_keys_asked(client: TestClient) -> None:
    runs = client.get("/ui/api/runs").json()["runs"]
    hgb = next(r for r in runs if r["name"] == "hist_gradient_boosting")
    series = client.get(
        "/ui/api/runs/metrics",
        params={"run": [hgb["id"]], "key": ["validation_loss", "roc_auc"], "points": 10},
    ).json()["series"]
    assert {s["key"] for s in series} == {"validation_loss", "roc_auc"}
    curve = next(s for s in series if s["key"] == "validation_loss")
    assert 2 <= len(curve["steps"]) <= 11  # thinned, the last step kept
    assert curve["steps"] == sorted(curve["steps"])
    error(client.get("/ui/api/runs/metrics", params={"run": ["f" * 32], "key": "x"}), 404)
    many = {"run": [hgb["id"]] * 21, "key": "x"}
    error(client.get("/ui/api/runs/metrics", params=many), 422)


def test_compare_marks_the_rows_that_differ(client: TestClient) -> None:
    listed = client.get("/ui/api/runs", params={"experiment": "fraud-quickstart"}).json()
    ids = [r["id"] for r in listed["runs"]][:2]  # the two candidates of one experiment
    rows = client.get("/ui/api/runs/compare", params={"run": ids}).json()["rows"]
    by_field = {r["field"]: r for r in rows}
    assert by_field["params.model"]["differs"] is True
    assert by_field["experiment"]["differs"] is False
    error(client.get("/ui/api/runs/compare", params={"run": ids[:1]}), 422)


def test_one_run_by_prefix_and_unknown_runs(client: TestClient) -> None:
    run_id = client.get("/ui/api/runs").json()["runs"][0]["id"]
    assert client.get(f"/ui/api/runs/{run_id[:8]}").json()["run"]["id"] == run_id
    error(client.get("/ui/api/runs/ffffffffffff"), 404)
    error(client.get("/ui/api/runs/x"), 404)


def test_models_versions_aliases_and_lineage(client: TestClient) -> None:
    assert "fraud" in [m["name"] for m in client.get("/ui/api/models").json()]
    model = client.get("/ui/api/models/fraud").json()
    numbers = [v["version"] for v in model["versions"]]
    assert numbers == sorted(numbers, reverse=True)
    assert numbers[0] == model["model"]["latest_version"] == model["model"]["aliases"]["challenger"]
    assert {e["alias"] for e in model["history"]} >= {"champion", "challenger"}
    assert all(v["run"]["metrics"] for v in model["versions"])
    version = client.get("/ui/api/models/fraud/versions/1").json()
    assert version["version"]["signature"]["inputs"]["columns"]
    kinds = {n["kind"] for n in version["lineage"]["nodes"]}
    assert {"model_version", "training_run", "dataset_version", "source_file"} <= kinds
    error(client.get("/ui/api/models/nope"), 404, "not_found")
    error(client.get("/ui/api/models/fraud/versions/99"), 404)
    error(client.get("/ui/api/models/fraud/versions/one"), 422)
    error(client.get(f"/ui/api/models/fraud/versions/{10**30}"), 422)


def test_deployments_without_a_server_show_the_spec_and_no_live_metrics(
    client: TestClient,
) -> None:
    listed = client.get("/ui/api/deployments").json()
    assert listed["live"] is False
    fraud = next(d for d in listed["deployments"] if d["name"] == "fraud")
    assert {"target": "champion", "weight": 1.0} in fraud["traffic"]
    one = client.get("/ui/api/deployments/fraud").json()
    champion = next(t for t in one["targets"] if t["target"] == "champion")
    assert champion["version"] >= 1 and champion["error"] is None
    assert client.get("/ui/api/deployments/fraud/live").json() == {"available": False}
    error(client.get("/ui/api/deployments/nope"), 404)
    error(client.get("/ui/api/deployments/fraud", params={"stale_after_s": "-1"}), 422)


def test_datasets_versions_checks_and_diffs(client: TestClient) -> None:
    names = {d["name"] for d in client.get("/ui/api/datasets").json()}
    assert {"transactions", "transactions_quarantine"} <= names
    versions = client.get("/ui/api/datasets/transactions").json()["versions"]
    numbers = [v["number"] for v in versions]  # the quickstart's loop appends one too
    assert numbers == list(range(len(numbers), 0, -1)) and len(numbers) >= 2
    first = client.get("/ui/api/datasets/transactions/versions/v1").json()
    assert first["run"]["pipeline"] == "transactions"
    assert {c["check"] for c in first["checks"]} >= {"not_null", "in_range"}
    assert first["version"]["stats"][0]["count"] > 0
    diff = client.get("/ui/api/datasets/transactions/diff").json()
    assert diff["appended"] is True
    amount = next(c for c in diff["columns"] if c["name"] == "amount")
    assert amount["stats"]["max"]["changed"] is True
    error(client.get("/ui/api/datasets/transactions/versions/v9"), 404)
    error(client.get("/ui/api/datasets/transactions/versions/-x-"), 422)
    error(client.get("/ui/api/datasets/nope"), 404)
    error(client.get("/ui/api/datasets/transactions/diff", params={"a": "v7"}), 404)


def test_pipelines_runs_and_feature_views(client: TestClient) -> None:
    pipelines = client.get("/ui/api/pipelines").json()
    assert pipelines["error"] is None
    names = {p["name"] for p in pipelines["pipelines"]}
    assert "transactions" in names
    one = client.get("/ui/api/pipelines/transactions").json()
    assert one["definition"]["sources"]
    run_id = one["runs"][0]["id"]
    run = client.get(f"/ui/api/pipeline-runs/{run_id}").json()
    assert run["status"] == "SUCCEEDED"
    assert run["inputs"]
    error(client.get("/ui/api/pipelines/nope"), 404)
    error(client.get("/ui/api/pipeline-runs/ffffffff"), 404)
    features = client.get("/ui/api/features").json()
    assert {v["name"] for v in features["views"]} >= {"user_stats", "merchant_stats"}


def test_lineage_of_anything_and_of_nothing(client: TestClient) -> None:
    graph = client.get("/ui/api/lineage", params={"ref": "transactions@v1"}).json()
    assert graph["root"].startswith("dataset:transactions@")
    error(client.get("/ui/api/lineage"), 422)
    error(client.get("/ui/api/lineage", params={"ref": "nothing-at-all"}), 404)


def test_unknown_routes_and_methods_are_json_4xx(client: TestClient) -> None:
    error(client.get("/ui/api/nothing"), 404)
    error(client.post("/ui/api/runs"), 405)


# -- API keys -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(workspace: Workspace) -> dict[str, str]:
    _, admin = workspace.keys.create("dashboard-admin", [Scope.ADMIN])
    _, predict = workspace.keys.create("dashboard-predict", [Scope.PREDICT])
    return {"admin": admin, "predict": predict}


def check_keys(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/ui/").status_code == 200  # the page holds no data
    assert client.get("/ui/static/app.js").status_code == 200
    missing = client.get("/ui/api/info")
    error(missing, 401, "unauthenticated")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    error(client.get("/ui/api/info", headers={"x-api-key": "myd_00000000_" + "x" * 43}), 401)
    error(client.get("/ui/api/info", headers={"x-api-key": keys["predict"]}), 403)
    assert client.get("/ui/api/info", headers={"x-api-key": keys["admin"]}).status_code == 200
    bearer = {"authorization": f"Bearer {keys['admin']}"}
    assert client.get("/ui/api/runs", headers=bearer).status_code == 200
    error(client.post("/ui/api/runs", headers={"x-api-key": keys["predict"]}), 403)


def test_api_keys_on_the_dashboard_alone(workspace: Workspace, keys: dict[str, str]) -> None:
    check_keys(TestClient(create_dashboard(workspace, auth=True)), keys)


def test_api_keys_on_the_dashboard_inside_the_server(
    workspace: Workspace, keys: dict[str, str]
) -> None:
    app = create_app(workspace, settings=ServingSettings(ui=True, auth=True))
    client = TestClient(app)  # no lifespan: the dashboard needs no loaded model
    check_keys(client, keys)
    assert client.get("/ui/api/info", headers={"x-api-key": keys["admin"]}).json()["live"]
    error(client.get("/v1/deployments"), 401)  # the server's own routes keep their check
    assert client.get("/health/live").status_code == 200


def test_the_server_mounts_no_dashboard_unless_asked(workspace: Workspace) -> None:
    client = TestClient(create_app(workspace, settings=ServingSettings()))
    error(client.get("/ui/api/info"), 404)
