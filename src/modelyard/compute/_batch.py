"""Batch scoring: Parquet files through a registered model into a folder of Parquet.

The scoring of one batch is the ``batch_predict`` job's (:mod:`modelyard.jobs`): the same
column checks, the same model call, and every output row gets a prediction id, the model's
name and version. Here it runs either in this process, one record batch at a time, or on
Ray Data (:mod:`modelyard.compute._batch_ray`), one ``map_batches`` batch at a time; memory
stays bounded by ``batch_rows`` either way. Output files are written into a hidden folder
inside the output and moved into place only when every row is scored, so a failed run
leaves nothing that looks like output.
"""

from __future__ import annotations

import glob
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard._ids import new_id
from modelyard.errors import ConflictError, SourceNotFoundError, ValidationError

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.compute._base import Compute
    from modelyard.jobs import BatchPredictPayload
    from modelyard.registry import LoadedModel

__all__ = ["BatchResult", "ProgressFn", "predict_batch"]

ProgressFn = Callable[[int, int], None]
"""Called with (rows scored so far, rows in all) as batches complete."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch scoring run did."""

    run_id: str
    model: str
    version: int
    uri: str
    backend: str
    rows: int
    seconds: float
    files: tuple[str, ...] = field(default=())

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "version": self.version,
            "uri": self.uri,
            "backend": self.backend,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "files": list(self.files),
        }


def predict_batch(
    workspace: Workspace,
    model_uri: str,
    input: str,
    output: str,
    *,
    compute: Compute | None = None,
    batch_rows: int = 65_536,
    features: list[str] | None = None,
    keep: list[str] | None = None,
    prediction_column: str = "prediction",
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    workers: int | None = None,
) -> BatchResult:
    """Score every row of the Parquet files ``input`` (a file, folder or glob, relative to
    the workspace) into the folder ``output``.

    ``compute`` None (or a local backend) scores in this process; a Ray backend scores on
    Ray Data with the model loaded once per worker, on ``workers`` actors (default: one per
    CPU of the cluster, at most four per input file).

    Example:
        >>> predict_batch(ws, "models:/fraud@champion", "data/*.parquet", "out/")
        BatchResult(run_id='...', model='fraud', version=3, backend='local', rows=100000, ...)
    """
    from modelyard.jobs import BatchPredictPayload

    payload = _payload(model_uri, input, output, batch_rows, features, keep, prediction_column)
    files = input_files(input, workspace.path)
    out = _output_folder(output, workspace.path, overwrite)
    dataset = _dataset(files, input)
    columns = dataset.schema.names
    kept = columns if keep is None else keep
    payload = BatchPredictPayload.model_validate({**payload.model_dump(), "keep": kept})
    _check(columns, payload)
    model = workspace.registry.load(model_uri)
    run_id = new_id()
    staging = out / f".run-{run_id}"
    staging.mkdir()
    started = time.perf_counter()
    try:
        if compute is None or compute.name == "local":
            backend = "local"
            rows = _score_here(dataset, model, payload, run_id, staging, progress)
        else:
            from modelyard.compute._batch_ray import score_on_ray
            from modelyard.compute._ray import RayCompute

            assert isinstance(compute, RayCompute)
            backend = "ray"
            rows = score_on_ray(
                compute, files, model, payload, run_id, staging, progress, workers=workers
            )
        written = _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BatchResult(
        run_id=run_id,
        model=model.name,
        version=model.version,
        uri=model.uri,
        backend=backend,
        rows=rows,
        seconds=time.perf_counter() - started,
        files=tuple(str(p) for p in written),
    )


def _payload(
    model_uri: str,
    input: str,
    output: str,
    batch_rows: int,
    features: list[str] | None,
    keep: list[str] | None,
    prediction_column: str,
) -> BatchPredictPayload:
    import pydantic

    from modelyard.jobs import BatchPredictPayload

    fields = {
        "model": model_uri,
        "input": input,
        "output": output,
        "batch_rows": batch_rows,
        "features": features,
        "keep": keep,
        "prediction_column": prediction_column,
    }
    try:  # the batch_predict job's own checks, with its messages
        return BatchPredictPayload.model_validate(fields)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()
        )
    raise ValidationError(f"bad batch scoring request: {problems}")


def input_files(pattern: str, workspace: Path) -> list[str]:
    """The Parquet files a path, folder or glob names (sorted); SourceNotFoundError when
    none."""
    if "://" in pattern:
        raise ValidationError(
            f"input {pattern!r}: batch scoring reads local paths and globs; "
            "copy remote data locally or mount it"
        )
    path = Path(pattern).expanduser()
    full = str(path if path.is_absolute() else workspace / path)
    if Path(full).is_dir():
        found = sorted(glob.glob(f"{glob.escape(full)}/**/*.parquet", recursive=True))
    else:
        found = sorted(p for p in glob.glob(full, recursive=True) if Path(p).is_file())
    if not found:
        raise SourceNotFoundError(f"input {pattern!r} matches no Parquet file")
    return found


def _dataset(files: list[str], pattern: str) -> Any:
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        return ds.dataset(files, format="parquet")
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValidationError(f"cannot read Parquet input {pattern}: {exc}") from None


def _check(columns: list[str], payload: BatchPredictPayload) -> None:
    from modelyard.jobs._predict_parquet import _check_columns

    _check_columns(columns, list(payload.keep or columns), payload)


def _output_folder(output: str, workspace: Path, overwrite: bool) -> Path:
    path = Path(output).expanduser()
    out = path if path.is_absolute() else workspace / path
    if out.exists() and not out.is_dir():
        raise ValidationError(f"output {output} is a file: give a folder")
    old = sorted(out.glob("*.parquet")) if out.exists() else []
    if old and not overwrite:
        raise ConflictError(
            f"output {output} already holds Parquet files; give --overwrite to replace them",
            details={"output": output},
        )
    for stale in old:
        stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _score_here(
    dataset: Any,
    model: LoadedModel,
    payload: BatchPredictPayload,
    run_id: str,
    staging: Path,
    progress: ProgressFn | None,
) -> int:
    """One pass over the input, a record batch at a time, into one Parquet file."""
    import pyarrow.parquet as pq

    from modelyard.jobs._predict_parquet import _predict

    keep = list(payload.keep or [])
    total = dataset.count_rows()
    columns = sorted(set(keep) | set(payload.features or dataset.schema.names))
    batches = dataset.to_batches(
        columns=columns, batch_size=payload.batch_rows, batch_readahead=1, fragment_readahead=1
    )
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            table = _predict(model, batch, keep, payload, run_id, rows)
            if writer is None:
                writer = pq.ParquetWriter(staging / "part-00000.parquet", table.schema)
            writer.write_table(table)
            rows += batch.num_rows
            if progress is not None:
                progress(rows, total)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _publish(staging: Path, out: Path) -> list[Path]:
    """Move the finished files from the staging folder into the output folder."""
    written = []
    for part in sorted(staging.glob("*.parquet")):
        target = out / part.name
        part.replace(target)
        written.append(target)
    return written
