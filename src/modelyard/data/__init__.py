"""Data pipelines: sources, checks, versioned datasets and lineage.

Example:
    >>> from modelyard.data import Pipeline, checks, csv_source
    >>> tx = Pipeline("transactions")
    >>> tx.source("raw", csv_source("raw/*.csv"))
    >>> tx.load("transactions", "raw", checks=[checks.not_null("amount")])
    >>> ws.pipelines.run(tx).outputs
"""

from __future__ import annotations

from modelyard.data import checks
from modelyard.data._dataset_source import DatasetSource, dataset_source
from modelyard.data._datasets import DatasetStore, parse_ref, version_id
from modelyard.data._diff import ColumnDiff, DatasetDiff, DriftHint, DriftLevel, StatChange
from modelyard.data._diff import diff as diff_versions
from modelyard.data._files import FileSource, csv_source, parquet_source
from modelyard.data._lineage import LineageEdge, LineageGraph, LineageNode, NodeKind, lineage
from modelyard.data._openlineage import openlineage_events
from modelyard.data._pipeline import Load, Pipeline, Step
from modelyard.data._runner import PipelineRunner, ProgressFn
from modelyard.data._schedule import next_fire
from modelyard.data._source import Extract, Source, SourceContext
from modelyard.data._sql import sql_source
from modelyard.data._stream_source import stream_source
from modelyard.data._streams import open_stream
from modelyard.data._types import (
    CheckResult,
    ColumnStats,
    DatasetSummary,
    DatasetVersion,
    LoadMode,
    Part,
    PipelineRun,
    Policy,
    RunStatus,
)

__all__ = [
    "CheckResult",
    "ColumnDiff",
    "ColumnStats",
    "DatasetDiff",
    "DatasetSource",
    "DatasetStore",
    "DatasetSummary",
    "DatasetVersion",
    "DriftHint",
    "DriftLevel",
    "Extract",
    "FileSource",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "Load",
    "LoadMode",
    "NodeKind",
    "Part",
    "Pipeline",
    "PipelineRun",
    "PipelineRunner",
    "Policy",
    "ProgressFn",
    "RunStatus",
    "Source",
    "SourceContext",
    "StatChange",
    "Step",
    "checks",
    "csv_source",
    "dataset_source",
    "diff_versions",
    "lineage",
    "next_fire",
    "open_stream",
    "openlineage_events",
    "parquet_source",
    "parse_ref",
    "sql_source",
    "stream_source",
    "version_id",
]
