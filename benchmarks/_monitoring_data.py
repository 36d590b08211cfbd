"""The seeded data of the drift benchmark, shared by modelyard's side and Evidently's.

It needs NumPy only, so both virtualenvs import it. :func:`make` returns a reference and a
current window of the same size as plain column dicts (NumPy arrays; text as ``object``
arrays of ``str``; Python ``bool`` as ``bool``): 25 columns of every kind the drift methods
tell apart. Names say what changed: ``*_same`` columns are drawn from the same distribution
on both sides, ``*_shift`` ones are not (:data:`SHIFTED`).

- continuous numbers (float and wide integers): KS at 1000 rows or fewer, else Wasserstein;
- numbers with 2 or 4 values: Z-test / chi-square, else Jensen-Shannon;
- integers with 8 values, text with 3 to 13 values, booleans: categories (Evidently treats
  integer columns with at most 10 values as categorical).

Run it to print a summary: ``python benchmarks/_monitoring_data.py --rows 500``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import numpy as np

Columns = dict[str, np.ndarray[Any, Any]]
Draw = Callable[[np.random.Generator, int, bool], np.ndarray[Any, Any]]

COLORS = np.array(["red", "green", "blue", "black"], dtype=object)
COUNTRIES = np.array(
    ["US", "DE", "FR", "GB", "IN", "BR", "JP", "CA", "ES", "IT", "NL", "SE", "MX"], dtype=object
)
DEVICES = np.array(["ios", "android", "web"], dtype=object)
PLANS = np.array(["free", "basic", "plus", "pro", "team"], dtype=object)


def _normal(shift: float = 0.0, scale: float = 1.0) -> Draw:
    def draw(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
        return rng.normal(shift if current else 0.0, scale if current else 1.0, n)

    return draw


def _choice(values: np.ndarray[Any, Any], before: list[float], after: list[float]) -> Draw:
    def draw(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
        p = np.asarray(after if current else before, dtype=np.float64)
        return values[rng.choice(len(values), size=n, p=p / p.sum())]

    return draw


def _lognormal(rng: np.random.Generator, n: int, _current: bool) -> np.ndarray[Any, Any]:
    return rng.lognormal(3.0, 0.8, n)


def _lognormal_shift(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
    return rng.lognormal(3.4 if current else 3.0, 0.8, n)


def _uniform(shift: float) -> Draw:
    def draw(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
        low = shift if current else 0.0
        return rng.uniform(low, low + 100.0, n)

    return draw


def _exponential(scale_after: float) -> Draw:
    def draw(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
        return rng.exponential(scale_after if current else 2.0, n)

    return draw


def _integers(shift: int) -> Draw:
    def draw(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
        low = shift if current else 0
        return rng.integers(low, low + 1000, n, dtype=np.int64)

    return draw


def _amount(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
    return rng.normal(106.0 if current else 100.0, 15.0, n)


def _gamma(rng: np.random.Generator, n: int, _current: bool) -> np.ndarray[Any, Any]:
    return rng.gamma(2.0, 2.0, n)


def _children(rng: np.random.Generator, n: int, _current: bool) -> np.ndarray[Any, Any]:
    p = np.array([0.3, 0.2, 0.15, 0.12, 0.1, 0.07, 0.04, 0.02])
    return rng.choice(8, size=n, p=p).astype(np.int64)


def _flag(before: float, after: float) -> Draw:
    def draw(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
        return (rng.random(n) < (after if current else before)).astype(np.float64)

    return draw


def _bools(rng: np.random.Generator, n: int, current: bool) -> np.ndarray[Any, Any]:
    return rng.random(n) < (0.62 if current else 0.5)


RATINGS = np.array([1.0, 2.0, 3.0, 4.0])

COLUMNS: dict[str, Draw] = {
    "n_normal_same": _normal(),
    "n_normal_shift": _normal(shift=0.5),
    "n_normal_scale": _normal(scale=1.6),
    "n_lognormal_same": _lognormal,
    "n_lognormal_shift": _lognormal_shift,
    "n_uniform_same": _uniform(0.0),
    "n_uniform_shift": _uniform(20.0),
    "n_exp_same": _exponential(2.0),
    "n_exp_shift": _exponential(3.0),
    "n_gamma_same": _gamma,
    "n_int_wide_same": _integers(0),
    "n_int_wide_shift": _integers(200),
    "n_amount_shift": _amount,
    "f_flag_same": _flag(0.3, 0.3),
    "f_flag_shift": _flag(0.3, 0.45),
    "f_rating_same": _choice(RATINGS, [0.1, 0.2, 0.4, 0.3], [0.1, 0.2, 0.4, 0.3]),
    "f_rating_shift": _choice(RATINGS, [0.1, 0.2, 0.4, 0.3], [0.25, 0.25, 0.3, 0.2]),
    "i_children_same": _children,
    "c_color_same": _choice(COLORS, [0.4, 0.3, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1]),
    "c_color_shift": _choice(COLORS, [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]),
    "c_country_same": _choice(COUNTRIES, [*([1.0] * 12), 0.0], [*([1.0] * 12), 0.0]),
    "c_country_shift": _choice(COUNTRIES, [*([1.0] * 12), 0.0], [*([1.0] * 12), 4.0]),
    "c_device_same": _choice(DEVICES, [0.5, 0.3, 0.2], [0.5, 0.3, 0.2]),
    "c_plan_same": _choice(PLANS, [0.4, 0.25, 0.15, 0.12, 0.08], [0.4, 0.25, 0.15, 0.12, 0.08]),
    "b_active_shift": _bools,
}
SHIFTED = tuple(name for name in COLUMNS if name.endswith("_shift") or name.endswith("_scale"))


def make(rows: int, seed: int = 0, current_rows: int | None = None) -> tuple[Columns, Columns]:
    """The reference and current columns: ``rows`` and ``current_rows`` (default ``rows``)."""
    rng = np.random.default_rng(seed)
    reference = {name: draw(rng, rows, False) for name, draw in COLUMNS.items()}
    size = rows if current_rows is None else current_rows
    current = {name: draw(rng, size, True) for name, draw in COLUMNS.items()}
    return reference, current


def unchanged_categories(columns: int, rows: int, seed: int = 0) -> tuple[Columns, Columns]:
    """``columns`` text columns of 4 categories drawn alike on both sides (for the false
    alarm rate of the chi-square tests)."""
    rng = np.random.default_rng(seed)
    p = np.array([0.4, 0.3, 0.2, 0.1])

    def draw() -> np.ndarray[Any, Any]:
        return COLORS[rng.choice(4, size=rows, p=p)]

    reference = {f"c{i}": draw() for i in range(columns)}
    current = {f"c{i}": draw() for i in range(columns)}
    return reference, current


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    reference, current = make(args.rows, args.seed)
    summary = {
        name: {
            "dtype": str(values.dtype),
            "reference_unique": len(np.unique(values)),
            "current_unique": len(np.unique(current[name])),
            "shifted": name in SHIFTED,
        }
        for name, values in reference.items()
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
