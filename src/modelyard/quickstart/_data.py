"""A seeded card-transactions data set with realistic, learnable fraud, for the quickstart.

Labels are drawn from a hidden log-odds that the features reveal only in part:

* time of day: risk peaks around 03:00 UTC, and night (22-05, wider than ``is_night``) plus an
  amount above the user's usual is much riskier;
* abroad *and* online is risky, while abroad in person (a traveller) or online at home is not;
* amounts far above the user's typical amount in risky categories (electronics, travel,
  online_gaming, fashion), and tiny online payments (card testing): a U, not a line;
* risky categories, more so online;
* stolen-card sessions: bursts of 2-7 transactions minutes apart, 85% fraud, that
  ``user_txn_count_1h`` reveals; harmless shopping sprees make bursts an imperfect sign;
* hidden: 3% of merchants are compromised, and every row gets noise, so no model is perfect.

Interactions, thresholds and the U are why gradient-boosted trees beat a linear model.
``shift`` in [0, 1] moves the world for drift demos: amounts grow by up to 50%, the channel
mix moves online, and fraud migrates to card testing: small amounts at fuel stations by day,
while time of day, foreign and large amounts matter less, so a model trained at ``shift=0``
degrades. The intercept is solved per table so the positive rate stays near 1.5%.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.errors import ValidationError

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "FEATURES",
    "LABEL",
    "add_features",
    "generate_transactions",
    "time_split",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

CATEGORIES: tuple[str, ...] = (
    "grocery",
    "fuel",
    "electronics",
    "travel",
    "online_gaming",
    "restaurants",
    "fashion",
    "pharmacy",
)
"""Merchant categories; ``merchant_category_code`` is the index into this tuple."""

CHANNELS: tuple[str, ...] = ("pos", "online", "atm")
"""Channels; ``channel_code`` is the index into this tuple."""

LABEL = "is_fraud"

FEATURES: tuple[str, ...] = (
    "hour",
    "is_night",
    "is_foreign",
    "log_amount",
    "amount_vs_user_geomean",
    "user_txn_count_1h",
    "merchant_category_code",
    "channel_code",
)
"""Numeric columns a model trains on, all added by :func:`add_features`.

The two ``*_code`` columns index the fixed :data:`CATEGORIES` and :data:`CHANNELS`: trees use
them as they are, a linear model should one-hot encode them.
"""

_COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "BR", "IN")
_HOME_SHARE = np.array([0.30, 0.14, 0.14, 0.10, 0.08, 0.07, 0.06, 0.05, 0.03, 0.03])

_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Per category (order of CATEGORIES): share of spend, median amount, foreign probability.
_CAT_SHARE = np.array([0.24, 0.12, 0.06, 0.04, 0.06, 0.22, 0.12, 0.14])
_CAT_MEDIAN = np.array([38.0, 52.0, 240.0, 360.0, 22.0, 31.0, 80.0, 20.0])
_CAT_FOREIGN = np.array([0.01, 0.02, 0.04, 0.30, 0.05, 0.03, 0.03, 0.01])
# Hidden fraud log-odds per category, before (shift 0) and after (shift 1) the drift.
_CAT_RISK_0 = np.array([-0.7, -0.4, 1.1, 0.8, 1.2, -0.6, 0.2, -0.5])
_CAT_RISK_1 = np.array([-0.4, 2.0, 0.4, 0.3, 0.6, -0.6, 0.2, -0.2])
# Categories a stolen-card session buys from, before and after the drift.
_FRAUD_CAT_0 = np.array([0.03, 0.02, 0.35, 0.20, 0.25, 0.02, 0.12, 0.01])
_FRAUD_CAT_1 = np.array([0.08, 0.55, 0.10, 0.05, 0.12, 0.03, 0.05, 0.02])
# Channel probabilities (pos, online, atm) per category.
_CAT_CHANNEL = np.array(
    [
        [0.88, 0.08, 0.04],
        [0.96, 0.02, 0.02],
        [0.45, 0.53, 0.02],
        [0.25, 0.73, 0.02],
        [0.02, 0.97, 0.01],
        [0.86, 0.12, 0.02],
        [0.55, 0.43, 0.02],
        [0.88, 0.07, 0.05],
    ]
)
# Relative activity per UTC hour: people by day, stolen cards rather at night.
_LEGIT_HOURS = np.array(
    [
        [1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4.0, 4.5, 5.0, 5.5],
        [6.0, 5.5, 5.0, 5.0, 5.5, 6.0, 6.5, 6.0, 5.0, 4.0, 3.0, 2.0],
    ]
).ravel()
_FRAUD_HOURS = np.array(
    [
        [5.0, 6.0, 6.0, 6.0, 5.0, 4.0, 2.0, 1.5, 1.0, 1.0, 1.0, 1.0],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 4.5],
    ]
).ravel()

_FRAUD_RATE = 0.015  # expected positive rate of a table
_SESSION_SHARE = 0.004  # share of rows in stolen-card sessions, and again in sprees
_SESSION_FRAUD = 0.85  # probability that a stolen-card session row is fraud
_COMPROMISED_SHARE = 0.03  # share of merchants that are compromised
_AMOUNT_SIGMA = 0.55  # log-scale spread of one user's amounts in one category
_NORMAL, _SPREE, _STOLEN = 0, 1, 2


class _Users(NamedTuple):
    activity: Floats  # probability that a transaction is this user's
    home: Ints  # index into _COUNTRIES
    scale: Floats  # multiplier on every category's median amount
    typical: Floats  # log of the user's typical amount (geometric mean over categories)
    category_cdf: Floats  # (n_users, n_categories) cumulative category preferences


class _Merchants(NamedTuple):
    first: Ints  # first merchant id of each category (merchants are sorted by category)
    size: Ints  # merchants per category
    cdf: Floats  # popularity CDF; category c occupies [c, c + 1)
    compromised: Bools


class _Rows(NamedTuple):
    kind: Ints  # _NORMAL, _SPREE or _STOLEN
    user: Ints
    offset_us: Ints  # microseconds since ``start``


def generate_transactions(
    n_rows: int = 200_000,
    *,
    seed: int = 0,
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    days: int = 60,
    n_users: int = 5_000,
    n_merchants: int = 500,
    shift: float = 0.0,
) -> pa.Table:
    """Generate ``n_rows`` card transactions in ``[start, start + days)``, sorted by time.

    The same arguments always give the same table. ``shift`` in [0, 1] moves amounts, channel
    mix and the fraud pattern (see the module docstring); generate "later days" with a later
    ``start`` and a larger ``shift``. Ids read ``tx-<seed>-<start date>-<row number>``, so
    tables with another seed or start do not collide. Besides the transaction itself, each row
    carries the card's ``home_country`` (as an issuer would know it), from which
    :func:`add_features` derives ``is_foreign``.

    Example:
        >>> table = generate_transactions(1_000, seed=1)
        >>> table.num_rows, table.column_names[:2]
        (1000, ['transaction_id', 'event_timestamp'])
    """
    _check_arguments(n_rows, start, days, n_users, n_merchants, shift)
    rng = np.random.default_rng(seed)
    start_us = (start - _EPOCH) // timedelta(microseconds=1)
    users = _make_users(rng, n_users)
    merchants = _make_merchants(rng, n_merchants)
    rows = _make_rows(rng, n_rows, users, start_us, days, shift)
    stolen = rows.kind == _STOLEN
    category = _pick_categories(rng, rows, users, shift)
    merchant = _pick_merchants(rng, category, merchants)
    channel = _pick_channels(rng, category, stolen, shift)
    online = channel == CHANNELS.index("online")
    home = users.home[rows.user]
    foreign = _pick_foreign(rng, category, online, rows.kind, shift)
    country = np.where(
        foreign, (home + rng.integers(1, len(_COUNTRIES), n_rows)) % len(_COUNTRIES), home
    )
    surprise = _amount_surprise(rng, rows.kind, shift)
    log_amount = np.log(users.scale[rows.user] * _CAT_MEDIAN[category]) + _AMOUNT_SIGMA * surprise
    amount = np.round(np.maximum(np.exp(log_amount) * (1.0 + 0.5 * shift), 0.5), 2)
    hour = (start_us + rows.offset_us) // _HOUR_US % 24
    relative = log_amount - users.typical[rows.user]  # vs what the user usually spends
    risk = _hidden_risk(category, hour, foreign, online, relative, shift)
    risk += 2.0 * merchants.compromised[merchant] + rng.normal(0.0, 1.2, n_rows)
    fraud = _draw_labels(rng, risk, stolen)
    columns = {
        "event_timestamp": start_us + rows.offset_us,
        "user_id": rows.user,
        "merchant_id": merchant,
        "merchant_category": category,
        "amount": amount,
        "country": country,
        "home_country": home,
        "channel": channel,
        "is_fraud": fraud,
    }
    return _to_table(columns, seed, start)


def _check_arguments(
    n_rows: int, start: datetime, days: int, n_users: int, n_merchants: int, shift: float
) -> None:
    if n_rows < 1 or days < 1 or n_users < 1:
        raise ValidationError(
            f"n_rows, days and n_users must be positive, not {n_rows}, {days}, {n_users}"
        )
    if n_merchants < len(CATEGORIES):
        raise ValidationError(f"n_merchants must be at least {len(CATEGORIES)}, not {n_merchants}")
    if start.tzinfo is None:
        raise ValidationError("start must be timezone-aware, e.g. datetime(..., tzinfo=UTC)")
    if not 0.0 <= shift <= 1.0:
        raise ValidationError(f"shift must lie in [0, 1], not {shift}")


def _make_users(rng: np.random.Generator, n_users: int) -> _Users:
    activity = rng.lognormal(0.0, 1.0, n_users)
    home = rng.choice(len(_COUNTRIES), n_users, p=_HOME_SHARE)
    scale = rng.lognormal(0.0, 0.45, n_users)
    preference = _CAT_SHARE * rng.gamma(1.5, size=(n_users, len(CATEGORIES)))
    share = preference / preference.sum(axis=1, keepdims=True)
    typical = np.log(scale) + share @ np.log(_CAT_MEDIAN)
    cdf = np.cumsum(share, axis=1)
    return _Users(activity / activity.sum(), home, scale, typical, cdf)


def _make_merchants(rng: np.random.Generator, n_merchants: int) -> _Merchants:
    n_cat = len(CATEGORIES)
    extra = rng.choice(n_cat, n_merchants - n_cat, p=_CAT_SHARE)
    count = np.bincount(np.concatenate([np.arange(n_cat), extra]), minlength=n_cat)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    category = np.repeat(np.arange(n_cat), count)
    popularity = rng.pareto(1.5, n_merchants) + 1.0
    cdf = np.cumsum(popularity)
    before = np.concatenate([[0.0], cdf])[first]  # popularity of earlier categories
    total = np.add.reduceat(popularity, first)
    cdf = category + (cdf - before[category]) / total[category]
    compromised = rng.random(n_merchants) < _COMPROMISED_SHARE
    return _Merchants(first.astype(np.int64), count.astype(np.int64), cdf, compromised)


def _make_rows(
    rng: np.random.Generator, n_rows: int, users: _Users, start_us: int, days: int, shift: float
) -> _Rows:
    """Who transacts when: independent rows, harmless sprees and stolen-card sessions."""
    spree = _session_lengths(rng, round(n_rows * _SESSION_SHARE))
    stolen = _session_lengths(rng, round(n_rows * _SESSION_SHARE))
    n_normal = n_rows - int(spree.sum()) - int(stolen.sum())
    window_us = days * _DAY_US
    fraud_hours = (1.0 - shift) * _FRAUD_HOURS / _FRAUD_HOURS.sum()
    fraud_hours += shift * _LEGIT_HOURS / _LEGIT_HOURS.sum()
    normal_user = rng.choice(len(users.activity), n_normal, p=users.activity)
    normal_time = _times(rng, n_normal, _LEGIT_HOURS, start_us, days)
    parts = [(np.full(n_normal, _NORMAL), normal_user, normal_time)]
    for session_kind, lengths, hours, gap_minutes in (
        (_SPREE, spree, _LEGIT_HOURS, 8.0),
        (_STOLEN, stolen, fraud_hours, 3.0),
    ):
        session_user = rng.choice(len(users.activity), len(lengths), p=users.activity)
        session_time = _times(rng, len(lengths), hours, start_us, days)
        within = _session_offsets(rng, lengths, gap_minutes)
        time = np.minimum(np.repeat(session_time, lengths) + within, window_us - 1)
        parts.append((np.full(len(time), session_kind), np.repeat(session_user, lengths), time))
    kind, user, offset = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.argsort(offset, kind="stable")
    return _Rows(kind[order], user[order], offset[order])


def _session_lengths(rng: np.random.Generator, n_rows: int) -> Ints:
    """Session lengths of 2-7 transactions adding up to at most ``n_rows``."""
    lengths = rng.integers(2, 8, n_rows // 2 + 1)
    return lengths[: np.searchsorted(np.cumsum(lengths), n_rows, side="right")]


def _session_offsets(rng: np.random.Generator, lengths: Ints, gap_minutes: float) -> Ints:
    """Microseconds from each session's start to each of its transactions."""
    gaps = rng.exponential(gap_minutes * 60e6, int(lengths.sum())).astype(np.int64)
    starts = np.cumsum(lengths) - lengths
    gaps[starts] = 0
    elapsed: Ints = np.cumsum(gaps)
    session_start: Ints = np.repeat(elapsed[starts], lengths)
    return elapsed - session_start


def _times(
    rng: np.random.Generator, n: int, hour_weights: Floats, start_us: int, days: int
) -> Ints:
    """Microseconds since ``start``: weekends busier, hours drawn from ``hour_weights``."""
    first_day = start_us // _DAY_US
    weekday = (first_day + np.arange(days + 1) + 3) % 7  # 1970-01-01 was a Thursday
    day_weights = np.where(weekday >= 5, 1.2, np.where(weekday == 4, 1.1, 1.0))
    day = rng.choice(days + 1, n, p=day_weights / day_weights.sum())
    hour = rng.choice(24, n, p=hour_weights / hour_weights.sum())
    within_hour = rng.integers(0, _HOUR_US, n)
    since_midnight: Ints = day * _DAY_US + hour * _HOUR_US + within_hour
    # Wrapping by whole days keeps the hour pattern whatever time of day ``start`` is.
    return (since_midnight - start_us % _DAY_US) % (days * _DAY_US)


def _pick(rng: np.random.Generator, cdf: Floats) -> Ints:
    """One index per row of a (rows, options) cumulative-probability matrix."""
    u = rng.random(len(cdf))
    picked: Ints = (u[:, None] >= cdf).sum(axis=1)
    return np.asarray(np.minimum(picked, cdf.shape[1] - 1), dtype=np.int64)


def _pick_categories(rng: np.random.Generator, rows: _Rows, users: _Users, shift: float) -> Ints:
    fraud_cdf = np.cumsum((1.0 - shift) * _FRAUD_CAT_0 + shift * _FRAUD_CAT_1)
    stolen = (rows.kind == _STOLEN)[:, None]
    return _pick(rng, np.where(stolen, fraud_cdf / fraud_cdf[-1], users.category_cdf[rows.user]))


def _pick_merchants(rng: np.random.Generator, category: Ints, merchants: _Merchants) -> Ints:
    """A merchant of the row's category, popular merchants more often."""
    index = np.searchsorted(merchants.cdf, category + rng.random(len(category)), side="right")
    first = merchants.first[category]
    return np.clip(index, first, first + merchants.size[category] - 1)


def _pick_channels(rng: np.random.Generator, category: Ints, stolen: Bools, shift: float) -> Ints:
    """Channel from the category's mix; ``shift`` moves half the rest online."""
    probabilities = _CAT_CHANNEL.copy()
    moved = 0.5 * shift * probabilities[:, [0, 2]]
    probabilities[:, [0, 2]] -= moved
    probabilities[:, 1] += moved.sum(axis=1)
    cdf = np.cumsum(probabilities, axis=1)[category]
    online_first = np.array([0.0, 1.0, 1.0])  # stolen cards are used online before the drift
    use_online = stolen & (rng.random(len(category)) < 0.6 * (1.0 - shift))
    return _pick(rng, np.where(use_online[:, None], online_first, cdf))


def _pick_foreign(
    rng: np.random.Generator, category: Ints, online: Bools, kind: Ints, shift: float
) -> Bools:
    p = _CAT_FOREIGN[category] + 0.05 * online
    p = np.where(kind == _SPREE, 0.01, p)
    p = np.where(kind == _STOLEN, 0.55 * (1.0 - 0.7 * shift), p)
    return rng.random(len(category)) < p


def _amount_surprise(rng: np.random.Generator, kind: Ints, shift: float) -> Floats:
    """Standard-normal-ish log-amount deviation from what is usual for user and category."""
    surprise = rng.standard_normal(len(kind))
    surprise = np.where(kind == _SPREE, surprise + 0.3, surprise)
    stolen_mean = 1.3 * (1.0 - shift) - 1.2 * shift  # big buys, later small card tests
    return np.where(kind == _STOLEN, stolen_mean + 0.8 * surprise, surprise)


def _hidden_risk(
    category: Ints, hour: Ints, foreign: Bools, online: Bools, relative: Floats, shift: float
) -> Floats:
    """Fraud log-odds, up to an intercept, of a row that is not a stolen-card session.

    ``relative`` is the log amount minus the log of the user's typical amount.
    """
    night = (hour >= 22) | (hour < 6)  # wider than the is_night feature
    around_3am = np.cos(2.0 * np.pi * (hour - 3.0) / 24.0)
    large = np.maximum(relative - 1.2, 0.0) * np.where(_CAT_RISK_0[category] > 0, 2.0, 0.3)
    tiny = (relative < -1.0) & online  # card testing: a tiny online payment
    keep = 1.0 - 0.6 * shift  # how much of the original pattern survives the drift
    risk = ((1.0 - shift) * _CAT_RISK_0 + shift * _CAT_RISK_1)[category] * (0.4 + online)
    # Abroad in person is a traveller (chip and PIN, safer than at home); abroad online is not.
    risk += keep * (-0.6 * foreign - 0.3 * online + 3.2 * (foreign & online))
    risk += keep * (1.6 * around_3am + 2.5 * (night & (relative > 0.5)) + large + 3.0 * tiny)
    return risk + 1.5 * shift * np.maximum(-relative - 1.0, 0.0)


def _draw_labels(rng: np.random.Generator, risk: Floats, stolen: Bools) -> npt.NDArray[np.int8]:
    """Labels with an intercept solved so the expected positive rate is ``_FRAUD_RATE``."""
    wanted = max(_FRAUD_RATE * len(risk) - _SESSION_FRAUD * stolen.sum(), 1e-3)
    free = risk[~stolen]
    low, high = -30.0, 10.0
    for _ in range(30):  # bisection: the expected count grows with the intercept
        middle = (low + high) / 2.0
        if (1.0 / (1.0 + np.exp(-(free + middle)))).sum() > wanted:
            high = middle
        else:
            low = middle
    p = np.where(stolen, _SESSION_FRAUD, 1.0 / (1.0 + np.exp(-(risk + low))))
    return (rng.random(len(risk)) < p).astype(np.int8)


def _to_table(columns: dict[str, npt.NDArray[np.generic]], seed: int, start: datetime) -> pa.Table:
    n_rows = len(columns["event_timestamp"])
    number = pc.utf8_lpad(pa.array(np.arange(n_rows)).cast(pa.string()), width=7, padding="0")
    prefix = f"tx-{seed}-{start.astimezone(UTC):%Y%m%d}-"
    countries = pa.array(_COUNTRIES)
    return pa.table(
        {
            "transaction_id": pc.binary_join_element_wise(prefix, number, ""),
            "event_timestamp": pa.array(
                columns["event_timestamp"], type=pa.timestamp("us", tz="UTC")
            ),
            "user_id": pa.array(columns["user_id"], type=pa.int64()),
            "merchant_id": pa.array(columns["merchant_id"], type=pa.int64()),
            "merchant_category": pa.array(CATEGORIES).take(columns["merchant_category"]),
            "amount": pa.array(columns["amount"], type=pa.float64()),
            "country": countries.take(columns["country"]),
            "home_country": countries.take(columns["home_country"]),
            "channel": pa.array(CHANNELS).take(columns["channel"]),
            "is_fraud": pa.array(columns["is_fraud"], type=pa.int8()),
        }
    )


def add_features(table: pa.Table) -> pa.Table:
    """Append the :data:`FEATURES` columns, point-in-time correct (no look-ahead).

    Per-user features use only the user's *prior* transactions (earlier in time; equal
    timestamps are ordered by row). ``amount_vs_user_geomean`` divides the amount by the
    geometric mean of the user's prior amounts (it estimates a log-normal's median, and unlike
    an expanding median it is a cumulative sum); 1.0 for a user's first transaction.
    Category and channel become integer codes over the fixed :data:`CATEGORIES` and
    :data:`CHANNELS` (-1 if unknown), so the codes mean the same in training and serving;
    trees split them directly, a linear model should one-hot encode them. ``is_foreign``
    compares ``country`` with ``home_country`` (unknown counts as domestic). Columns of the
    same names already in ``table`` are replaced.
    """
    table = table.drop_columns([name for name in FEATURES if name in table.column_names])
    time_us = _int64(table.column("event_timestamp").cast(pa.timestamp("us", tz="UTC")))
    hour = time_us // _HOUR_US % 24
    amount = table.column("amount").to_numpy().astype(np.float64)
    user = _int64(table.column("user_id"))
    ratio, recent = _user_history(user, time_us, np.log(np.maximum(amount, 0.01)))
    foreign = pc.not_equal(table.column("country"), table.column("home_country"))
    features: dict[str, pa.Array] = {
        "hour": pa.array(hour, type=pa.int8()),
        "is_night": pa.array(hour < 6, type=pa.bool_()).cast(pa.int8()),
        "is_foreign": pc.fill_null(foreign, False).cast(pa.int8()),
        "log_amount": pa.array(np.log1p(np.maximum(amount, 0.0))),
        "amount_vs_user_geomean": pa.array(ratio),
        "user_txn_count_1h": pa.array(recent),
        "merchant_category_code": _codes(table.column("merchant_category"), CATEGORIES),
        "channel_code": _codes(table.column("channel"), CHANNELS),
    }
    for name in FEATURES:
        table = table.append_column(name, features[name])
    return table


def _int64(column: pa.ChunkedArray) -> Ints:
    return np.asarray(column.cast(pa.int64()).to_numpy(), dtype=np.int64)


def _codes(column: pa.ChunkedArray, vocabulary: tuple[str, ...]) -> pa.Array:
    codes = pc.index_in(column, value_set=pa.array(vocabulary))
    return pc.fill_null(codes, -1).cast(pa.int8()).combine_chunks()


def _user_history(user: Ints, time_us: Ints, log_amount: Floats) -> tuple[Floats, Ints]:
    """Amount over the prior geometric mean, and prior transactions in the last hour."""
    order = np.lexsort((np.arange(len(user)), time_us, user))
    user_s, time_s, log_s = user[order], time_us[order], log_amount[order]
    by_user = pd.Series(log_s).groupby(user_s, sort=False)
    prior_n = by_user.cumcount().to_numpy()
    prior_sum = by_user.cumsum().to_numpy() - log_s  # per-user sums: exact across users
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_s = np.where(prior_n > 0, np.exp(log_s - prior_sum / prior_n), 1.0)
    # Gaps capped just above an hour, and a capped gap at each new user, make one increasing
    # key in which "within the hour, same user" is a key range, without int64 overflow.
    gap = np.minimum(np.diff(time_s, prepend=time_s[:1]), _HOUR_US + 1)
    gap[np.flatnonzero(np.diff(user_s, prepend=user_s[:1] - 1))] = _HOUR_US + 1
    key = np.cumsum(gap)
    recent_s = np.arange(len(key)) - np.searchsorted(key, key - _HOUR_US, side="left")
    ratio, recent = np.empty_like(ratio_s), np.empty_like(recent_s)
    ratio[order], recent[order] = ratio_s, recent_s
    return ratio, recent.astype(np.int64)


def time_split(table: pa.Table, holdout_fraction: float = 0.2) -> tuple[pa.Table, pa.Table]:
    """Split into (earlier, later) by ``event_timestamp``; the later part is the holdout.

    Rows at the cut-off instant all go to the holdout, so no training row shares a
    timestamp with it. Both parts come back sorted by time.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValidationError(f"holdout_fraction must lie in (0, 1), not {holdout_fraction}")
    if table.num_rows < 2:
        raise ValidationError(f"cannot split a table of {table.num_rows} rows")
    time_us = _int64(table.column("event_timestamp"))
    order = np.argsort(time_us, kind="stable")
    n_holdout = min(max(round(table.num_rows * holdout_fraction), 1), table.num_rows - 1)
    cutoff = time_us[order[table.num_rows - n_holdout]]
    earlier = time_us[order] < cutoff
    return table.take(order[earlier]), table.take(order[~earlier])
