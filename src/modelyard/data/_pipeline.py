"""Pipeline definitions: sources, steps and loads, wired into a DAG by their inputs.

A pipeline is plain Python in the workspace's ``pipelines/`` folder. Steps are functions;
their parameter names are the nodes they read (sources or other steps):

    tx = Pipeline("transactions", schedule="*/15 * * * *")
    tx.source("raw", csv_source("data/raw/*.csv", columns={"amount": "DOUBLE"}))

    @tx.sql
    def cleaned(raw):  # returns DuckDB SQL; ``raw`` is the view's quoted name
        return f"SELECT * FROM {raw} WHERE amount IS NOT NULL"

    @tx.transform  # Arrow in, Arrow out, called once per record batch
    def scored(cleaned: pa.RecordBatch) -> pa.RecordBatch: ...

    tx.load("transactions", "scored", checks=[checks.not_null("amount")])

A parameter named ``ds`` receives the run's logical date (YYYY-MM-DD, or None).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.data._source import Source
from modelyard.data._types import LoadMode
from modelyard.errors import PipelineDefinitionError, ValidationError

if TYPE_CHECKING:
    from modelyard.data._checks_base import Check

__all__ = ["Load", "Pipeline", "Step"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SPECIAL = frozenset({"ds"})


def _check_node_name(name: str) -> str:
    if not _NAME.match(name) or name in _SPECIAL:
        raise PipelineDefinitionError(
            f"{name!r} cannot name a source or step: use a Python identifier (not 'ds')"
        )
    return name


@dataclass(frozen=True, slots=True)
class Step:
    """A SQL or Arrow transform step."""

    name: str
    kind: str  # "sql" or "transform"
    fn: Callable[..., Any]
    inputs: tuple[str, ...]
    wants_ds: bool
    batched: bool = True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "inputs": list(self.inputs)}


@dataclass(frozen=True, slots=True)
class Load:
    """Where a node's rows go: a dataset, with checks and a load mode."""

    dataset: str
    node: str
    checks: tuple[Check, ...] = ()
    mode: LoadMode = LoadMode.APPEND
    quarantine: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "from": self.node,
            "mode": str(self.mode),
            "quarantine": self.quarantine,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass
class Pipeline:
    """A named DAG of sources, steps and loads (see the module docstring)."""

    name: str
    schedule: str | None = None
    description: str = ""
    retries: int | None = None  # None: the workspace's [data] retries
    sources: dict[str, Source] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)
    loads: list[Load] = field(default_factory=list)
    module: str | None = None  # the file it was defined in (set by discovery)

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z][A-Za-z0-9_.-]{0,254}$", self.name):
            raise PipelineDefinitionError(f"pipeline name {self.name!r} is not allowed")
        if self.schedule is not None:
            from modelyard.data._schedule import check_schedule

            check_schedule(self.schedule)

    # -- declaring -----------------------------------------------------------------------

    def source(self, name: str, source: Source) -> str:
        """Add ``source`` under ``name``; steps read it by that parameter name."""
        self._free(_check_node_name(name))
        if not isinstance(source, Source):
            raise PipelineDefinitionError(f"source {name!r} is not a Source: {source!r}")
        self.sources[name] = source
        return name

    def sql(self, fn: Callable[..., str] | None = None, *, name: str | None = None) -> Any:
        """Decorate a function returning DuckDB SQL over its inputs (a step)."""
        return self._step("sql", fn, name, batched=False)

    def transform(
        self, fn: Callable[..., Any] | None = None, *, name: str | None = None, batched: bool = True
    ) -> Any:
        """Decorate an Arrow function (a step). Batched (default): called once per record
        batch of its first input, further inputs given whole as tables; otherwise called
        once with every input as a ``pyarrow.Table``."""
        return self._step("transform", fn, name, batched=batched)

    def load(
        self,
        dataset: str,
        node: str | Callable[..., Any],
        *,
        checks: Sequence[Check] = (),
        mode: LoadMode | str = LoadMode.APPEND,
        quarantine: str | None = None,
    ) -> Load:
        """Load the rows of ``node`` into ``dataset`` after ``checks``; rows failing a
        quarantine check go to ``quarantine`` (default ``<dataset>_quarantine``)."""
        from modelyard.data._datasets import check_name

        check_name(dataset)
        node_name = node if isinstance(node, str) else getattr(node, "__name__", "")
        try:
            mode = LoadMode(mode)
        except ValueError:
            raise ValidationError(f"load mode must be append or replace, not {mode!r}") from None
        if any(load.dataset == dataset for load in self.loads):
            raise PipelineDefinitionError(f"pipeline {self.name!r} loads {dataset!r} twice")
        load = Load(dataset, node_name, tuple(checks), mode, quarantine or f"{dataset}_quarantine")
        self.loads.append(load)
        return load

    # -- reading -------------------------------------------------------------------------

    def order(self) -> list[Step]:
        """The steps in an order where each comes after its inputs; checks the DAG."""
        if not self.loads:
            raise PipelineDefinitionError(f"pipeline {self.name!r} loads nothing: add a load()")
        known = set(self.sources) | set(self.steps)
        for step in self.steps.values():
            for dep in step.inputs:
                if dep not in known:
                    raise PipelineDefinitionError(
                        f"step {step.name!r} of pipeline {self.name!r} reads {dep!r}, which is "
                        f"neither a source nor a step (known: {', '.join(sorted(known))})"
                    )
        for load in self.loads:
            if load.node not in known:
                raise PipelineDefinitionError(
                    f"load into {load.dataset!r} reads unknown node {load.node!r}"
                )
        done: set[str] = set(self.sources)
        ordered: list[Step] = []
        pending = dict(self.steps)
        while pending:
            ready = [s for s in pending.values() if set(s.inputs) <= done]
            if not ready:
                raise PipelineDefinitionError(
                    f"steps of pipeline {self.name!r} form a cycle: {', '.join(sorted(pending))}"
                )
            for step in ready:
                ordered.append(step)
                done.add(step.name)
                del pending[step.name]
        return ordered

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schedule": self.schedule,
            "description": self.description,
            "module": self.module,
            "sources": {n: s.describe() for n, s in self.sources.items()},
            "steps": [s.describe() for s in self.order()],
            "loads": [load.describe() for load in self.loads],
        }

    # -- helpers -------------------------------------------------------------------------

    def _free(self, name: str) -> None:
        if name in self.sources or name in self.steps:
            raise PipelineDefinitionError(f"pipeline {self.name!r} already has a node {name!r}")

    def _step(self, kind: str, fn: Callable[..., Any] | None, name: str | None, *, batched: bool
              ) -> Any:  # fmt: skip
        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            step_name = _check_node_name(name or func.__name__)
            self._free(step_name)
            params = list(inspect.signature(func).parameters)
            inputs = tuple(p for p in params if p not in _SPECIAL)
            if kind == "transform" and not inputs:
                raise PipelineDefinitionError(f"transform {step_name!r} reads no input")
            self.steps[step_name] = Step(
                step_name, kind, func, inputs, wants_ds="ds" in params, batched=batched
            )
            return func

        return register(fn) if fn is not None else register
