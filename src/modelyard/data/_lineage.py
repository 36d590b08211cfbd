"""Lineage: walk upstream from a model, a training run or a dataset version to the source
files, stream ranges, queries and code that produced it.

Every object records what it came from: a model version its training run, a training run
its ``dataset_version`` inputs, a dataset version the pipeline run that committed it (and,
when appended, its parent), a pipeline run what each source read and its code version.
:func:`lineage` follows those ids into one graph; :func:`openlineage_events` turns a
pipeline run into OpenLineage run events for Marquez, DataHub or any OpenLineage backend.

Example:
    >>> graph = lineage("models:/fraud@champion", datasets=ws.datasets, runner=ws.pipelines,
    ...                 tracking=ws.tracking, registry=ws.registry)
    >>> [f.attributes["digest"] for f in graph.source_files()]
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.data._types import DatasetVersion, PipelineRun
from modelyard.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from modelyard.data._datasets import DatasetStore
    from modelyard.data._runner import PipelineRunner
    from modelyard.registry import ModelVersion, Registry
    from modelyard.tracking import Run, TrackingStore

__all__ = ["LineageEdge", "LineageGraph", "LineageNode", "NodeKind", "lineage"]

_HEX = re.compile(r"^[0-9a-f]{4,32}$")


class NodeKind(enum.StrEnum):
    MODEL_VERSION = "model_version"
    TRAINING_RUN = "training_run"
    DATASET_VERSION = "dataset_version"
    PIPELINE_RUN = "pipeline_run"
    SOURCE_FILE = "source_file"
    STREAM = "stream"
    SQL = "sql"
    CODE = "code"
    OTHER = "other"  # an input kind this walk does not follow (feature views, ...)


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One object in the graph; ``attributes`` hold what identifies it (digests, ids)."""

    id: str
    kind: NodeKind
    label: str
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "label": self.label,
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``upstream`` was used to make ``downstream``; ``relation`` reads from the downstream
    side: a dataset version is ``made by`` a run, a run ``read`` a file and ``ran`` code, an
    appended version ``appends to`` its parent, a model is ``trained by`` a run, a training
    run used a dataset version in its input's role (``training``)."""

    upstream: str
    downstream: str
    relation: str

    def to_dict(self) -> dict[str, Any]:
        return {"upstream": self.upstream, "downstream": self.downstream, "relation": self.relation}


@dataclass(frozen=True, slots=True)
class LineageGraph:
    """The upstream graph of ``root``: nodes in the order found, edges upstream→downstream."""

    root: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def node(self, node_id: str) -> LineageNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def upstream(self, node_id: str) -> list[tuple[LineageEdge, LineageNode]]:
        """The direct inputs of ``node_id`` with the edges that lead from them."""
        return [(e, self.node(e.upstream)) for e in self.edges if e.downstream == node_id]

    def of_kind(self, kind: NodeKind) -> list[LineageNode]:
        return [n for n in self.nodes if n.kind is kind]

    def source_files(self) -> list[LineageNode]:
        """Every source file reached (attributes ``uri``, ``digest``, ``size``)."""
        return self.of_kind(NodeKind.SOURCE_FILE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }


def lineage(
    ref: str,
    *,
    datasets: DatasetStore,
    runner: PipelineRunner,
    tracking: TrackingStore,
    registry: Registry | None = None,
) -> LineageGraph:
    """The upstream lineage of ``ref``.

    Args:
        ref: a model URI (``models:/fraud/1``, ``models:/fraud@champion``), a dataset
            version ref (``transactions@v2``, ``transactions@9f2c4e``), a pipeline run id
            or a tracking run id (or a unique prefix of either).
        datasets: the workspace's dataset store.
        runner: the workspace's pipeline runner (for pipeline runs).
        tracking: the workspace's tracking store (for training runs).
        registry: the model registry; needed only for model URIs.

    Returns:
        The graph of everything ``ref`` was made from, down to source files and code.

    Raises:
        NotFoundError: ``ref`` names nothing known.
    """
    walk = _Walk(datasets, runner, tracking, registry)
    return LineageGraph(walk.start(ref), tuple(walk.nodes.values()), tuple(walk.edges))


class _Walk:
    """An iterative upstream walk; every node is visited once, so cycles end."""

    def __init__(
        self,
        datasets: DatasetStore,
        runner: PipelineRunner,
        tracking: TrackingStore,
        registry: Registry | None,
    ) -> None:
        self.datasets = datasets
        self.runner = runner
        self.tracking = tracking
        self.registry = registry
        self.nodes: dict[str, LineageNode] = {}
        self.edges: dict[LineageEdge, None] = {}  # a set that keeps the order found
        self._todo: list[Callable[[], None]] = []

    def start(self, ref: str) -> str:
        root = self._root(ref.strip())
        while self._todo:
            self._todo.pop()()
        return root

    def _root(self, ref: str) -> str:
        if ref.startswith("models:/"):
            if self.registry is None:
                raise ValidationError("the lineage of a model needs the model registry")
            return self.model(self.registry.resolve(ref))
        if "@" in ref:
            return self.dataset(self.datasets.get(ref))
        if _HEX.match(ref):
            try:
                return self.pipeline_run(self.runner.get_run(ref))
            except NotFoundError:
                pass
            try:
                return self.training_run(self.tracking.get_run(self.tracking.resolve_run_id(ref)))
            except NotFoundError:
                pass
        try:
            return self.dataset(self.datasets.get(ref))
        except (NotFoundError, ValidationError):
            raise NotFoundError(
                f"{ref!r} is neither a model URI, a dataset version, a pipeline run nor a "
                "training run",
                details={"ref": ref},
            ) from None

    # -- nodes ---------------------------------------------------------------------------

    def add(self, node: LineageNode, downstream: str | None = None, relation: str = "") -> bool:
        """Add ``node`` (and the edge to ``downstream``); False if it was there already."""
        if downstream is not None:
            self.edges.setdefault(LineageEdge(node.id, downstream, relation))
        if node.id in self.nodes:
            return False
        self.nodes[node.id] = node
        return True

    def model(
        self, version: ModelVersion, downstream: str | None = None, relation: str = ""
    ) -> str:
        node_id = f"model:{version.name}/{version.version}"
        attrs = {
            "name": version.name,
            "version": version.version,
            "flavor": version.flavor,
            "digest": version.digest,
            "aliases": list(version.aliases),
        }
        node = LineageNode(node_id, NodeKind.MODEL_VERSION, version.uri, attrs)
        if self.add(node, downstream, relation):
            run_id = version.run_id
            if run_id is not None:
                self._later(self._training_run_id, run_id, node_id, "trained by")
        return node_id

    def _training_run_id(self, run_id: str, downstream: str, relation: str) -> None:
        try:
            run = self.tracking.get_run(run_id)
        except NotFoundError:
            self._missing(f"run:{run_id}", NodeKind.TRAINING_RUN, run_id, downstream, relation)
            return
        self.training_run(run, downstream, relation)

    def training_run(self, run: Run, downstream: str | None = None, relation: str = "") -> str:
        node_id = f"run:{run.id}"
        attrs = {
            "id": run.id,
            "name": run.name,
            "experiment": run.experiment,
            "status": str(run.status),
            "git_commit": run.git_commit,
        }
        label = f"{run.experiment}/{run.name}"
        if self.add(
            LineageNode(node_id, NodeKind.TRAINING_RUN, label, attrs), downstream, relation
        ):
            for item in run.inputs:
                self._later(self._run_input, item.kind, item.ref, item.role, item.digest, node_id)
        return node_id

    def _run_input(
        self, kind: str, ref: str, role: str, digest: str | None, downstream: str
    ) -> None:
        if kind == "dataset_version":
            self._dataset_ref(ref, downstream, role)
        elif kind == "model_version" and self.registry is not None:
            try:
                self.model(self.registry.resolve(ref), downstream, role)
            except (NotFoundError, ValidationError):
                self._missing(f"model:{ref}", NodeKind.MODEL_VERSION, ref, downstream, role)
        elif kind == "file":
            attrs = {"uri": ref, "digest": digest, "size": None}
            self.add(
                LineageNode(f"file:{digest}:{ref}", NodeKind.SOURCE_FILE, ref, attrs),
                downstream,
                role,
            )
        else:
            attrs = {"kind": kind, "ref": ref, "digest": digest}
            self.add(
                LineageNode(f"{kind}:{ref}", NodeKind.OTHER, f"{kind} {ref}", attrs),
                downstream,
                role,
            )

    def _dataset_ref(self, ref: str, downstream: str, relation: str) -> None:
        try:
            version = self.datasets.get(ref)
        except (NotFoundError, ValidationError):
            self._missing(f"dataset:{ref}", NodeKind.DATASET_VERSION, ref, downstream, relation)
            return
        self.dataset(version, downstream, relation)

    def dataset(
        self, version: DatasetVersion, downstream: str | None = None, relation: str = ""
    ) -> str:
        node_id = f"dataset:{version.dataset}@{version.id}"
        attrs = {
            "dataset": version.dataset,
            "number": version.number,
            "id": version.id,
            "rows": version.rows,
            "size": version.size,
            "run_id": version.run_id,
            "created_at": version.created_at,
        }
        label = f"{version.dataset}@v{version.number} ({version.id[:12]})"
        node = LineageNode(node_id, NodeKind.DATASET_VERSION, label, attrs)
        if not self.add(node, downstream, relation):
            return node_id
        if version.run_id is not None:
            self._later(self._producer, version.run_id, node_id)
        if version.parent_id is not None:
            self._later(self._parent, f"{version.dataset}@{version.parent_id}", version, node_id)
        return node_id

    def _producer(self, run_id: str, downstream: str) -> None:
        """The run that committed a version: a pipeline run, else a tracking run."""
        try:
            self.pipeline_run(self.runner.get_run(run_id), downstream, "made by")
            return
        except NotFoundError:
            pass
        self._training_run_id(run_id, downstream, "made by")

    def _parent(self, ref: str, child: DatasetVersion, downstream: str) -> None:
        """An appended version holds its parent's rows: the parent is upstream of it."""
        try:
            parent = self.datasets.get(ref)
        except (NotFoundError, ValidationError):
            return
        if child.parts[: len(parent.parts)] == parent.parts:
            self.dataset(parent, downstream, "appends to")

    def pipeline_run(
        self, run: PipelineRun, downstream: str | None = None, relation: str = ""
    ) -> str:
        node_id = f"pipeline_run:{run.id}"
        attrs = {
            "id": run.id,
            "pipeline": run.pipeline,
            "status": str(run.status),
            "logical_date": run.logical_date,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "error": run.error,
        }
        label = f"{run.pipeline} run {run.id[:12]}"
        if not self.add(
            LineageNode(node_id, NodeKind.PIPELINE_RUN, label, attrs), downstream, relation
        ):
            return node_id
        for item in run.inputs:
            self._later(self._pipeline_input, item, run.id, node_id)
        code = run.code or {}
        if code.get("module") or code.get("digest"):
            key = code.get("digest") or code.get("module")
            label = f"{code.get('module') or '?'} ({str(code.get('digest') or '')[7:19]})"
            self.add(LineageNode(f"code:{key}", NodeKind.CODE, label, dict(code)), node_id, "ran")
        return node_id

    def _pipeline_input(self, item: Mapping[str, Any], run_id: str, downstream: str) -> None:
        source, kind = item.get("source", "?"), item.get("kind")
        if kind == "files":
            for f in item.get("files", []):
                attrs = {
                    "uri": f["uri"],
                    "digest": f["digest"],
                    "size": f.get("size"),
                    "source": source,
                    "format": item.get("format"),
                }
                node = LineageNode(
                    f"file:{f['digest']}:{f['uri']}", NodeKind.SOURCE_FILE, f["uri"], attrs
                )
                self.add(node, downstream, "read")
        elif kind == "dataset":
            self._dataset_ref(f"{item['dataset']}@{item['version']}", downstream, "read")
        elif kind == "stream":
            attrs = {k: v for k, v in item.items() if k != "kind"}
            label = (
                f"{item.get('backend', 'stream')}:{item.get('stream')} "
                f"{item.get('first_id')}..{item.get('last_id')}"
            )
            node_id = (
                f"stream:{item.get('backend')}:{item.get('stream')}:"
                f"{item.get('first_id')}:{item.get('last_id')}"
            )
            self.add(LineageNode(node_id, NodeKind.STREAM, label, attrs), downstream, "read")
        else:
            node_kind = NodeKind.SQL if kind == "sql" else NodeKind.OTHER
            attrs = {k: v for k, v in item.items() if k != "kind"}
            self.add(
                LineageNode(
                    f"{kind}:{run_id}:{source}",
                    node_kind,
                    f"{kind} {source} {item.get('url') or ''}".strip(),
                    attrs,
                ),
                downstream,
                "read",
            )

    # -- helpers -------------------------------------------------------------------------

    def _later(self, step: Callable[..., None], *args: Any) -> None:
        self._todo.append(functools.partial(step, *args))

    def _missing(
        self, node_id: str, kind: NodeKind, ref: str, downstream: str, relation: str
    ) -> None:
        node = LineageNode(node_id, kind, f"{ref} (missing)", {"ref": ref, "missing": True})
        self.add(node, downstream, relation)
