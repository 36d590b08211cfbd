"""``modelyard apply`` and ``modelyard features``, run as a real process."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa

from clikit import Result
from clikit import modelyard as run_cli
from modelyard import Workspace
from modelyard.config import load_settings

DEFINITIONS = """
import datetime as dt
from modelyard.features import Entity, FeatureService, FeatureView, Field

user = Entity.of("user", {"user_id": "BIGINT"})
stats = FeatureView("user_stats", (user,), "user_stats", (Field("txn_count", "BIGINT"),),
                    ttl=dt.timedelta(hours=TTL))
fraud = FeatureService("fraud", ("user_stats:txn_count",))
"""


def modelyard(ws: Path, *args: str) -> Result:
    return run_cli("-w", str(ws), *args)


def test_apply_shows_the_plan_and_versions_a_changed_view(tmp_path: Path) -> None:
    with Workspace(load_settings(tmp_path)) as ws:
        ws.start()
        stamps = pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)], pa.timestamp("us", "UTC"))
        ws.datasets.write(
            "user_stats", pa.table({"user_id": [1], "event_timestamp": stamps, "txn_count": [3]})
        )
    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "fraud.py").write_text(DEFINITIONS.replace("TTL", "1"))

    dry = modelyard(tmp_path, "apply", "--dry-run", "--json")
    first = modelyard(tmp_path, "apply", "--json")
    (folder / "fraud.py").write_text(DEFINITIONS.replace("TTL", "2"))
    second = modelyard(tmp_path, "apply")
    listed = modelyard(tmp_path, "features", "list", "--json")

    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["applied"] is False
    assert [i["action"] for i in json.loads(first.stdout)["items"]] == ["add"] * 3
    assert second.returncode == 0, second.stderr
    assert "update" in second.stdout and "v2" in second.stdout
    views = json.loads(listed.stdout)["feature_views"]
    assert [(v["name"], v["version"], v["ttl_seconds"]) for v in views] == [
        ("user_stats", 2, 7200.0)
    ]


def test_a_view_over_a_missing_column_is_refused(tmp_path: Path) -> None:
    with Workspace(load_settings(tmp_path)) as ws:
        ws.start()
        stamps = pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)], pa.timestamp("us", "UTC"))
        ws.datasets.write("user_stats", pa.table({"user_id": [1], "event_timestamp": stamps}))
    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "fraud.py").write_text(DEFINITIONS.replace("TTL", "1"))

    refused = modelyard(tmp_path, "apply")
    listed = modelyard(tmp_path, "features", "list", "--json")

    assert refused.returncode == 1
    assert "nothing was applied" in refused.stderr and "'txn_count'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert json.loads(listed.stdout)["feature_views"] == []


def test_materialize_read_online_and_check_skew(tmp_path: Path) -> None:
    with Workspace(load_settings(tmp_path)) as ws:
        ws.start()
        stamps = pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * 2, pa.timestamp("us", "UTC"))
        table = pa.table({"user_id": [1, 2], "event_timestamp": stamps, "txn_count": [3, 5]})
        ws.datasets.write("user_stats", table)
    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "fraud.py").write_text(DEFINITIONS.replace("TTL", "0"))
    assert modelyard(tmp_path, "apply").returncode == 0

    materialized = modelyard(tmp_path, "features", "materialize", "--json")
    online = modelyard(tmp_path, "features", "get-online", "fraud", "-e", "user_id=2,1,9", "--json")
    skew = modelyard(tmp_path, "features", "skew", "fraud")

    assert materialized.returncode == 0, materialized.stderr
    assert json.loads(materialized.stdout)[0]["entities"] == 2
    answer = json.loads(online.stdout)
    assert answer["results"][1]["values"] == [5, 3, None]
    assert answer["results"][1]["statuses"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert skew.returncode == 0, skew.stdout + skew.stderr
    assert "0 mismatch" in skew.stdout
