"""A pipeline run as OpenLineage run events, for Marquez, DataHub or any OpenLineage backend.

A run becomes a START event (at its start, with what it read) and a COMPLETE event (at
its end, with the dataset versions it wrote), or FAIL with the error message. Source files
are datasets named as the OpenLineage naming spec says (``file`` + path locally,
``s3://bucket`` + key, ...) with their sha256 as the version; dataset versions are datasets
in the caller's namespace, versioned by their content id, with their schema and, as
outputs, the rows and bytes this run added.

Example:
    >>> run = ws.pipelines.runs("transactions", limit=1)[0]
    >>> events = openlineage_events(run, datasets=ws.datasets, namespace="modelyard")
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    JobFacet,
    RunFacet,
    dataset_version_dataset,
    datasource_dataset,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
)
from openlineage.client.serde import Serde

from modelyard.data._types import DatasetVersion, PipelineRun, RunStatus
from modelyard.errors import NotFoundError

if TYPE_CHECKING:
    from modelyard.data._datasets import DatasetStore

__all__ = ["PRODUCER", "file_dataset_name", "openlineage_events", "run_uuid"]

PRODUCER = "https://github.com/modelyard/modelyard"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def run_uuid(run_id: str) -> str:
    """The OpenLineage runId of a pipeline run: our 32-hex id read as a UUID (it is a
    uuid4), else a stable uuid5 of it."""
    if _HEX32.match(run_id):
        return str(uuid.UUID(hex=run_id))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelyard:pipeline-run:{run_id}"))


def openlineage_events(
    run: PipelineRun, *, datasets: DatasetStore, namespace: str
) -> list[dict[str, Any]]:
    """OpenLineage run events for ``run``, as JSON-able dicts, oldest first.

    Args:
        run: a pipeline run (any status).
        datasets: the dataset store, for the schemas of the versions read and written.
        namespace: the OpenLineage namespace of the job and of modelyard datasets.

    Returns:
        START, then COMPLETE (succeeded or skipped) or FAIL; only START while running.
    """
    from modelyard import __version__

    job_facets: dict[str, JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="MODELYARD", jobType="PIPELINE"
        )
    }
    module, commit = run.code.get("module"), run.code.get("git_commit")
    if module:
        job_facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="git" if commit else "file", url=f"file://{module}", path=module, version=commit
        )
    job = Job(namespace=namespace, name=run.pipeline, facets=job_facets)
    run_facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name="modelyard"
        )
    }
    if run.logical_date:
        run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=f"{run.logical_date}T00:00:00Z"
        )
    inputs = [d for item in run.inputs for d in _inputs(item, datasets, namespace)]
    uid = run_uuid(run.id)
    events = [
        RunEvent(
            eventType=RunState.START,
            eventTime=_time(run.started_at),
            producer=PRODUCER,
            run=Run(runId=uid, facets=run_facets),
            job=job,
            inputs=inputs,
        )
    ]
    if run.status is RunStatus.RUNNING:
        return [Serde.to_dict(e) for e in events]
    end_facets = dict(run_facets)
    state = RunState.COMPLETE
    if run.status is RunStatus.FAILED:
        state = RunState.FAIL
        error = run.error or {}
        end_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=str(error.get("message") or "the run failed"), programmingLanguage="python"
        )
    outputs = [_output(item, datasets, namespace) for item in run.outputs]
    events.append(
        RunEvent(
            eventType=state,
            eventTime=_time(run.ended_at or run.started_at),
            producer=PRODUCER,
            run=Run(runId=uid, facets=end_facets),
            job=job,
            inputs=inputs,
            outputs=outputs,
        )
    )
    return [Serde.to_dict(e) for e in events]


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat()


def file_dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of a file as the OpenLineage naming spec has it."""
    parts = urlsplit(uri)
    if len(parts.scheme) <= 1:  # a local path (or a Windows drive letter)
        return "file", uri
    if parts.scheme == "file":
        return ("file", parts.path) if not parts.netloc else (f"file://{parts.netloc}", parts.path)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def _inputs(item: Mapping[str, Any], datasets: DatasetStore, namespace: str) -> list[InputDataset]:
    kind = item.get("kind")
    if kind == "files":
        found = []
        for f in item.get("files", []):
            ns, name = file_dataset_name(f["uri"])
            facets: dict[str, DatasetFacet] = {
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=f["digest"]
                ),
                "dataSource": datasource_dataset.DatasourceDatasetFacet(name=ns, uri=ns),
            }
            stats: dict[str, InputDatasetFacet] = {
                "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    size=f.get("size"), fileCount=1
                )
            }
            found.append(InputDataset(namespace=ns, name=name, facets=facets, inputFacets=stats))
        return found
    if kind == "dataset":
        version = _version(datasets, item["dataset"], item["version"])
        return [
            InputDataset(
                namespace=namespace,
                name=item["dataset"],
                facets=_dataset_facets(item["version"], version, namespace),
            )
        ]
    if kind == "stream":
        ns = str(item.get("backend") or "stream")
        facets = {
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=f"{item.get('first_id')}..{item.get('last_id')}"
            )
        }
        stats = {
            "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=item.get("events")
            )
        }
        name = str(item.get("stream") or item.get("source"))
        return [InputDataset(namespace=ns, name=name, facets=facets, inputFacets=stats)]
    if kind == "sql":
        return [_sql_input(item)]
    return [InputDataset(namespace=str(kind or "unknown"), name=str(item.get("source")))]


def _sql_input(item: Mapping[str, Any]) -> InputDataset:
    """A query's rows: namespace ``scheme://host:port`` of the database, name the database
    and the source, version the digest of the rows read."""
    url = urlsplit(str(item.get("url") or "sql:"))
    scheme = url.scheme.split("+")[0] or "sql"
    host = url.netloc.rpartition("@")[2]
    ns = f"{scheme}://{host}" if host else scheme
    name = f"{url.path.lstrip('/') or 'query'}/{item.get('source')}"
    facets: dict[str, DatasetFacet] = {}
    if item.get("digest"):
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(item["digest"])
        )
    stats: dict[str, InputDatasetFacet] = {
        "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            rowCount=item.get("rows")
        )
    }
    return InputDataset(namespace=ns, name=name, facets=facets, inputFacets=stats)


def _output(item: Mapping[str, Any], datasets: DatasetStore, namespace: str) -> OutputDataset:
    version = _version(datasets, item["dataset"], item["version"])
    added = version.parts[-1].size if version is not None and version.parts else None
    stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=item.get("rows_added"), size=added, fileCount=1
    )
    return OutputDataset(
        namespace=namespace,
        name=item["dataset"],
        facets=_dataset_facets(item["version"], version, namespace),
        outputFacets={"outputStatistics": stats},
    )


def _version(datasets: DatasetStore, name: str, version_id: str) -> DatasetVersion | None:
    try:
        return datasets.get(f"{name}@{version_id}")
    except NotFoundError:
        return None


def _dataset_facets(
    version_id: str, version: DatasetVersion | None, namespace: str
) -> dict[str, DatasetFacet]:
    facets: dict[str, DatasetFacet] = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version_id),
        "dataSource": datasource_dataset.DatasourceDatasetFacet(
            name=namespace, uri=f"modelyard://{namespace}"
        ),
    }
    if version is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=n, type=t, ordinal_position=i)
                for i, (n, t) in enumerate(version.schema, start=1)
            ]
        )
    return facets
