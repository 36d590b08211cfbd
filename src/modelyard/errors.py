"""Every error modelyard raises, rooted at :class:`ModelyardError`.

```
ModelyardError
 ├── ConfigError                 (ValueError)   bad modelyard.toml or MODELYARD_* variable
 ├── ValidationError             (ValueError)   bad input from a caller
 │    ├── FilterSyntaxError                      a search filter that does not parse
 │    ├── SourceDataError                        malformed source data (file and line given)
 │    ├── CheckFailedError                       a data check failed under the fail policy
 │    ├── PipelineDefinitionError                a pipeline whose steps do not form a DAG
 │    ├── MalformedBodyError                     a request body that cannot be read at all
 │    ├── UnknownJobKindError                    a job kind no module registered
 │    └── ReservedAliasError                     `latest`, `v<N>` or a malformed alias
 ├── NotFoundError               (LookupError)  something named does not exist
 │    ├── ExperimentNotFoundError
 │    ├── RunNotFoundError
 │    ├── ModelNotFoundError
 │    ├── ModelVersionNotFoundError
 │    ├── AliasNotFoundError
 │    ├── ArtifactNotFoundError
 │    ├── DeploymentNotFoundError
 │    ├── DatasetNotFoundError
 │    ├── DatasetVersionNotFoundError
 │    ├── PipelineNotFoundError
 │    ├── FeatureNotFoundError                  an unknown entity, feature view, feature or service
 │    ├── SourceNotFoundError    (FileNotFoundError) a source file or glob that matches nothing
 │    ├── VersionNotServedError                  a version no target of a deployment serves
 │    ├── JobNotFoundError
 │    ├── PredictionNotFoundError                a prediction id no server logged
 │    ├── AlertNotFoundError                     an unknown alert or alert rule
 │    └── ApiKeyNotFoundError
 ├── ConflictError                              the request contradicts stored state
 │    ├── ParamConflictError                     a param logged again with another value
 │    ├── JobStateError                          a job in a state that forbids the action
 │    ├── LabelConflictError                     a prediction labelled again, differently
 │    └── RunNotActiveError                      writing to a run that has ended
 ├── AuthenticationError         (PermissionError) no valid API key was given
 ├── PermissionDeniedError       (PermissionError) the key lacks the scope a route needs
 ├── RateLimitedError                           too many requests for one key
 ├── OverloadedError                            a queue is full; retry after a pause
 ├── PayloadTooLargeError        (ValueError)   a request body over the configured limit
 ├── IntegrityError                             stored bytes do not match their digest
 ├── JobCancelledError                          a running job whose cancel was requested
 ├── FlavorError                 (TypeError)    a model no flavor can save, load or predict
 ├── ModelOutputError            (RuntimeError) a model answered the wrong number of rows
 ├── StepFailedError             (RuntimeError) a pipeline step's own code raised
 └── StoreUnavailableError       (ConnectionError) the metadata database cannot be reached
      └── SourceUnavailableError                 a source database or stream cannot be reached
```

Each error carries a stable ``code`` (the HTTP layer maps it to a status) and a
``details`` mapping with the facts behind the message. Leaf classes build their own
message from those facts, so the same situation always reads the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AlertNotFoundError",
    "AliasNotFoundError",
    "ApiKeyNotFoundError",
    "ArtifactNotFoundError",
    "AuthenticationError",
    "CheckFailedError",
    "ConfigError",
    "ConflictError",
    "DatasetNotFoundError",
    "DatasetVersionNotFoundError",
    "DeploymentNotFoundError",
    "ExperimentNotFoundError",
    "FeatureNotFoundError",
    "FilterSyntaxError",
    "FlavorError",
    "IntegrityError",
    "JobCancelledError",
    "JobNotFoundError",
    "JobStateError",
    "LabelConflictError",
    "MalformedBodyError",
    "ModelNotFoundError",
    "ModelOutputError",
    "ModelVersionNotFoundError",
    "ModelyardError",
    "NotFoundError",
    "OverloadedError",
    "ParamConflictError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PipelineDefinitionError",
    "PipelineNotFoundError",
    "PredictionNotFoundError",
    "RateLimitedError",
    "ReservedAliasError",
    "RunNotActiveError",
    "RunNotFoundError",
    "SourceDataError",
    "SourceNotFoundError",
    "SourceUnavailableError",
    "StepFailedError",
    "StoreUnavailableError",
    "UnknownJobKindError",
    "ValidationError",
    "VersionNotServedError",
]


class ModelyardError(Exception):
    """Root of every error modelyard raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the HTTP layer and ``--json`` CLI output use."""
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(ModelyardError, ValueError):
    """The workspace configuration is invalid."""

    code = "config_error"


class ValidationError(ModelyardError, ValueError):
    """Input from a caller is malformed or out of range; nothing was changed."""

    code = "validation_error"


class FilterSyntaxError(ValidationError):
    """A run search filter does not parse; ``position`` is the 0-based offset of the fault."""

    code = "filter_syntax_error"

    def __init__(self, text: str, position: int, reason: str) -> None:
        marked = f"{text[:position]}▶{text[position:]}"
        super().__init__(
            f"invalid filter at position {position} (marked ▶): {reason}: {marked}",
            details={"filter": text, "position": position, "reason": reason},
        )
        self.position = position


class MalformedBodyError(ValidationError):
    """A request body that cannot be read at all: not JSON, or broken binary framing."""

    code = "malformed_body"


class ReservedAliasError(ValidationError):
    """An alias that is reserved (``latest``, ``v<N>``) or not made of ``[A-Za-z0-9_-]``."""

    code = "reserved_alias"

    def __init__(self, alias: str, reason: str) -> None:
        super().__init__(f"alias {alias!r} is not allowed: {reason}", details={"alias": alias})


class NotFoundError(ModelyardError, LookupError):
    """Something that was named does not exist."""

    code = "not_found"

    def __str__(self) -> str:  # LookupError would repr() the message otherwise
        return self.message


class ExperimentNotFoundError(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"experiment {name!r} does not exist", details={"experiment": name})


class RunNotFoundError(NotFoundError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} does not exist", details={"run_id": run_id})


class ModelNotFoundError(NotFoundError):
    def __init__(self, name: str, known: list[str] | None = None) -> None:
        hint = f" (registered models: {', '.join(known)})" if known else ""
        super().__init__(f"model {name!r} is not registered{hint}", details={"model": name})


class ModelVersionNotFoundError(NotFoundError):
    def __init__(self, name: str, version: int, latest: int) -> None:
        super().__init__(
            f"model {name!r} has no version {version} (versions 1..{latest})"
            if latest
            else f"model {name!r} has no versions",
            details={"model": name, "version": version, "latest": latest},
        )


class AliasNotFoundError(NotFoundError):
    def __init__(self, name: str, alias: str, known: list[str]) -> None:
        hint = f"; aliases: {', '.join(known)}" if known else "; it has no aliases"
        super().__init__(
            f"model {name!r} has no alias {alias!r}{hint}",
            details={"model": name, "alias": alias, "aliases": known},
        )


class ArtifactNotFoundError(NotFoundError):
    def __init__(self, digest: str, where: str) -> None:
        super().__init__(
            f"artifact {digest} is missing from the artifact store ({where})",
            details={"digest": digest, "location": where},
        )


class DeploymentNotFoundError(NotFoundError):
    def __init__(self, name: str, known: list[str]) -> None:
        hint = f"deployments: {', '.join(known)}" if known else "there are no deployments"
        super().__init__(
            f"deployment {name!r} does not exist ({hint})",
            details={"deployment": name, "deployments": known},
        )


class VersionNotServedError(NotFoundError):
    """A request pinned to a model version that no target of the deployment serves now."""

    def __init__(self, deployment: str, version: int | str, serving: list[int]) -> None:
        listed = ", ".join(map(str, serving)) or "none"
        super().__init__(
            f"deployment {deployment!r} does not serve version {version!r} (serving: {listed})",
            details={"deployment": deployment, "version": version, "serving": serving},
        )


class ApiKeyNotFoundError(NotFoundError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id!r} does not exist", details={"key_id": key_id})


class ConflictError(ModelyardError):
    """The request contradicts what is already stored; nothing was changed."""

    code = "conflict"


class ParamConflictError(ConflictError):
    """Params are immutable: the same key was logged again with a different value."""

    code = "param_conflict"

    def __init__(self, run_id: str, key: str, old: str, new: str) -> None:
        super().__init__(
            f"param {key!r} of run {run_id} is already {old!r}; params are immutable "
            f"and cannot be changed to {new!r}",
            details={"run_id": run_id, "key": key, "logged": old, "attempted": new},
        )


class RunNotActiveError(ConflictError):
    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(
            f"run {run_id} has ended ({status}); it takes no more params, metrics or artifacts",
            details={"run_id": run_id, "status": status},
        )


class AuthenticationError(ModelyardError, PermissionError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthenticated"


class PermissionDeniedError(ModelyardError, PermissionError):
    """A valid API key without the scope the action needs."""

    code = "permission_denied"

    def __init__(self, key_name: str, needed: str, has: list[str]) -> None:
        super().__init__(
            f"API key {key_name!r} lacks the {needed!r} scope (it has: {', '.join(has) or 'none'})",
            details={"key": key_name, "needed": needed, "scopes": has},
        )


class RateLimitedError(ModelyardError):
    """Too many requests for one API key; ``retry_after`` is in seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class OverloadedError(ModelyardError):
    """A bounded queue is full; ``retry_after`` is in seconds."""

    code = "overloaded"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class PayloadTooLargeError(ModelyardError, ValueError):
    code = "payload_too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"request body of {size} bytes is over the limit of {limit} bytes",
            details={"size": size, "limit": limit},
        )


class IntegrityError(ModelyardError):
    """Stored bytes no longer match the digest recorded for them."""

    code = "integrity_error"

    def __init__(self, expected: str, actual: str, where: str) -> None:
        super().__init__(
            f"artifact {expected} failed verification: its content hashes to {actual} "
            f"({where}); it was changed or corrupted after it was stored",
            details={"expected": expected, "actual": actual, "location": where},
        )


class FlavorError(ModelyardError, TypeError):
    """A model that no flavor can save, load or predict with."""

    code = "flavor_error"


class ModelOutputError(ModelyardError, RuntimeError):
    """A model answered a batch with outputs that do not have one row per input row: a
    bug in the model, not in the request (the server answers 500)."""

    code = "model_output_error"

    def __init__(self, deployment: str, version: int, rows: int, shape: list[int]) -> None:
        super().__init__(
            f"model version {version} of deployment {deployment!r} returned outputs of shape "
            f"{shape} for {rows} input rows; a model must return one output per input row",
            details={"deployment": deployment, "version": version, "rows": rows, "shape": shape},
        )


class StoreUnavailableError(ModelyardError, ConnectionError):
    """The metadata database (or another store) cannot be reached."""

    code = "store_unavailable"

    def __init__(self, what: str, url: str, reason: str) -> None:
        super().__init__(
            f"cannot reach the {what} at {url}: {reason}",
            details={"store": what, "url": url, "reason": reason},
        )


class SourceUnavailableError(StoreUnavailableError):
    """A source database or stream of a pipeline cannot be reached (a transient error:
    pipelines retry it with backoff)."""

    code = "source_unavailable"


class SourceDataError(ValidationError):
    """Source data that cannot be read as declared: a malformed CSV line, a value of the
    wrong type. ``location`` is ``file:line`` where it is known."""

    code = "source_data_error"

    def __init__(self, location: str, reason: str, *, line: str | None = None) -> None:
        shown = f" (line: {line!r})" if line else ""
        super().__init__(
            f"{location}: {reason}{shown}",
            details={"location": location, "reason": reason, "line": line},
        )


class CheckFailedError(ValidationError):
    """One or more data checks failed under the ``fail`` policy; nothing was written.
    ``report`` is the full check report (a dict, as stored with the run)."""

    code = "check_failed"

    def __init__(self, dataset: str, failed: list[str], report: dict[str, Any]) -> None:
        super().__init__(
            f"checks failed for dataset {dataset!r}: {'; '.join(failed)}; nothing was written",
            details={"dataset": dataset, "failed": failed, "report": report},
        )
        self.report = report


class PipelineDefinitionError(ValidationError):
    """A pipeline whose steps name unknown inputs, form a cycle or load nothing."""

    code = "pipeline_definition_error"


class DatasetNotFoundError(NotFoundError):
    def __init__(self, name: str, known: list[str] | None = None) -> None:
        hint = f" (datasets: {', '.join(known)})" if known else ""
        super().__init__(f"dataset {name!r} does not exist{hint}", details={"dataset": name})


class DatasetVersionNotFoundError(NotFoundError):
    def __init__(self, name: str, version: str) -> None:
        super().__init__(
            f"dataset {name!r} has no version {version!r}",
            details={"dataset": name, "version": version},
        )


class PipelineNotFoundError(NotFoundError):
    def __init__(self, name: str, known: list[str]) -> None:
        hint = f"pipelines: {', '.join(known)}" if known else "no pipelines are defined"
        super().__init__(
            f"pipeline {name!r} is not defined ({hint})",
            details={"pipeline": name, "pipelines": known},
        )


class SourceNotFoundError(NotFoundError, FileNotFoundError):
    """A source path or glob that matches no file."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"no source file matches {pattern!r}", details={"pattern": pattern})


class StepFailedError(ModelyardError, RuntimeError):
    """The code of a pipeline step raised; the run failed and wrote nothing."""

    code = "step_failed"

    def __init__(self, step: str, exc: BaseException) -> None:
        super().__init__(
            f"step {step!r} raised {type(exc).__name__}: {exc}",
            details={"step": step, "exception": type(exc).__name__},
        )


class FeatureNotFoundError(NotFoundError):
    """An entity, feature view, feature or feature service that is not registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        hint = f"{kind}s: {', '.join(known)}" if known else f"no {kind}s are registered"
        super().__init__(
            f"{kind} {name!r} does not exist ({hint})",
            details={"kind": kind, "name": name, "known": known},
        )


class PredictionNotFoundError(NotFoundError):
    """Feedback for a prediction id that no server logged (or not yet rolled anywhere)."""

    def __init__(self, prediction_ids: list[str]) -> None:
        shown = ", ".join(prediction_ids[:5]) + (" ..." if len(prediction_ids) > 5 else "")
        noun = "prediction" if len(prediction_ids) == 1 else f"{len(prediction_ids)} predictions"
        super().__init__(
            f"no {noun} logged with id {shown}", details={"prediction_ids": prediction_ids[:100]}
        )


class AlertNotFoundError(NotFoundError):
    def __init__(self, kind: str, name: str, known: list[str] | None = None) -> None:
        hint = f" ({kind}s: {', '.join(known)})" if known else ""
        super().__init__(f"{kind} {name!r} does not exist{hint}", details={kind: name})


class LabelConflictError(ConflictError):
    """A prediction already has another label: labels are immutable, like params."""

    code = "label_conflict"

    def __init__(self, prediction_id: str, stored: Any, given: Any) -> None:
        super().__init__(
            f"prediction {prediction_id} already has the label {stored!r}; "
            f"it cannot become {given!r}",
            details={"prediction_id": prediction_id, "stored": stored, "given": given},
        )


class JobNotFoundError(NotFoundError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} does not exist", details={"job_id": job_id})


class UnknownJobKindError(ValidationError):
    """A job kind that no registered module defines."""

    code = "unknown_job_kind"

    def __init__(self, kind: str, known: list[str]) -> None:
        super().__init__(
            f"job kind {kind!r} is not registered (kinds: {', '.join(known) or 'none'})",
            details={"kind": kind, "kinds": known},
        )


class JobStateError(ConflictError):
    """An action the job's state forbids (cancelling a finished job, retrying a queued one)."""

    code = "job_state_conflict"

    def __init__(self, job_id: str, action: str, status: str, allowed: list[str]) -> None:
        super().__init__(
            f"job {job_id} is {status}; only {', '.join(allowed)} jobs can be {action}",
            details={"job_id": job_id, "action": action, "status": status, "allowed": allowed},
        )


class JobCancelledError(ModelyardError):
    """Raised inside a running job (by its context) once a cancel was requested."""

    code = "job_cancelled"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} was cancelled", details={"job_id": job_id})
