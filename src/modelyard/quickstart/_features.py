"""The quickstart's features: defined once, used for training and for serving.

Two modules are written into the workspace, where users edit them:

* ``pipelines/fraud_features.py``: from the ``transactions`` dataset, per-user and
  per-merchant rolling counts and amounts (1 h, 24 h, 30 days) as of each transaction, in
  DuckDB window functions, into the ``user_stats`` and ``merchant_stats`` datasets;
* ``features/fraud.py``: the entities, the two feature views over those datasets, two
  on-demand views (the amount against the user's 30-day average, and the transaction's
  own context: night, abroad, log amount, category and channel codes) and the
  ``fraud_features`` service that the model trains on and the deployment serves.

A feature row holds the state *after* its transaction. Training therefore joins each
transaction at its timestamp minus one microsecond, so that it sees what a server sees
when the transaction arrives: the history up to, and not including, itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from modelyard._workspace import Workspace
from modelyard.quickstart._data import LABEL

__all__ = [
    "FEATURE_PIPELINE",
    "MODEL_INPUTS",
    "REQUEST_FIELDS",
    "SERVICE",
    "entity_rows",
    "write_feature_modules",
]

FEATURE_PIPELINE = "fraud_features"
SERVICE = "fraud_features"
REQUEST_FIELDS = ("amount", "hour", "country", "home_country", "channel", "merchant_category")
"""What a caller sends besides the keys ``user_id`` and ``merchant_id``: the transaction."""

MODEL_INPUTS: tuple[str, ...] = (
    "hour",
    "is_night",
    "is_foreign",
    "log_amount",
    "merchant_category_code",
    "channel_code",
    "amount_vs_user_mean",
    "user_txn_count_1h",
    "user_txn_count_24h",
    "user_amount_sum_24h",
    "user_amount_mean_30d",
    "merchant_txn_count_1h",
    "merchant_txn_count_24h",
    "merchant_amount_mean_24h",
)
"""The columns the quickstart's models take, in order: the request's ``hour`` and what
the feature service gives."""

PIPELINE_MODULE = '''\
"""Rolling per-user and per-merchant statistics as of each transaction.

Each output row is the state right after one event time of one user (or merchant): the
feature store's point-in-time join then gives every training row exactly what the online
store held when it happened. Counts are DOUBLE, so that an entity without history is a
missing value (NaN) for a model, in training and in serving alike. Recomputed from the
whole `transactions` dataset each run (`modelyard data run fraud_features`).
"""

from modelyard.data import Pipeline, dataset_source

fraud_features = Pipeline(
    "fraud_features", description="Per-user and per-merchant rolling counts and amounts."
)
fraud_features.source("txns", dataset_source("transactions", incremental=False))


def rolling(key, windows):
    """A WINDOW clause: per key, the rows of the last `span` up to this event time."""
    return ", ".join(
        f"{name} AS (PARTITION BY {key} ORDER BY event_timestamp "
        f"RANGE BETWEEN INTERVAL {span} PRECEDING AND CURRENT ROW)"
        for name, span in windows
    )


@fraud_features.sql
def user_stats(txns):
    return f"""
        WITH per AS (
            SELECT user_id, event_timestamp, count(*) AS n, sum(amount) AS total
            FROM {txns} GROUP BY user_id, event_timestamp
        )
        SELECT user_id, event_timestamp,
            CAST(sum(n) OVER h1 AS DOUBLE) AS user_txn_count_1h,
            CAST(sum(n) OVER d1 AS DOUBLE) AS user_txn_count_24h,
            sum(total) OVER d1 AS user_amount_sum_24h,
            sum(total) OVER d30 / sum(n) OVER d30 AS user_amount_mean_30d
        FROM per
        WINDOW {rolling("user_id", [("h1", "1 HOUR"), ("d1", "1 DAY"), ("d30", "30 DAY")])}
    """


@fraud_features.sql
def merchant_stats(txns):
    return f"""
        WITH per AS (
            SELECT merchant_id, event_timestamp, count(*) AS n, sum(amount) AS total
            FROM {txns} GROUP BY merchant_id, event_timestamp
        )
        SELECT merchant_id, event_timestamp,
            CAST(sum(n) OVER h1 AS DOUBLE) AS merchant_txn_count_1h,
            CAST(sum(n) OVER d1 AS DOUBLE) AS merchant_txn_count_24h,
            sum(total) OVER d1 / sum(n) OVER d1 AS merchant_amount_mean_24h
        FROM per
        WINDOW {rolling("merchant_id", [("h1", "1 HOUR"), ("d1", "1 DAY")])}
    """


fraud_features.load("user_stats", user_stats, mode="replace")
fraud_features.load("merchant_stats", merchant_stats, mode="replace")
'''

FEATURES_MODULE = '''\
"""The quickstart's fraud features: `modelyard apply` registers them, `modelyard features
materialize` fills the online store, and the `fraud` deployment serves them."""

from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc

from modelyard.features import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    on_demand_feature_view,
)

CATEGORIES = ["grocery", "fuel", "electronics", "travel", "online_gaming", "restaurants",
              "fashion", "pharmacy"]
CHANNELS = ["pos", "online", "atm"]

user = Entity.of("user", {"user_id": "BIGINT"}, "A card holder.")
merchant = Entity.of("merchant", {"merchant_id": "BIGINT"}, "A merchant.")

user_stats = FeatureView(
    "user_stats",
    (user,),
    "user_stats",
    (
        Field("user_txn_count_1h", "DOUBLE"),
        Field("user_txn_count_24h", "DOUBLE"),
        Field("user_amount_sum_24h", "DOUBLE"),
        Field("user_amount_mean_30d", "DOUBLE"),
    ),
    ttl=timedelta(days=30),
    description="The user's transactions in the last hour, day and 30 days.",
)

merchant_stats = FeatureView(
    "merchant_stats",
    (merchant,),
    "merchant_stats",
    (
        Field("merchant_txn_count_1h", "DOUBLE"),
        Field("merchant_txn_count_24h", "DOUBLE"),
        Field("merchant_amount_mean_24h", "DOUBLE"),
    ),
    ttl=timedelta(days=14),
    description="The merchant's transactions in the last hour and day.",
)


@on_demand_feature_view(
    sources=["user_stats:user_amount_mean_30d"],
    request=[Field("amount", "DOUBLE")],
    schema=[Field("amount_vs_user_mean", "DOUBLE")],
)
def amount_ratio(rows: pa.Table) -> pa.Table:
    """The amount against the user's 30-day average (1.0 for a user with no history)."""
    ratio = pc.divide(rows["amount"], rows["user_amount_mean_30d"])
    return pa.table({"amount_vs_user_mean": pc.fill_null(ratio, 1.0)})


@on_demand_feature_view(
    sources=[],
    request=[
        Field("amount", "DOUBLE"),
        Field("hour", "BIGINT"),
        Field("country", "VARCHAR"),
        Field("home_country", "VARCHAR"),
        Field("channel", "VARCHAR"),
        Field("merchant_category", "VARCHAR"),
    ],
    schema=[
        Field("is_night", "TINYINT"),
        Field("is_foreign", "TINYINT"),
        Field("log_amount", "DOUBLE"),
        Field("merchant_category_code", "TINYINT"),
        Field("channel_code", "TINYINT"),
    ],
)
def txn_context(rows: pa.Table) -> pa.Table:
    """The transaction's own signals: night, abroad, log amount, category and channel."""
    foreign = pc.not_equal(pc.utf8_upper(rows["country"]), pc.utf8_upper(rows["home_country"]))
    codes = {
        name: pc.fill_null(pc.index_in(rows[column], value_set=pa.array(vocabulary)), -1)
        for name, column, vocabulary in (
            ("merchant_category_code", "merchant_category", CATEGORIES),
            ("channel_code", "channel", CHANNELS),
        )
    }
    return pa.table({
        "is_night": pc.less(rows["hour"], 6).cast(pa.int8()),
        "is_foreign": pc.fill_null(foreign, False).cast(pa.int8()),
        "log_amount": pc.ln(pc.add(pc.max_element_wise(rows["amount"], 0.0), 1.0)),
        **{name: values.cast(pa.int8()) for name, values in codes.items()},
    })


fraud_features = FeatureService(
    "fraud_features",
    ("user_stats:*", "merchant_stats:*", "amount_ratio:*", "txn_context:*"),
    "What the fraud model takes besides the transaction's hour.",
)
'''


def write_feature_modules(workspace: Workspace) -> tuple[Path, Path]:
    """Write the feature pipeline and the feature definitions into the workspace."""
    pipelines = workspace.pipelines.folder
    pipelines.mkdir(parents=True, exist_ok=True)
    pipeline = pipelines / f"{FEATURE_PIPELINE}.py"
    pipeline.write_text(PIPELINE_MODULE)
    folder = workspace.features.folder
    folder.mkdir(parents=True, exist_ok=True)
    definitions = folder / "fraud.py"
    definitions.write_text(FEATURES_MODULE)
    return pipeline, definitions


def entity_rows(transactions: pa.Table) -> pa.Table:
    """Training entity rows: each transaction's keys, what a request carries, the label,
    and its time minus one microsecond (the features of the history before it)."""
    stamp = transactions.column("event_timestamp").cast(pa.timestamp("us", tz="UTC"))
    before = pc.subtract(stamp, pa.scalar(dt.timedelta(microseconds=1)))
    return pa.table(
        {
            "user_id": transactions.column("user_id"),
            "merchant_id": transactions.column("merchant_id"),
            "event_timestamp": before,
            "amount": transactions.column("amount"),
            "hour": pc.hour(stamp).cast(pa.int64()),
            **{
                name: transactions.column(name)
                for name in ("country", "home_country", "channel", "merchant_category")
            },
            LABEL: transactions.column(LABEL),
        }
    )
