"""The work of ``batch_predict`` (pyarrow, imported only when such a job runs)."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from modelyard.errors import ConflictError, JobCancelledError, ValidationError
from modelyard.jobs._batch_predict import BatchPredictPayload
from modelyard.jobs._context import JobContext

if TYPE_CHECKING:
    from modelyard.registry import LoadedModel

__all__ = ["predict_parquet"]

_META_KEY = b"modelyard"
_ADDED = ("prediction_id", "model", "model_version")


def predict_parquet(ctx: JobContext, payload: BatchPredictPayload) -> dict[str, Any]:
    """Predict ``payload.input`` into ``payload.output`` (see ``_batch_predict``)."""
    out_fs, out_path = _filesystem(payload.output, ctx.workspace.path)
    done = _written_by(out_fs, out_path, ctx.job.id)
    if done is not None:
        return {**done, "output": payload.output}
    if _exists(out_fs, out_path) and not payload.overwrite:
        raise ConflictError(
            f"{payload.output} exists; give overwrite=true to replace it",
            details={"output": payload.output},
        )
    in_fs, in_path = _filesystem(payload.input, ctx.workspace.path)
    try:
        source = ds.dataset(in_path, filesystem=in_fs, format="parquet")
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValidationError(f"cannot read Parquet input {payload.input}: {exc}") from None
    keep = source.schema.names if payload.keep is None else payload.keep
    _check_columns(source.schema.names, keep, payload)
    model = ctx.workspace.registry.load(payload.model)
    on_ray = ctx.workspace.settings.compute != "local" and not (
        _is_uri(payload.input) or _is_uri(payload.output)
    )
    facts = {
        "job_id": ctx.job.id,
        "model_uri": payload.model,
        "model": model.name,
        "version": model.version,
        "digest": model.digest,
        "backend": "ray" if on_ray else "local",
    }
    for attempt in range(1, ctx.attempt):  # what killed attempts left behind
        _remove(out_fs, _temporary(out_path, ctx.job.id, attempt))
        shutil.rmtree(_parts(out_path, ctx.job.id, attempt), ignore_errors=True)
    temporary = _temporary(out_path, ctx.job.id, ctx.attempt)
    try:
        if on_ray:
            rows = _predict_on_ray(ctx, source, model, keep, payload, out_fs, temporary, facts)
        else:
            rows = _predict_into(ctx, source, model, keep, payload, out_fs, temporary, facts)
        out_fs.move(temporary, out_path)
    except BaseException:
        _remove(out_fs, temporary)
        raise
    return {**facts, "output": payload.output, "rows": rows}


def _predict_into(
    ctx: JobContext,
    source: ds.Dataset,
    model: LoadedModel,
    keep: list[str],
    payload: BatchPredictPayload,
    fs: pafs.FileSystem,
    path: str,
    facts: dict[str, Any],
) -> int:
    total = source.count_rows()
    wanted = set(keep) | set(payload.features or source.schema.names)
    columns = [name for name in source.schema.names if name in wanted]  # in the file's order
    batches = source.to_batches(
        columns=columns, batch_size=payload.batch_rows, batch_readahead=1, fragment_readahead=1
    )
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for batch in batches:
            table = _predict(model, batch, keep, payload, ctx.job.id, rows)
            if writer is None:
                schema = table.schema.with_metadata({_META_KEY: json.dumps(facts).encode()})
                writer = pq.ParquetWriter(path, schema, filesystem=fs)
            writer.write_table(table)
            rows += batch.num_rows
            ctx.progress("predict", rows, total)
        if writer is None:
            _write_empty(source, keep, payload, model, fs, path, facts)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _predict_on_ray(
    ctx: JobContext,
    source: ds.Dataset,
    model: LoadedModel,
    keep: list[str],
    payload: BatchPredictPayload,
    fs: pafs.FileSystem,
    path: str,
    facts: dict[str, Any],
) -> int:
    """Score on Ray Data (:mod:`modelyard.compute._batch_ray`) into a folder of parts next
    to the output, then stream the parts into the one output file. A cancel lands when the
    Ray pass ends: nothing is published. Prediction ids are ``<job>-<batch>-<row>`` here
    (Ray Data does not tell a batch's place in the input); they are unique, and, as the
    output is published once, what a reader sees never changes."""
    from modelyard.compute._batch import input_files
    from modelyard.compute._batch_ray import score_on_ray
    from modelyard.compute._ray import RayCompute

    compute = ctx.workspace.compute
    assert isinstance(compute, RayCompute)
    files = input_files(payload.input, ctx.workspace.path)
    parts = Path(_parts(path, ctx.job.id, ctx.attempt))
    parts.mkdir(parents=True)

    def report(done: int, total: int) -> None:  # called from Ray's progress thread
        with contextlib.suppress(JobCancelledError):
            ctx.progress("predict", done, total)

    try:
        scoring = payload.model_copy(update={"keep": keep})
        rows = score_on_ray(compute, files, model, scoring, ctx.job.id, parts, report)
        ctx.raise_if_cancelled()
        written = sorted(parts.glob("*.parquet"))
        if not written:
            _write_empty(source, keep, payload, model, fs, path, facts)
        else:
            _concatenate(written, fs, path, facts, payload.batch_rows)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return rows


def _concatenate(
    parts: list[Path], fs: pafs.FileSystem, path: str, facts: dict[str, Any], batch_rows: int
) -> None:
    """The parts' rows, in order, into one Parquet file, a record batch at a time."""
    schema = pq.read_schema(parts[0]).with_metadata({_META_KEY: json.dumps(facts).encode()})
    with pq.ParquetWriter(path, schema, filesystem=fs) as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=batch_rows):
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))


def _write_empty(
    source: ds.Dataset,
    keep: list[str],
    payload: BatchPredictPayload,
    model: LoadedModel,
    fs: pafs.FileSystem,
    path: str,
    facts: dict[str, Any],
) -> None:
    """No rows: an empty file with the kept and added columns."""
    empty = source.schema.empty_table().select(keep)
    schema = _with_added(empty, str(facts["job_id"]), 0, model).schema
    schema = schema.append(pa.field(payload.prediction_column, pa.float64()))
    pq.ParquetWriter(
        path, schema.with_metadata({_META_KEY: json.dumps(facts).encode()}), filesystem=fs
    ).close()


def _predict(
    model: LoadedModel,
    batch: pa.RecordBatch,
    keep: list[str],
    payload: BatchPredictPayload,
    job_id: str,
    start: int,
) -> pa.Table:
    inputs = batch.select(payload.features) if payload.features else batch
    predicted = model.predict(inputs if model.signature is not None else inputs.to_pandas())
    table = _with_added(pa.Table.from_batches([batch]).select(keep), job_id, start, model)
    return table.append_column(payload.prediction_column, _column(predicted, batch.num_rows))


def _with_added(table: pa.Table, job_id: str, start: int, model: LoadedModel) -> pa.Table:
    rows = table.num_rows
    numbers = pa.array(np.arange(start, start + rows, dtype=np.int64)).cast(pa.string())
    ids = pc.binary_join_element_wise(f"{job_id}-", numbers, "")
    table = table.append_column("prediction_id", ids)
    table = table.append_column("model", pa.repeat(model.name, rows))
    return table.append_column(
        "model_version", pa.repeat(pa.scalar(model.version, pa.int32()), rows)
    )


def _column(predicted: np.ndarray, rows: int) -> pa.Array:
    """Model outputs as one column: scalars, or a fixed-size list per row."""
    if predicted.ndim <= 1 or predicted.shape[1:] == (1,):
        return pa.array(predicted.reshape(rows))
    width = int(np.prod(predicted.shape[1:]))
    return pa.FixedSizeListArray.from_arrays(pa.array(predicted.reshape(-1)), width)


def _check_columns(names: list[str], keep: list[str], payload: BatchPredictPayload) -> None:
    missing = sorted((set(keep) | set(payload.features or ())) - set(names))
    if missing:
        raise ValidationError(
            f"input {payload.input} has no column(s) {', '.join(missing)} "
            f"(columns: {', '.join(names)})"
        )
    clash = sorted(set(keep) & {*_ADDED, payload.prediction_column})
    if clash:
        raise ValidationError(
            f"kept input column(s) {', '.join(clash)} would clash with the output's own; "
            "leave them out with `keep` or rename the prediction column"
        )


def _filesystem(location: str, workspace: Path) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
        try:
            fs, path = pafs.FileSystem.from_uri(location)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValidationError(f"unsupported location {location!r}: {exc}") from None
        return fs, path
    path = Path(location).expanduser()
    return pafs.LocalFileSystem(), str(path if path.is_absolute() else workspace / path)


def _temporary(path: str, job_id: str, attempt: int) -> str:
    return f"{path}.{job_id}-{attempt}.tmp"


def _parts(path: str, job_id: str, attempt: int) -> str:
    return f"{path}.{job_id}-{attempt}.parts"


def _is_uri(location: str) -> bool:
    return "://" in location


def _exists(fs: pafs.FileSystem, path: str) -> bool:
    return bool(fs.get_file_info(path).type != pafs.FileType.NotFound)


def _remove(fs: pafs.FileSystem, path: str) -> None:
    if _exists(fs, path):
        fs.delete_file(path)


def _written_by(fs: pafs.FileSystem, path: str, job_id: str) -> dict[str, Any] | None:
    """The result recorded in the output at ``path`` if ``job_id`` wrote it."""
    if not _exists(fs, path):
        return None
    try:
        with fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            meta = parquet.schema_arrow.metadata or {}
            rows = parquet.metadata.num_rows
    except (OSError, pa.ArrowInvalid):
        return None
    facts: dict[str, Any] = json.loads(meta.get(_META_KEY, b"{}"))
    if facts.get("job_id") != job_id:
        return None
    return {**facts, "rows": rows}
