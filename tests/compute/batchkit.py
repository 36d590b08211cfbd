"""Helpers of the batch scoring tests: input files and a slow model that tells its pid."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_inputs(folder: Path, files: int, rows: int, seed: int = 1) -> list[Path]:
    """``files`` Parquet files of ``rows`` rows: ``customer`` (a unique key), two features."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for n in range(files):
        table = pa.table(
            {
                "customer": np.arange(n * rows, (n + 1) * rows),
                "amount": rng.normal(50, 20, rows),
                "age": rng.integers(18, 90, rows).astype(np.float64),
            }
        )
        path = folder / f"part-{n}.parquet"
        pq.write_table(table, path, row_group_size=max(rows // 2, 1))
        paths.append(path)
    return paths


class SlowDoubler:
    """``amount * 2`` after a pause per batch; writes its process id into ``pids`` on its
    first batch, so a test can kill the worker that runs it."""

    def __init__(self, pids: Path, pause_s: float) -> None:
        self.pids = str(pids)
        self.pause_s = pause_s

    def predict(self, frame: Any) -> Any:
        marker = os.path.join(self.pids, str(os.getpid()))
        if not os.path.exists(marker):
            with open(marker, "w") as handle:
                handle.write("scoring")
        time.sleep(self.pause_s)
        return frame["amount"].to_numpy() * 2
