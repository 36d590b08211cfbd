"""Batch scoring on Ray Data: ``read_parquet`` -> ``map_batches`` -> ``write_parquet``.

The model is loaded (and its digest verified) once by the driver and put in Ray's object
store; ``map_batches`` runs a callable class on a fixed pool of actors, so each worker
deserializes it once and then scores batch after batch. Ray Data restarts an actor whose
process died and runs its lost batches again, and a write task that died is run again
under the same file name, so each input row lands in the output once. Progress comes from
a small counter actor the scorers add to.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.compute._ray import RayCompute

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.compute._batch import ProgressFn
    from modelyard.jobs import BatchPredictPayload
    from modelyard.registry import LoadedModel

__all__ = ["Scorer", "score_on_ray"]


class Scorer:
    """The callable class of ``map_batches``: one model per actor, one call per batch."""

    def __init__(
        self, model: LoadedModel, payload: BatchPredictPayload, run_id: str, counter: Any
    ) -> None:
        import ray

        # The model, fetched from the object store once for this actor.
        self.model = ray.get(model) if isinstance(model, ray.ObjectRef) else model
        self.payload = payload
        self.keep = list(payload.keep or [])
        self.run_id = run_id
        self.counter = counter

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        from modelyard.jobs._predict_parquet import _predict

        # Ids are <run>-<batch token>-<row in batch>: unique without knowing the batch's
        # place in the input, which Ray Data does not tell.
        token = uuid.uuid4().hex[:12]
        record = batch.combine_chunks().to_batches()
        if not record:
            return batch
        scored = _predict(
            self.model, record[0], self.keep, self.payload, f"{self.run_id}-{token}", 0
        )
        self.counter.add.remote(batch.num_rows)
        return pa.Table.from_batches(scored.to_batches(), scored.schema)


class _Counter:
    """Rows scored so far (the actors' reports; a batch run again counts again)."""

    def __init__(self) -> None:
        self.rows = 0

    def add(self, rows: int) -> None:
        self.rows += rows

    def get(self) -> int:
        return self.rows


def score_on_ray(
    compute: RayCompute,
    files: list[str],
    model: LoadedModel,
    payload: BatchPredictPayload,
    run_id: str,
    staging: Path,
    progress: ProgressFn | None,
    *,
    workers: int | None = None,
) -> int:
    """Score ``files`` into Parquet files in ``staging``; returns the rows written."""
    import pyarrow.parquet as pq

    ray = compute.ray
    data = importlib.import_module("ray.data")
    context = data.DataContext.get_current()
    context.enable_progress_bars = False if progress is not None else context.enable_progress_bars
    context.print_on_execution_start = False
    total = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    keep = list(payload.keep or [])
    columns = sorted(set(keep) | set(payload.features or pq.read_schema(files[0]).names))
    pool = workers or max(1, min(compute.workers, len(files) * 4))
    counter = ray.remote(num_cpus=0)(_Counter).remote()
    model_ref = ray.put(model)  # held here: a restarted actor fetches it again
    dataset = (
        data.read_parquet(files, override_num_blocks=max(pool, len(files)))
        .select_columns(columns)
        .map_batches(
            Scorer,
            batch_size=payload.batch_rows,
            batch_format="pyarrow",
            compute=data.ActorPoolStrategy(size=pool),
            num_cpus=_actor_cpus(compute.workers, pool),
            fn_constructor_args=(model_ref, payload, run_id, counter),
        )
    )
    stop = threading.Event()
    watcher = _watch(ray, counter, total, progress, stop) if progress is not None else None
    try:
        dataset.write_parquet(str(staging))
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
        ray.kill(counter)
    rows: int = sum(pq.ParquetFile(p).metadata.num_rows for p in staging.glob("*.parquet"))
    if progress is not None:
        progress(rows, total)
    return rows


def _actor_cpus(cluster_cpus: int, pool: int) -> float:
    """The CPUs each scorer actor asks for: a whole one while that leaves one CPU for
    listing, reading and writing, else an even share of all but one (a pool as large as
    the cluster would otherwise leave those tasks nowhere to run)."""
    if cluster_cpus <= 1:
        return 0.5 / pool
    return min(1.0, (cluster_cpus - 1) / pool)


def _watch(
    ray: Any, counter: Any, total: int, progress: ProgressFn, stop: threading.Event
) -> threading.Thread:
    def poll() -> None:
        while not stop.wait(0.2):
            try:
                done = ray.get(counter.get.remote(), timeout=5)
            except Exception:  # a progress report is not worth failing a run for
                continue
            progress(min(done, total), total)

    thread = threading.Thread(target=poll, name="modelyard-ray-progress", daemon=True)
    thread.start()
    return thread
