"""Job kinds: a name, a payload model and a handler ``(ctx, payload) -> result``.

A kind is declared with :func:`job_kind` at module level. The built-in kinds live in this
package; more come from the modules (or workspace ``.py`` files) that ``[jobs]
kind_modules`` names: every :class:`JobKind` object at their top level is registered.

Example:
    >>> from pydantic import BaseModel
    >>> class Echo(BaseModel):
    ...     text: str
    >>> @job_kind("echo", payload=Echo)
    ... def echo(ctx, payload: Echo) -> dict[str, str]:
    ...     return {"text": payload.text}
    >>> JobKinds([echo]).get("echo").parse({"text": "hi"})
    {'text': 'hi'}
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pydantic
from pydantic import BaseModel, JsonValue, TypeAdapter

from modelyard._modules import load_module
from modelyard.errors import ConfigError, UnknownJobKindError, ValidationError

if TYPE_CHECKING:
    from modelyard.jobs._context import JobContext

__all__ = ["Handler", "JobKind", "JobKinds", "job_kind"]

Handler = Callable[["JobContext", Any], Mapping[str, Any] | None]
_ANY_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])
_BUILTIN = (
    "modelyard.jobs._builtin",
    "modelyard.jobs._batch_predict",
    "modelyard.automation._kinds",
)


@dataclass(frozen=True, slots=True)
class JobKind:
    """What a job of one kind runs.

    Attributes:
        name: the kind's name, as jobs are enqueued with it.
        handler: called with the job's context and its payload (an instance of ``payload``
            when a model is given, else the JSON object); returns the result to record.
        payload: a pydantic model the payload must validate against at enqueue time.
        max_attempts: attempts before a job is dead; None uses ``[jobs] max_attempts``.
        description: one line for listings (the handler's docstring by default).
        heavy: the handler runs where the workspace's ``compute`` setting says: in the
            worker's process when it is ``local``, as a Ray task on the cluster otherwise
            (see :meth:`execute`).
    """

    name: str
    handler: Handler
    payload: type[BaseModel] | None = None
    max_attempts: int | None = None
    description: str = ""
    heavy: bool = False

    def parse(self, payload: Any) -> dict[str, Any]:
        """The payload validated and made JSON-ready; ValidationError naming each problem."""
        try:
            if self.payload is None:
                return dict(_ANY_OBJECT.validate_python(payload))
            return self.payload.model_validate(payload).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors()
            )
            raise ValidationError(
                f"bad payload for job kind {self.name!r}: {problems}",
                details={"kind": self.name, "errors": exc.errors(include_url=False)},
            ) from None

    def execute(self, ctx: JobContext, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Run the job where it belongs: a heavy kind on the workspace's Ray as one task
        (:mod:`modelyard.compute._jobs_ray`) when ``compute`` names one, everything else
        here with :meth:`run`."""
        if self.heavy and ctx.workspace.settings.compute != "local":
            from modelyard.compute._jobs_ray import run_job_on_ray
            from modelyard.compute._ray import RayCompute

            compute = ctx.workspace.compute
            assert isinstance(compute, RayCompute)
            return run_job_on_ray(compute, self, ctx, payload)
        return self.run(ctx, payload)

    def run(self, ctx: JobContext, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Call the handler with the payload as it declared it; its result must be a JSON
        object (ValidationError otherwise: the job fails, as a retry would not help)."""
        value = payload if self.payload is None else self.payload.model_validate(payload)
        result = self.handler(ctx, value) or {}
        try:
            return dict(_ANY_OBJECT.validate_python(result))
        except pydantic.ValidationError as exc:
            raise ValidationError(
                f"job kind {self.name!r} returned a result that is not a JSON object: "
                f"{exc.errors()[0]['msg']}"
            ) from None


def job_kind(
    name: str,
    *,
    payload: type[BaseModel] | None = None,
    max_attempts: int | None = None,
    heavy: bool = False,
) -> Callable[[Handler], JobKind]:
    """Declare a job kind from a handler function (used as a decorator); ``heavy`` kinds
    run on the workspace's compute backend."""

    def declare(handler: Handler) -> JobKind:
        doc = (handler.__doc__ or "").strip().splitlines()
        return JobKind(name, handler, payload, max_attempts, doc[0] if doc else "", heavy)

    return declare


class JobKinds:
    """The kinds a queue accepts, by name."""

    def __init__(self, kinds: Iterable[JobKind] = ()) -> None:
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            self.add(kind)

    @classmethod
    def load(cls, modules: Sequence[str] = (), workspace: Path | None = None) -> JobKinds:
        """The built-in kinds plus those of ``modules`` (names, or ``.py`` files relative
        to ``workspace``)."""
        kinds = cls()
        for name in (*_BUILTIN, *modules):
            kinds.add_module(_import(name, workspace))
        return kinds

    def add(self, kind: JobKind) -> None:
        """Register ``kind``; a different kind of the same name is a ConfigError."""
        known = self._kinds.get(kind.name)
        if known is not None and known.handler is not kind.handler:
            raise ConfigError(f"job kind {kind.name!r} is defined twice")
        self._kinds[kind.name] = kind

    def add_module(self, module: ModuleType) -> None:
        """Register every :class:`JobKind` at the top level of ``module``."""
        for value in vars(module).values():
            if isinstance(value, JobKind):
                self.add(value)

    def get(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownJobKindError(name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds[name] for name in self.names())


def _import(name: str, workspace: Path | None) -> ModuleType:
    if name.endswith(".py"):
        path = Path(name).expanduser()
        if not path.is_absolute() and workspace is not None:
            path = workspace / path
        if not path.is_file():
            raise ConfigError(f"job kind module {path} does not exist ([jobs] kind_modules)")
        return load_module(path, "modelyard_jobs", ValidationError)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"cannot import job kind module {name!r}: {exc}") from None
