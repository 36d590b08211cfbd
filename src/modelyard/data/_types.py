"""Value objects of the data layer: dataset versions, their statistics, pipeline runs and
check reports. All are frozen and convert to the JSON stored in the metadata database."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "CheckResult",
    "ColumnStats",
    "DatasetSummary",
    "DatasetVersion",
    "LoadMode",
    "Part",
    "PipelineRun",
    "Policy",
    "RunStatus",
]


class Policy(enum.StrEnum):
    """What a failing check does to the load."""

    FAIL = "fail"  # nothing is written; the run fails
    WARN = "warn"  # the load goes on; the report says what failed
    QUARANTINE = "quarantine"  # failing rows go to the quarantine dataset, the rest loads


class LoadMode(enum.StrEnum):
    APPEND = "append"  # a new version is the previous one plus the new rows
    REPLACE = "replace"  # a new version holds only what this run produced


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    SKIPPED = "SKIPPED"  # nothing new to load: no version was made
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Part:
    """One Parquet file of a dataset version, stored in the artifact store."""

    digest: str
    rows: int
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """Statistics of one column; numeric fields are None where they do not apply."""

    name: str
    type: str
    count: int
    nulls: int
    distinct: int | None = None  # approximate (HyperLogLog)
    min: Any = None
    max: Any = None
    mean: float | None = None
    # equal-width bins over [min, max] for numbers: edges (bins + 1) and counts;
    # for strings and booleans the most frequent values and their counts
    histogram: dict[str, list[Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnStats:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """An immutable version of a dataset: Parquet parts plus schema and statistics.

    ``id`` is the sha256 of the ordered part digests, so the same content always has the
    same id; ``number`` counts the versions of one dataset from 1.
    """

    dataset: str
    number: int
    id: str
    parent_id: str | None
    run_id: str | None
    rows: int
    size: int
    schema: tuple[tuple[str, str], ...]
    stats: tuple[ColumnStats, ...]
    parts: tuple[Part, ...]
    created_at: int

    @property
    def ref(self) -> str:
        """``dataset@id`` with the id shortened to 12 hex digits, as shown to users."""
        return f"{self.dataset}@{self.id[:12]}"

    def column(self, name: str) -> ColumnStats:
        for stats in self.stats:
            if stats.name == name:
                return stats
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "number": self.number,
            "id": self.id,
            "ref": self.ref,
            "parent_id": self.parent_id,
            "run_id": self.run_id,
            "rows": self.rows,
            "size": self.size,
            "schema": [{"name": n, "type": t} for n, t in self.schema],
            "stats": [s.to_dict() for s in self.stats],
            "parts": [p.to_dict() for p in self.parts],
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    name: str
    kind: str
    versions: int
    latest: DatasetVersion | None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check, reported as Great Expectations and Pandera do: counts,
    the share of failing rows and a sample of the failing values."""

    name: str
    check: str
    policy: Policy
    passed: bool
    column: str | None = None
    rows: int = 0  # rows the check looked at
    failed_rows: int = 0
    failed_pct: float = 0.0
    sample: tuple[Any, ...] = ()
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["policy"] = str(self.policy)
        data["sample"] = list(self.sample)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        values = dict(data)
        values["policy"] = Policy(values["policy"])
        values["sample"] = tuple(values.get("sample", ()))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """One run of a pipeline: what it read, what it wrote, its check reports."""

    id: str
    pipeline: str
    status: RunStatus
    logical_date: str | None
    started_at: int
    ended_at: int | None
    attempts: int
    code: dict[str, Any]  # module, source digest, git commit
    inputs: list[dict[str, Any]]  # what each source read (files + hashes, offsets, ...)
    outputs: list[dict[str, Any]]  # dataset versions written, quarantined rows
    report: dict[str, list[dict[str, Any]]]  # dataset name -> check results
    error: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data
