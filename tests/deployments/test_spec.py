"""Deployment specs: validation that names the field, text forms, target URIs."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.deployments import (
    BatchingOptions,
    DeploymentSpec,
    StickyKey,
    TargetStatus,
    TrafficRoute,
    parse_traffic,
)
from modelyard.errors import ValidationError


def test_parse_traffic_reads_targets_and_weights() -> None:
    assert parse_traffic(" champion=0.9, v4 = 0.1 ") == (
        TrafficRoute(target="champion", weight=0.9),
        TrafficRoute(target="v4", weight=0.1),
    )


def test_a_target_without_a_weight_weighs_one() -> None:
    assert parse_traffic("champion") == (TrafficRoute(target="champion", weight=1.0),)


@pytest.mark.parametrize("text", ["", " , ", "champion=abc", "champion=0", "bad target=1"])
def test_parse_traffic_refuses_malformed_text(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_traffic(text)


def test_sticky_key_parses_and_lowercases_header_names() -> None:
    assert StickyKey.parse("header:X-User-Id") == StickyKey(source="header", name="x-user-id")
    assert str(StickyKey.parse("field:user_id")) == "field:user_id"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"model": "-bad"}, "model"),
        ({"traffic": [{"target": "champion", "weight": 0}]}, "traffic.0.weight"),
        ({"traffic": [{"target": "champion", "weight": float("nan")}]}, "traffic.0.weight"),
        ({"traffic": [{"target": "champion", "weight": True}]}, "traffic.0.weight"),
        ({"traffic": "v0=1"}, "traffic.0.target"),
        ({"shadow": ["not/valid"]}, "shadow.0"),
        ({"sticky": {"source": "header", "name": "a b"}}, "sticky.name"),
        ({"batching": {"max_batch_size": 0}}, "batching.max_batch_size"),
        ({"batching": {"max_batch_size": 70_000}}, "batching.max_batch_size"),
        ({"batching": {"max_wait_ms": 1001}}, "batching.max_wait_ms"),
        ({"cache": {"max_entries": 0}}, "cache.max_entries"),
        ({"replicas": 3}, "replicas"),
    ],
)
def test_a_bad_spec_is_a_validation_error_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        DeploymentSpec(**{"name": "d", "model": "m", **fields})
    assert [e["field"] for e in info.value.details["errors"]] == [field]
    assert info.value.message.startswith(f"invalid deployment spec: {field}: ")


def test_a_queue_smaller_than_a_batch_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_queue_rows"):
        BatchingOptions(max_batch_size=100, max_queue_rows=99)


def test_versions_count_as_one_target_however_written() -> None:
    with pytest.raises(ValidationError, match="more than once"):
        DeploymentSpec(name="d", model="m", traffic="3=1,V3=1")


def test_a_shadow_cannot_also_take_traffic() -> None:
    with pytest.raises(ValidationError, match="already in traffic"):
        DeploymentSpec(name="d", model="m", traffic="champion=1,v2=1", shadow=["2"])


def test_specs_are_frozen() -> None:
    spec = DeploymentSpec(name="d", model="m")
    with pytest.raises(ValueError, match="frozen"):
        spec.model = "other"  # type: ignore[misc]


def test_target_uris_name_versions_and_aliases() -> None:
    spec = DeploymentSpec(name="d", model="fraud")
    assert spec.target_uri("v3") == "models:/fraud/3"
    assert spec.target_uri("3") == "models:/fraud/3"
    assert spec.target_uri("champion") == "models:/fraud@champion"


def test_the_json_form_round_trips() -> None:
    spec = DeploymentSpec(
        name="d", model="m", traffic="a=3,b=1", shadow=["v2"], sticky="field:user", cache={}
    )
    assert DeploymentSpec(**spec.to_dict()) == spec


def test_an_unknown_target_state_is_refused() -> None:
    with pytest.raises(ValidationError, match="serving, loading, failed"):
        TargetStatus("champion", 1, "broken")  # type: ignore[arg-type]
