from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.errors import ValidationError
from modelyard.quickstart._data import (
    FEATURES,
    LABEL,
    add_features,
    generate_transactions,
    time_split,
)

START = datetime(2026, 1, 1, tzinfo=UTC)

SCHEMA = pa.schema(
    [
        ("transaction_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("user_id", pa.int64()),
        ("merchant_id", pa.int64()),
        ("merchant_category", pa.string()),
        ("amount", pa.float64()),
        ("country", pa.string()),
        ("home_country", pa.string()),
        ("channel", pa.string()),
        ("is_fraud", pa.int8()),
    ]
)


def _xy(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    x = np.column_stack([table.column(name).to_numpy().astype(np.float64) for name in FEATURES])
    return x, table.column(LABEL).to_numpy()


def _auc(model: object, table: pa.Table) -> float:
    x, y = _xy(table)
    return float(roc_auc_score(y, model.predict_proba(x)[:, 1]))  # type: ignore[attr-defined]


def _hand_made(times_min: list[float], users: list[int], amounts: list[float]) -> pa.Table:
    n = len(times_min)
    stamps = [START + timedelta(minutes=m) for m in times_min]
    return pa.table(
        {
            "event_timestamp": pa.array(stamps, type=pa.timestamp("us", tz="UTC")),
            "user_id": pa.array(users, type=pa.int64()),
            "amount": pa.array(amounts, type=pa.float64()),
            "merchant_category": ["grocery"] * n,
            "country": ["US"] * n,
            "home_country": ["US"] * n,
            "channel": ["pos"] * n,
        }
    )


@pytest.fixture(scope="module")
def split() -> tuple[pa.Table, pa.Table]:
    return time_split(add_features(generate_transactions(50_000, seed=7)))


@pytest.fixture(scope="module")
def hgb(split: tuple[pa.Table, pa.Table]) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(random_state=0).fit(*_xy(split[0]))


def test_same_seed_gives_identical_tables() -> None:
    assert generate_transactions(5_000, seed=3).equals(generate_transactions(5_000, seed=3))


def test_different_seeds_give_different_tables() -> None:
    first, second = generate_transactions(5_000, seed=3), generate_transactions(5_000, seed=4)
    assert not first.drop_columns("transaction_id").equals(second.drop_columns("transaction_id"))


def test_schema_and_dtypes() -> None:
    assert generate_transactions(1_000).schema == SCHEMA


def test_timestamps_are_sorted_and_within_the_window() -> None:
    start = datetime(2026, 2, 3, 15, 30, tzinfo=UTC)
    stamps = generate_transactions(20_000, start=start, days=3).column("event_timestamp")
    as_int = stamps.cast(pa.int64()).to_numpy()
    assert np.all(np.diff(as_int) >= 0)
    assert pc.min(stamps).as_py() >= start
    assert pc.max(stamps).as_py() < start + timedelta(days=3)


def test_transaction_ids_are_unique() -> None:
    ids = generate_transactions(20_000).column("transaction_id")
    assert pc.count_distinct(ids).as_py() == len(ids)


def test_positive_rate_is_between_one_and_two_percent() -> None:
    rate = pc.mean(generate_transactions().column(LABEL)).as_py()
    assert 0.01 <= rate <= 0.02


def test_add_features_adds_every_feature_column() -> None:
    table = add_features(generate_transactions(2_000))
    assert set(FEATURES) <= set(table.column_names)
    assert all(
        pa.types.is_integer(table.schema.field(n).type)
        or pa.types.is_floating(table.schema.field(n).type)
        for n in FEATURES
    )


def test_features_have_no_look_ahead() -> None:
    table = generate_transactions(10_000, seed=2)
    cut = 6_000
    amount = table.column("amount").to_numpy().copy()
    amount[cut:] *= 10.0
    changed = table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(amount))
    before = add_features(table).select(list(FEATURES)).slice(0, cut)
    after = add_features(changed).select(list(FEATURES)).slice(0, cut)
    assert before.equals(after)


def test_user_txn_count_1h_counts_prior_transactions_of_the_user_in_the_last_hour() -> None:
    table = _hand_made([0, 10, 20, 50, 71], [1, 1, 2, 1, 1], [5.0] * 5)
    assert add_features(table).column("user_txn_count_1h").to_pylist() == [0, 1, 0, 2, 1]


def test_amount_vs_user_geomean_uses_prior_amounts_only() -> None:
    table = _hand_made([0, 1, 2, 3], [1, 1, 1, 2], [10.0, 40.0, 20.0, 99.0])
    ratio = add_features(table).column("amount_vs_user_geomean").to_numpy()
    np.testing.assert_allclose(ratio, [1.0, 4.0, 1.0, 1.0])


def test_time_split_puts_the_latest_rows_in_the_holdout() -> None:
    train, holdout = time_split(generate_transactions(10_000), holdout_fraction=0.25)
    assert train.num_rows + holdout.num_rows == 10_000
    assert abs(holdout.num_rows - 2_500) <= 1
    assert (
        pc.max(train.column("event_timestamp")).as_py()
        < pc.min(holdout.column("event_timestamp")).as_py()
    )


def test_hist_gradient_boosting_learns_and_beats_logistic_regression(
    split: tuple[pa.Table, pa.Table], hgb: HistGradientBoostingClassifier
) -> None:
    train, holdout = split
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000))
    linear.fit(*_xy(train))
    assert _auc(hgb, holdout) > 0.8
    assert _auc(hgb, holdout) > _auc(linear, holdout)


def test_shift_lowers_auc_and_raises_the_mean_amount(
    split: tuple[pa.Table, pa.Table], hgb: HistGradientBoostingClassifier
) -> None:
    later = add_features(
        generate_transactions(20_000, seed=8, start=START + timedelta(days=60), days=10, shift=1.0)
    )
    assert _auc(hgb, later) < _auc(hgb, split[1]) - 0.05
    assert pc.mean(later.column("amount")).as_py() > pc.mean(split[1].column("amount")).as_py()


@pytest.mark.parametrize(
    "arguments",
    [{"shift": 1.5}, {"n_rows": 0}, {"start": datetime(2026, 1, 1)}, {"n_merchants": 3}],
)
def test_invalid_arguments_are_rejected(arguments: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        generate_transactions(**arguments)  # type: ignore[arg-type]


def test_time_split_rejects_a_fraction_outside_zero_one() -> None:
    with pytest.raises(ValidationError):
        time_split(generate_transactions(100), holdout_fraction=1.0)
