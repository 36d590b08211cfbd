"""modelyard's half of ``benchmarks/features.py``, run with the dev virtualenv's python.

Makes a fresh workspace in a temporary folder, stores the benchmark's Parquet file as the
dataset ``user_features``, registers the entity and the view, then measures what
``_features_feast.py`` measures and prints the same JSON shape on stdout. A measurement
whose API is missing from this checkout is reported as ``"unavailable"``.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _features_common import (
    UNAVAILABLE,
    VIEW,
    Options,
    emit,
    latencies,
    median_timed,
    micros,
    online_keys,
    parse_args,
    peak_mib,
    quiet_stdout,
    timed,
    value,
    warm_keys,
)

import modelyard
from modelyard._workspace import Workspace, init_workspace
from modelyard.features import Entity, FeatureStore, FeatureView, Field


def set_up(opts: Options, folder: Path) -> Workspace:
    init_workspace(folder)
    ws = Workspace.open(folder)
    ws.datasets.write(VIEW, pq.read_table(opts.data / "features.parquet"))
    user = Entity.of("user", {"user_id": "BIGINT"})
    view = FeatureView(
        VIEW,
        (user,),
        VIEW,
        tuple(Field(name, "DOUBLE") for name in opts.feature_names),
        created_timestamp_field="created",
        ttl=dt.timedelta(0),
    )
    ws.features.apply([user, view])
    return ws


def column(answer: dict[str, Any], name: str) -> dict[str, Any]:
    """The result of feature ``name`` in a Feast-format answer (``f0`` or ``view__f0``)."""
    names = list(answer["metadata"]["feature_names"])
    for i, found in enumerate(names):
        if found == name or found.rsplit("__", 1)[-1].rsplit(":", 1)[-1] == name:
            return dict(answer["results"][i])
    raise KeyError(f"{name} not in the answer's feature names {names}")


def online_sample(features: FeatureStore, opts: Options, keys: list[int]) -> dict[str, Any]:
    answer = features.get_online_features(opts.refs, {"user_id": keys})
    first = column(answer, opts.feature_names[0])
    stamps = [
        None if str(status) == "NOT_FOUND" else micros(ts)
        for status, ts in zip(first["statuses"], first["event_timestamps"], strict=True)
    ]
    sample: dict[str, Any] = {"user_id": keys, "event_timestamp_us": stamps}
    statuses: Counter[str] = Counter()
    for name in opts.feature_names:
        result = column(answer, name)
        sample[name] = [value(v) for v in result["values"]]
        statuses.update(str(s) for s in result["statuses"])
    sample["statuses"] = dict(statuses)
    return sample


def historical_sample(table: pa.Table, opts: Options) -> dict[str, Any]:
    rows = table.filter(pc.less(table.column("row_id"), opts.sample)).sort_by("row_id")
    stamps = pc.cast(rows.column("event_timestamp"), pa.timestamp("us", "UTC"))
    sample: dict[str, Any] = {
        "row_id": rows.column("row_id").to_pylist(),
        "user_id": rows.column("user_id").to_pylist(),
        "event_timestamp_us": [micros(t) for t in stamps.to_pylist()],
    }
    for name in opts.feature_names:
        sample[name] = [value(v) for v in rows.column(name).to_pylist()]
    summary = {"rows": table.num_rows, "missing": {}, "sums": {}}
    for name in opts.feature_names:
        values = table.column(name)
        nans = pc.sum(pc.is_nan(values)).as_py() or 0
        summary["missing"][name] = values.null_count + nans
        summary["sums"][name] = pc.sum(values).as_py()
    return {"historical": sample, "historical_summary": summary}


def measure_online(features: FeatureStore, opts: Options, result: dict[str, Any]) -> dict[str, Any]:
    """The online reads, or ``unavailable`` when this checkout cannot materialize or read."""
    if not hasattr(features, "materialize"):
        for name in ("materialize", "online_1", "online_100"):
            result[name] = UNAVAILABLE
        return {}
    seconds, done = timed(features.materialize)
    written = sum(getattr(r, "rows_written", 0) for r in done or [])
    result["materialize"] = {"seconds": seconds, "entities": opts.entities, "written": written}
    if not hasattr(features, "get_online_features"):
        result["online_1"] = result["online_100"] = UNAVAILABLE
        return {}

    def online(keys: list[int]) -> dict[str, Any]:
        return features.get_online_features(opts.refs, {"user_id": keys})

    singles, batches, sample_keys = online_keys(opts)
    for name, keys in (("online_1", [[k] for k in singles]), ("online_100", batches)):
        for warm in warm_keys(opts, len(keys[0])):
            online(warm)
        result[name] = latencies(online, keys)
    return {"online": online_sample(features, opts, sample_keys)}


def run(opts: Options, folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "system": "modelyard",
        "version": modelyard.__version__,
        "offline_store": f"duckdb {duckdb.__version__} (ASOF join)",
        "online_store": "sqlite (default)",
        "python": sys.version.split()[0],
    }
    setup_s, ws = timed(lambda: set_up(opts, folder))
    result["setup"] = {"seconds": setup_s, "what": "datasets.write + apply"}
    features = ws.features
    try:
        samples = measure_online(features, opts, result)
    finally:
        getattr(features, "close", lambda: None)()  # the online store's connections

    entity_rows = pq.read_table(opts.data / "entity_rows.parquet")

    def historical() -> pa.Table:
        return features.get_historical_features(entity_rows, opts.refs)

    timing, table = median_timed(opts.repeats, historical)
    result["historical"] = {**timing, "rows": table.num_rows, "returns": "pyarrow.Table"}
    samples.update(historical_sample(table, opts))
    result["samples"] = samples
    result["peak_mib"] = peak_mib()
    return result


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(__doc__.splitlines()[0], argv)
    with tempfile.TemporaryDirectory(prefix="bench-modelyard-") as tmp, quiet_stdout():
        result = run(opts, Path(tmp))
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
