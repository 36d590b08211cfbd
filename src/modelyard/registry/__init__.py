"""The model registry: flavors, signatures, versions, aliases, URIs and verified loading."""

from __future__ import annotations

from modelyard.registry._loaded import LoadedModel
from modelyard.registry._registry import Registry
from modelyard.registry._signature import (
    ColumnSpec,
    Signature,
    TensorSpec,
    coerce_input,
    infer_signature,
)
from modelyard.registry._types import AliasAction, AliasEvent, ModelVersion, RegisteredModel
from modelyard.registry._uri import ModelRef, parse_model_uri
from modelyard.registry.flavors import FLAVOR_NAMES, Flavor, flavor_for, get_flavor

__all__ = [
    "FLAVOR_NAMES",
    "AliasAction",
    "AliasEvent",
    "ColumnSpec",
    "Flavor",
    "LoadedModel",
    "ModelRef",
    "ModelVersion",
    "RegisteredModel",
    "Registry",
    "Signature",
    "TensorSpec",
    "coerce_input",
    "flavor_for",
    "get_flavor",
    "infer_signature",
    "parse_model_uri",
]
