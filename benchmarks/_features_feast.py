"""Feast's half of ``benchmarks/features.py``, run with the python of ``.bench/feast``.

Makes a fresh feature repository in a temporary folder (SQLite online store; DuckDB
offline store, or the file/dask one with ``--offline-store file`` or when Feast's DuckDB
extra is missing) over the benchmark's Parquet file, then measures what the other half does
and prints the same JSON shape on stdout. Feast's own output goes to stderr.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("FEAST_USAGE", "False")

import feast
import pandas as pd
from _features_common import (
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
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.types import Float64

YAML = """\
project: bench
provider: local
registry:
  registry_type: file
  path: {folder}/registry.db
  cache_ttl_seconds: 0
online_store:
  type: sqlite
  path: {folder}/online_store.db
offline_store:
  type: {offline}
entity_key_serialization_version: 3
"""


def offline_store(wanted: str) -> str:
    """``wanted``, but ``file`` (dask) when Feast's DuckDB extra (ibis) is not installed."""
    if wanted == "duckdb" and importlib.util.find_spec("ibis") is None:
        return "file"
    return wanted


def definitions(opts: Options) -> tuple[Entity, FeatureView]:
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="user_features_source",
        path=str((opts.data / "features.parquet").resolve()),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    view = FeatureView(
        name=VIEW,
        entities=[user],
        ttl=dt.timedelta(0),  # no limit, as on modelyard's side
        schema=[Field(name=name, dtype=Float64) for name in opts.feature_names],
        source=source,
        online=True,
    )
    return user, view


def online(store: FeatureStore, opts: Options, keys: list[int]) -> dict[str, list[Any]]:
    return store.get_online_features(opts.refs, {"user_id": keys}).to_dict()


def online_sample(store: FeatureStore, opts: Options, keys: list[int]) -> dict[str, list[Any]]:
    """Values and event timestamps of ``keys``; ``to_dict`` gives whole seconds only, so the
    timestamps come from the response's protobuf (seconds and nanos)."""
    response = store.get_online_features(opts.refs, {"user_id": keys})
    names = list(response.proto.metadata.feature_names.val)
    results = response.proto.results
    first = results[names.index(opts.feature_names[0])]
    stamps = [
        None if status == FieldStatus.NOT_FOUND else ts.seconds * 1_000_000 + ts.nanos // 1_000
        for status, ts in zip(first.statuses, first.event_timestamps, strict=True)
    ]
    as_dict = response.to_dict()
    sample: dict[str, list[Any]] = {"user_id": keys, "event_timestamp_us": stamps}
    statuses: Counter[str] = Counter()
    for name in opts.feature_names:
        sample[name] = [value(v) for v in as_dict[name]]
        statuses.update(FieldStatus.Name(s) for s in results[names.index(name)].statuses)
    sample["statuses"] = dict(statuses)
    return sample


def historical_sample(frame: pd.DataFrame, opts: Options) -> dict[str, Any]:
    rows = frame[frame["row_id"] < opts.sample].sort_values("row_id")
    sample: dict[str, Any] = {
        "row_id": rows["row_id"].tolist(),
        "user_id": rows["user_id"].tolist(),
        "event_timestamp_us": [micros(t) for t in rows["event_timestamp"]],
    }
    for name in opts.feature_names:
        sample[name] = [value(v) for v in rows[name].tolist()]
    summary = {
        "rows": len(frame),
        "missing": {n: int(frame[n].isna().sum()) for n in opts.feature_names},
        "sums": {n: float(frame[n].sum()) for n in opts.feature_names},
    }
    return {"historical": sample, "historical_summary": summary}


def run(opts: Options, folder: Path) -> dict[str, Any]:
    offline = offline_store(opts.offline_store)
    (folder / "feature_store.yaml").write_text(YAML.format(folder=folder, offline=offline))
    result: dict[str, Any] = {
        "system": "feast",
        "version": feast.__version__,
        "offline_store": offline,
        "online_store": "sqlite",
        "python": sys.version.split()[0],
        "pandas": pd.__version__,
    }
    store = FeatureStore(repo_path=str(folder))
    setup_s, _ = timed(lambda: store.apply(list(definitions(opts))))
    result["setup"] = {"seconds": setup_s, "what": "apply"}

    start = dt.datetime.fromisoformat(opts.meta["start"]) - dt.timedelta(days=1)
    end = dt.datetime.fromisoformat(opts.meta["end"]) + dt.timedelta(days=1)
    seconds, _ = timed(lambda: store.materialize(start, end, [VIEW]))
    result["materialize"] = {"seconds": seconds, "entities": opts.entities}

    singles, batches, sample_keys = online_keys(opts)
    for name, keys in (("online_1", [[k] for k in singles]), ("online_100", batches)):
        for warm in warm_keys(opts, len(keys[0])):
            online(store, opts, warm)
        result[name] = latencies(lambda k: online(store, opts, k), keys)
    samples = {"online": online_sample(store, opts, sample_keys)}

    entity_df = pd.read_parquet(opts.data / "entity_rows.parquet")

    def historical() -> pd.DataFrame:
        return store.get_historical_features(entity_df=entity_df, features=opts.refs).to_df()

    timing, frame = median_timed(opts.repeats, historical)
    result["historical"] = {**timing, "rows": len(frame), "returns": "pandas.DataFrame"}
    samples.update(historical_sample(frame, opts))
    result["samples"] = samples
    result["peak_mib"] = peak_mib()
    return result


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(__doc__.splitlines()[0], argv)
    with tempfile.TemporaryDirectory(prefix="bench-feast-") as tmp, quiet_stdout():
        result = run(opts, Path(tmp))
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
